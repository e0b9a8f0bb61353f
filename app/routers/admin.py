"""Platform administration: provision tenants and their API keys (admin token)."""

from __future__ import annotations

import uuid

from fastapi import Depends, Request, Response, status

from app.core.auth import AdminAuth
from app.core.deps import Session
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, build_page, page_params
from app.routers.base import api_router
from app.schemas.tenants import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    TenantCreate,
    TenantCreated,
    TenantRead,
)
from app.services import tenants as service

router = api_router(scoped=False, prefix="/v1/admin", tags=["admin"], dependencies=[AdminAuth])


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    operation_id="admin_create_tenant",
    summary="Create a tenant",
)
async def create_tenant(body: TenantCreate, session: Session) -> TenantCreated:
    """Create a tenant and its first API key (all scopes). The key is shown only in this
    response."""
    tenant = await service.create(session, body.name, body.metadata)
    key, secret = await service.create_api_key(
        session, tenant.id, "default", ["read", "write", "webhooks"]
    )
    api_key = ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), secret=secret)
    read = TenantRead.model_validate(tenant)
    # `metadata` is read from the attribute `metadata_` (its validation alias).
    return TenantCreated.model_validate(
        {**read.model_dump(), "metadata_": read.metadata, "api_key": api_key}
    )


@router.get("/tenants", operation_id="admin_list_tenants", summary="List tenants")
async def list_tenants(
    request: Request,
    response: Response,
    session: Session,
    params: PageParams = Depends(page_params),
) -> Page[TenantRead]:
    """All tenants, newest first."""
    rows = await service.list_tenants(session, params)
    items = [TenantRead.model_validate(t) for t in rows]
    return build_page(rows, params, items, request, response)


@router.post(
    "/tenants/{tenant_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    operation_id="admin_create_api_key",
    summary="Create an API key",
    responses=problem_responses(404),
)
async def create_api_key(
    tenant_id: uuid.UUID, body: ApiKeyCreate, session: Session
) -> ApiKeyCreated:
    """Issue a new key for a tenant with the given scopes. The secret is shown only once."""
    key, secret = await service.create_api_key(session, tenant_id, body.name, body.scopes)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), secret=secret)


@router.delete(
    "/api-keys/{key_id}",
    operation_id="admin_revoke_api_key",
    summary="Revoke an API key",
    responses=problem_responses(404),
)
async def revoke_api_key(key_id: uuid.UUID, request: Request, session: Session) -> ApiKeyRead:
    """Revoke a key at once; requests with it then answer 401. Revoking twice is harmless."""
    key = await service.revoke_api_key(session, key_id)
    request.app.state.key_cache.clear()
    return ApiKeyRead.model_validate(key)
