"""``Idempotency-Key`` on POST: replay the first response, refuse reuse and races.

The key is scoped to the tenant. A transaction-level advisory lock on
(tenant, key) turns a concurrent duplicate into a 409 instead of a second
write; the stored record is written in the same transaction as the effect.

Routes whose response carries a secret (a webhook endpoint's creation and secret rotation)
use ``SealedIdempotent``: their stored body is sealed (AES-GCM under ``CCAPI_SECRET_KEY``,
bound to the tenant and key, app/core/sealing.py) and opened again to replay, so the
record never holds the secret in plain text. A replay answers the same bytes either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response

from app.core.auth import CurrentPrincipal
from app.core.db import RequestDb
from app.core.errors import Conflict, IdempotencyInProgress, IdempotencyKeyReused
from app.core.sealing import VERSION, SealError, idempotency_context
from app.models.base import utcnow

log = logging.getLogger(__name__)

REPLAY_HEADERS = ("content-type", "etag", "location")
# A sealed body starts with this; a JSON body (or an empty one) never does.
SEALED_PREFIX = (VERSION + ".").encode()

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retry-safe key: a repeat with the same key and body replays the "
        "first response instead of acting twice.",
    ),
]


class Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _request_hash(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.url.path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


async def check_idempotency(
    request: Request, principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None
) -> None:
    if idempotency_key is None:
        return
    db: RequestDb = request.state.db
    body = await request.body()
    request_hash = _request_hash(request, body)
    raw = await db.begin()
    # One statement takes the lock and reads the record. Its snapshot predates the lock: a
    # duplicate committing in between is not seen here, and then its record makes this
    # request's own insert (``remember``) fail as a conflict (409): never a second effect.
    row = await raw.fetchrow(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked, r.request_hash, "
        "r.status_code, r.response_body, r.response_headers FROM (SELECT) AS one LEFT JOIN "
        "idempotency_records r ON r.tenant_id = $2 AND r.key = $3",
        f"idem:{principal.tenant_id}:{idempotency_key}",
        principal.tenant_id,
        idempotency_key,
    )
    assert row is not None
    if not row["locked"]:
        raise IdempotencyInProgress(
            "Another request with this Idempotency-Key is still being processed; retry later."
        )
    record = row if row["status_code"] is not None else None
    if record is not None:
        if record["request_hash"] != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request; use a new key."
            )
        headers = {k: str(v) for k, v in record["response_headers"].items()}
        headers["Idempotent-Replayed"] = "true"
        content: bytes = record["response_body"]
        if content.startswith(SEALED_PREFIX):
            keyring = request.app.state.settings.keyring
            context = idempotency_context(principal.tenant_id, idempotency_key)
            try:
                content = keyring.open(content.decode(), context)
            except SealError as exc:
                log.error("sealed idempotent response does not open", extra={"reason": str(exc)})
                raise Conflict(
                    "The first response to this Idempotency-Key can no longer be replayed "
                    "(the server key that sealed it was retired). Check whether the first "
                    "request took effect, then use a new key."
                ) from exc
        raise Replay(
            Response(
                content=content,
                status_code=record["status_code"],
                headers=headers,
            )
        )
    request.state.idempotency = (principal.tenant_id, idempotency_key, request_hash)


Idempotent = Depends(check_idempotency)


async def check_sealed_idempotency(
    request: Request, principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None
) -> None:
    """``check_idempotency`` for a response that carries a secret: stored sealed."""
    await check_idempotency(request, principal, idempotency_key)
    request.state.idempotency_sealed = True


SealedIdempotent = Depends(check_sealed_idempotency)


async def remember(db: RequestDb, request: Request, response: Response) -> None:
    pending: tuple[uuid.UUID, str, str] | None = getattr(request.state, "idempotency", None)
    if pending is None:
        return
    tenant_id, key, request_hash = pending
    headers: dict[str, Any] = {
        k: v for k, v in response.headers.items() if k.lower() in REPLAY_HEADERS
    }
    body = bytes(response.body)
    if getattr(request.state, "idempotency_sealed", False):
        keyring = request.app.state.settings.keyring
        body = keyring.seal(body, idempotency_context(tenant_id, key)).encode()
    raw = await db.begin()
    await raw.execute(
        "INSERT INTO idempotency_records (tenant_id, key, request_hash, status_code, "
        "response_body, response_headers, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        tenant_id,
        key,
        request_hash,
        response.status_code,
        body,
        json.dumps(headers),
        utcnow(),
    )
