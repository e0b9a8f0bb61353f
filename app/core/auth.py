"""Bearer API keys with scopes, and the platform admin token."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.db import RequestDb
from app.core.deps import AppSettings
from app.core.errors import (
    Forbidden,
    NotPermitted,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from app.core.keycache import KeyCache, KeyEntry, Principal
from app.core.ratelimit import RateLimits
from app.core.security import KEY_PREFIX, SESSION_PREFIX, hash_api_key
from app.models.base import utcnow

__all__ = [
    "CurrentPrincipal",
    "PlatformPrincipal",
    "PlatformReadKey",
    "PlatformWriteKey",
    "Principal",
    "ReadKey",
    "WebhooksKey",
    "WriteKey",
]

admin_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="The platform admin token (`CCAPI_ADMIN_TOKEN`).",
)

LAST_USED_RESOLUTION = timedelta(seconds=60)

AUTH_FAILURES_DETAIL = "Too many failed authentication attempts from this address"

KEY_SQL = (
    "SELECT id, tenant_id, scopes, revoked_at, last_used_at FROM api_keys WHERE secret_hash = $1"
)


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The calling key's principal: from the process's key cache, else one lookup.

    Failed attempts count against the client address's limit (``auth_failures``); once it
    is used up, further attempts answer 429 before any lookup. A key's requests count
    against its limit (``requests``). Either way the answer carries ``RateLimit`` headers
    (``request.state.rate_limit_headers``, added by the middleware)."""
    state = request.state
    known: Principal | None = getattr(state, "principal", None)
    if known is not None:  # a second dependency of the same request asking again
        return known
    limits: RateLimits = request.app.state.rate_limits
    address = _address(request)
    refused = limits.auth_failures.refused(address)
    if refused is not None:
        state.rate_limit_headers = refused.headers
        raise RateLimited(refused.reset, AUTH_FAILURES_DETAIL)
    db: RequestDb = state.db
    try:
        entry = await _key_entry(request, credentials, db)
    except Unauthorized:
        failure = await limits.auth_failures.acquire(address, db)
        state.rate_limit_headers = failure.headers
        if not failure.allowed:
            raise RateLimited(failure.reset, AUTH_FAILURES_DETAIL) from None
        raise
    principal = entry.principal
    assert principal is not None
    decision = await limits.requests.acquire(str(principal.api_key_id), db)
    state.rate_limit_headers = decision.headers
    if not decision.allowed:
        raise RateLimited(decision.reset)
    last_used = entry.last_used_at
    if last_used is None or utcnow() - last_used > LAST_USED_RESOLUTION:
        state.key_used = entry
    state.principal = principal
    return principal


def _address(request: Request) -> str:
    client = request.client
    return client.host if client is not None else "unknown"


def refuse_blocked_address(request: Request) -> None:
    """429 before any lookup if the client address has used up its failed authentications
    (a route whose credential is a secret in its path: a calendar feed token)."""
    limits: RateLimits = request.app.state.rate_limits
    refused = limits.auth_failures.refused(_address(request))
    if refused is not None:
        request.state.rate_limit_headers = refused.headers
        raise RateLimited(refused.reset, AUTH_FAILURES_DETAIL)


async def count_secret_use(request: Request, known: str | None) -> None:
    """Count a request of a route whose credential is a secret in its path: a known secret
    (``known``, e.g. ``feed:<id>``) against its own ``requests`` limit, an unknown one as a
    failed authentication of the client address (``auth_failures``); 429 once used up."""
    limits: RateLimits = request.app.state.rate_limits
    db: RequestDb = request.state.db
    if known is None:
        decision = await limits.auth_failures.acquire(_address(request), db)
        detail = AUTH_FAILURES_DETAIL
    else:
        decision = await limits.requests.acquire(known, db)
        detail = "Rate limit exceeded"
    request.state.rate_limit_headers = decision.headers
    if not decision.allowed:
        raise RateLimited(decision.reset, detail)


async def _key_entry(
    request: Request, credentials: HTTPAuthorizationCredentials | None, db: RequestDb
) -> KeyEntry:
    """The cached lookup of a valid, unrevoked key (or a live person session);
    ``Unauthorized`` for anything else."""
    if credentials is None:
        raise Unauthorized("Send an API key as `Authorization: Bearer cck_live_…`.")
    secret = credentials.credentials
    if secret.startswith(SESSION_PREFIX) and len(secret) <= 200:
        return await _session_entry(request, secret, db)
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise Unauthorized("The API key is malformed.")
    digest = hash_api_key(secret)
    cache: KeyCache = request.app.state.key_cache
    entry = cache.get(digest)
    if entry is None:
        entry = cache.put(digest, await (await db.raw()).fetchrow(KEY_SQL, digest))
    if entry.principal is None:
        raise Unauthorized("The API key is not valid.")
    if entry.revoked:
        raise Unauthorized("The API key has been revoked.")
    return entry


# One statement: the session, the key that minted it and the tenant's settings.
SESSION_SQL = (
    "SELECT s.id, s.person_id, s.expires_at, s.revoked_at, k.id AS api_key_id, k.tenant_id, "
    "k.revoked_at AS key_revoked_at, k.last_used_at, t.managers_see_reports, t.cors_origins "
    "FROM person_sessions s JOIN api_keys k ON k.id = s.api_key_id "
    "JOIN tenants t ON t.id = k.tenant_id WHERE s.token_hash = $1"
)
# What a person session may do: read and write as its person; never webhooks (and the
# platform-only routes refuse it, since it acts for a person).
SESSION_SCOPES = frozenset({"read", "write"})


