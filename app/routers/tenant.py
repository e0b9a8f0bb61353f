"""The caller's own tenant."""

from __future__ import annotations

from fastapi import Request, Response

from app.core.auth import PlatformPrincipal, PlatformWriteKey
from app.core.deps import Db, Session
from app.core.rows import json_response
from app.routers.base import api_router
from app.schemas.tenants import TenantRead, TenantUpdate
from app.services import tenants as service

router = api_router(prefix="/v1", tags=["tenant"])


@router.get(
    "/tenant",
    operation_id="get_current_tenant",
    summary="Get your tenant",
    response_model=TenantRead,
)
async def get_tenant(principal: PlatformPrincipal, db: Db) -> Response:
    """The tenant the API key belongs to: the smallest authenticated call."""
    return json_response(service.TENANT(await service.fetch(db, principal.tenant_id)))


@router.patch("/tenant", operation_id="update_current_tenant", summary="Update your tenant")
async def update_tenant(
    request: Request, body: TenantUpdate, principal: PlatformWriteKey, session: Session
) -> TenantRead:
    """Rename the tenant, change its metadata, tune when the scheduler sends reminders, who
    sees reports' work, or which browser origins may call the API (`cors_origins`)."""
    # Acting persons cached with the old ``managers_see_reports`` (other processes: 5 s).
    request.app.state.key_cache.forget_acting(principal.tenant_id)
    tenant = await service.get(session, principal.tenant_id)
    changes = body.model_dump(exclude_unset=True)
    if body.settings is not None:
        changes["settings"] = body.settings.model_dump(exclude_unset=True)
    tenant = await service.update(session, tenant, changes)
    # Other processes reload on the NOTIFY the change sends; this one at once.
    request.app.state.allowed_origins.clear()
    return TenantRead.model_validate(tenant)
