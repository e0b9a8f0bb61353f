"""Tenants and their API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from app.core import keycache
from app.core.db import RequestDb
from app.core.errors import NotFound, ValidationFailed
from app.core.pagination import PageParams, keyset
from app.core.rows import Shape
from app.core.security import display_prefix, generate_api_key, hash_api_key
from app.models.api_key import ApiKey
from app.models.base import utcnow
from app.models.tenant import Tenant
from app.schemas.tenants import (
    RETENTION_FIELDS,
    RetentionSettingsUpdate,
    TenantRead,
    TenantSettings,
    TenantSettingsUpdate,
    TenantUpdate,
)
from app.services.common import apply_changes, reject_nulls


async def create(
    session: AsyncSession, name: str, metadata: dict[str, object] | None = None
) -> Tenant:
    tenant = Tenant(name=name, metadata_=dict(metadata or {}))
    session.add(tenant)
    await session.flush()
    return tenant


async def list_tenants(session: AsyncSession, params: PageParams) -> Sequence[Tenant]:
    stmt = keyset(select(Tenant), Tenant.created_at, Tenant.id, params)
    return (await session.scalars(stmt)).all()


_SETTINGS = tuple(name for name in TenantSettings.model_fields if name != "retention")


def _settings(row: Any) -> dict[str, Any]:
    settings = {name: row[name] for name in _SETTINGS}
    settings["retention"] = {name: row[f"retention_{name}"] for name in RETENTION_FIELDS}
    return settings


TENANT = Shape(TenantRead, settings=_settings)


async def fetch(db: RequestDb, tenant_id: uuid.UUID) -> asyncpg.Record:
    """The caller's tenant row, in one statement."""
    row = await (await db.raw()).fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)
    if row is None:
        raise NotFound("No tenant with this id.")
    return row


async def get(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("No tenant with this id.")
    return tenant


async def update(session: AsyncSession, tenant: Tenant, changes: dict[str, Any]) -> Tenant:
    settings = changes.pop("settings", None) or {}
    reject_nulls(changes, TenantUpdate.non_null)
    reject_nulls(settings, TenantSettingsUpdate.non_null)
    retention = settings.pop("retention", None) or {}
    for name in RetentionSettingsUpdate.non_null:
        if name in retention and retention[name] is None:
            raise ValidationFailed.field(
                f"/body/settings/retention/{name}", f"{name} cannot be null.", "null"
            )
    settings.update({f"retention_{name}": value for name, value in retention.items()})
    origins_before = tenant.cors_origins
    if apply_changes(tenant, {**changes, **settings}):
        await session.flush()
        if tenant.cors_origins != origins_before:
            # Every process reloads its allowed origins (preflights) when this commits.
            await session.execute(
                sa.select(sa.func.pg_notify(keycache.CHANNEL, f"tenant:{tenant.id}"))
            )
    return tenant


async def create_api_key(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, scopes: Sequence[str]
) -> tuple[ApiKey, str]:
    """Create a key; return it with its secret, which is never stored."""
    await get(session, tenant_id)
    secret = generate_api_key()
    key = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=display_prefix(secret),
        secret_hash=hash_api_key(secret),
        scopes=sorted(set(scopes)),
    )
    session.add(key)
    await session.flush()
    return key, secret


async def revoke_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("No API key with this id.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        # Every process forgets its cached keys when this commits (app/core/keycache.py).
        await session.execute(sa.select(sa.func.pg_notify(keycache.CHANNEL, str(key.id))))
    return key
