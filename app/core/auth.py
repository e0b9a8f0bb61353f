"""Bearer API keys with scopes, and the platform admin token."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.deps import AppSettings, Session
from app.core.errors import Forbidden, RateLimited, Unauthorized
from app.core.security import KEY_PREFIX, hash_api_key
from app.models.api_key import ApiKey
from app.models.base import utcnow

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A tenant API key: `Authorization: Bearer cck_live_…`.",
)
admin_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="The platform admin token (`CCAPI_ADMIN_TOKEN`).",
)

LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its tenant and what it may do."""

    tenant_id: uuid.UUID
    api_key_id: uuid.UUID
    scopes: frozenset[str]


async def authenticate(
    request: Request,
    session: Session,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("Send an API key as `Authorization: Bearer cck_live_…`.")
    secret = credentials.credentials
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise Unauthorized("The API key is malformed.")
    key = await session.scalar(
        sa.select(ApiKey).where(ApiKey.secret_hash == hash_api_key(secret))  # type: ignore[arg-type]
    )
    if key is None:
        raise Unauthorized("The API key is not valid.")
    if key.revoked_at is not None:
        raise Unauthorized("The API key has been revoked.")
    limiter = request.app.state.rate_limiter
    retry_after = limiter.acquire(str(key.id))
    if retry_after is not None:
        raise RateLimited(retry_after)
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now
        await session.flush()
    principal = Principal(tenant_id=key.tenant_id, api_key_id=key.id, scopes=frozenset(key.scopes))
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_scope(scope: str) -> object:
    """A dependency that admits keys holding ``scope`` (``write`` includes ``read``)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        granted = principal.scopes | ({"read"} if "write" in principal.scopes else set())
        if scope not in granted:
            raise Forbidden(f"This API key lacks the '{scope}' scope.")
        return principal

    return Depends(check)


ReadKey = Annotated[Principal, require_scope("read")]
WriteKey = Annotated[Principal, require_scope("write")]
WebhooksKey = Annotated[Principal, require_scope("webhooks")]


async def require_admin(
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(admin_bearer)],
) -> None:
    if credentials is None:
        raise Unauthorized("Send the admin token as `Authorization: Bearer <token>`.")
    if not hmac.compare_digest(credentials.credentials.encode(), settings.admin_token.encode()):
        raise Unauthorized("The admin token is not valid.")


AdminAuth = Depends(require_admin)