async def _session_entry(request: Request, secret: str, db: RequestDb) -> KeyEntry:
    """A live person session's principal: the minting key acting for the session's person.

    Never cached: a revocation (of the session or of its key) and an expiry take effect on
    the next request, in every process. The tenant's CORS allow-list is kept for the
    middleware (``state.cors_origins``), also when the session is refused, so a page of an
    allowed origin can read its 401 and mint a new session."""
    row = await (await db.raw()).fetchrow(SESSION_SQL, hash_api_key(secret))
    if row is None:
        raise Unauthorized("The person session token is not valid.")
    request.state.cors_origins = row["cors_origins"]
    if row["key_revoked_at"] is not None:
        raise Unauthorized("The API key that created this person session has been revoked.")
    if row["revoked_at"] is not None:
        raise Unauthorized("The person session has been revoked; create a new one.")
    if row["expires_at"] <= utcnow():
        raise Unauthorized("The person session has expired; create a new one.")
    principal = Principal(
        tenant_id=row["tenant_id"],
        api_key_id=row["api_key_id"],
        scopes=SESSION_SCOPES,
        person_id=row["person_id"],
        reports=row["managers_see_reports"],
        person_session_id=row["id"],
    )
    return KeyEntry(principal, False, row["last_used_at"], 0.0)


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


ACTING_PERSON = "Acting-Person"
ACTING_PERSON_POINTER = "/header/Acting-Person"

ACTING_SQL = (
    "SELECT t.managers_see_reports FROM people p JOIN tenants t ON t.id = p.tenant_id "
    "WHERE p.id = $1 AND p.tenant_id = $2"
)


async def acting_as(request: Request, principal: Principal) -> Principal:
    """``principal`` acting for the person the ``Acting-Person`` header names (a person of
    its tenant, else 422 naming the header), or unchanged without the header. The lookup
    (the person, and the tenant's ``managers_see_reports``) is cached per process for
    ``ACTING_TTL`` seconds (``KeyCache.acting``): a hot path costs no extra statement."""
    header = request.headers.get("acting-person")
    if header is None:
        return principal
    try:
        person_id = uuid.UUID(header)
    except ValueError:
        raise ValidationFailed.field(
            ACTING_PERSON_POINTER, "Acting-Person must be a person id (a UUID).", "uuid_parsing"
        ) from None
    if principal.person_id is not None:
        if person_id != principal.person_id:
            raise NotPermitted(
                "A person session acts for its own person only; leave out Acting-Person "
                "or name that person."
            )
        return principal
    cache: KeyCache = request.app.state.key_cache
    reports = cache.acting(principal.tenant_id, person_id)
    if reports is None:
        db: RequestDb = request.state.db
        reports = await (await db.raw()).fetchval(ACTING_SQL, person_id, principal.tenant_id)
        if reports is None:
            raise ValidationFailed.field(
                ACTING_PERSON_POINTER,
                f"No person with id {person_id} in this tenant.",
                "unknown_reference",
            )
        cache.put_acting(principal.tenant_id, person_id, reports)
    acting = replace(principal, person_id=person_id, reports=reports)
    request.state.principal = acting
    return acting


class ApiKey(HTTPBearer):
    """The API key dependency, as one callable: the ``ApiKey`` bearer scheme in the OpenAPI
    document (it is a ``SecurityBase``), and reading the header, authenticating, checking
    ``scope`` and resolving ``Acting-Person`` in one call (FastAPI resolves a nested
    dependency per level, at a cost). ``platform_only`` routes (webhooks, tenant settings,
    person sessions, the people directory's writes) refuse a key acting for a person: 403
    ``not_permitted``."""

    def __init__(self, scope: str | None, *, platform_only: bool = False) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="ApiKey",
            description="A tenant API key (`Authorization: Bearer cck_live_…`), or a person "
            "session token (`Bearer ccs_…`) acting for its person.",
        )
        self.scope = scope
        self.platform_only = platform_only

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await acting_as(
            request, await authenticate(request, await super().__call__(request))
        )
        if self.platform_only and principal.person_id is not None:
            raise NotPermitted("Only the platform may do this; it cannot be done as a person.")
        scope, scopes = self.scope, principal.scopes
        if (
            scope is not None
            and scope not in scopes
            and not (scope == "read" and "write" in scopes)
        ):
            raise Forbidden(f"This API key lacks the '{scope}' scope.")
        return principal


CurrentPrincipal = Annotated[Principal, Depends(ApiKey(None))]
ReadKey = Annotated[Principal, Depends(ApiKey("read"))]  # ``write`` includes ``read``
WriteKey = Annotated[Principal, Depends(ApiKey("write"))]
WebhooksKey = Annotated[Principal, Depends(ApiKey("webhooks", platform_only=True))]
# Routes only the platform may call: a key acting for a person is refused (403).
PlatformPrincipal = Annotated[Principal, Depends(ApiKey(None, platform_only=True))]
PlatformReadKey = Annotated[Principal, Depends(ApiKey("read", platform_only=True))]
PlatformWriteKey = Annotated[Principal, Depends(ApiKey("write", platform_only=True))]


async def require_admin(
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(admin_bearer)],
) -> None:
    if credentials is None:
        raise Unauthorized("Send the admin token as `Authorization: Bearer <token>`.")
    if not hmac.compare_digest(credentials.credentials.encode(), settings.admin_token.encode()):
        raise Unauthorized("The admin token is not valid.")


AdminAuth = Depends(require_admin)
