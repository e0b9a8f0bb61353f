"""The caller's own tenant."""

from __future__ import annotations

from app.core.auth import CurrentPrincipal
from app.core.deps import Session
from app.routers.base import api_router
from app.schemas.tenants import TenantRead
from app.services import tenants as service

router = api_router(prefix="/v1", tags=["tenant"])


@router.get("/tenant", operation_id="get_current_tenant", summary="Get your tenant")
async def get_tenant(principal: CurrentPrincipal, session: Session) -> TenantRead:
    """The tenant the API key belongs to: the smallest authenticated call."""
    return TenantRead.model_validate(await service.get_tenant(session, principal.tenant_id))
