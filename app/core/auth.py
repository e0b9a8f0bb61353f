"""Bearer API keys with scopes, and the platform admin token."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.db import RequestDb
from app.core.deps import AppSettings
from app.core.errors import Forbidden, RateLimited, Unauthorized
from app.core.keycache import KeyCache, KeyEntry, Principal
from app.core.security import KEY_PREFIX, hash_api_key
from app.models.base import utcnow

__all__ = ["CurrentPrincipal", "Principal", "ReadKey", "WebhooksKey", "WriteKey"]

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

KEY_SQL = (
    "SELECT id, tenant_id, scopes, revoked_at, last_used_at FROM api_keys WHERE secret_hash = $1"
)


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """The calling key's principal: from the process's key cache, else one lookup."""
    state = request.state
    known: Principal | None = getattr(state, "principal", None)
    if known is not None:  # a second dependency of the same request asking again
        return known
    if credentials is None:
        raise Unauthorized("Send an API key as `Authorization: Bearer cck_live_…`.")
    secret = credentials.credentials
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise Unauthorized("The API key is malformed.")
    digest = hash_api_key(secret)
    cache: KeyCache = request.app.state.key_cache
    entry = cache.get(digest)
    if entry is None:
        db: RequestDb = state.db
        entry = cache.put(digest, await (await db.raw()).fetchrow(KEY_SQL, digest))
    principal = entry.principal
    if principal is None:
        raise Unauthorized("The API key is not valid.")
    if entry.revoked:
        raise Unauthorized("The API key has been revoked.")
    retry_after = request.app.state.rate_limiter.acquire(principal.api_key_id)
    if retry_after is not None:
        raise RateLimited(retry_after)
    last_used = entry.last_used_at
    if last_used is None or utcnow() - last_used > LAST_USED_RESOLUTION:
        state.key_used = entry
    state.principal = principal
    return principal


async def record_use(request: Request, db: RequestDb) -> None:
    """Stamp the key's ``last_used_at`` (at most once a minute) after a successful request."""
    entry: KeyEntry | None = getattr(request.state, "key_used", None)
    if entry is None or entry.principal is None:
        return
    now = utcnow()
    await (await db.raw()).execute(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1", entry.principal.api_key_id, now
    )
    entry.last_used_at = now


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_scope(scope: str) -> Any:
    """A dependency that admits keys holding ``scope`` (``write`` includes ``read``)."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        principal = await authenticate(request, credentials)
        scopes = principal.scopes
        if scope not in scopes and not (scope == "read" and "write" in scopes):
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
