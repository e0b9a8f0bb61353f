"""``Idempotency-Key`` on POST: replay the first response, refuse reuse and races.

The key is scoped to the tenant. A transaction-level advisory lock on
(tenant, key) turns a concurrent duplicate into a 409 instead of a second
write; the stored record is written in the same transaction as the effect.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response

from app.core.auth import CurrentPrincipal
from app.core.db import RequestDb
from app.core.errors import IdempotencyInProgress, IdempotencyKeyReused
from app.models.base import utcnow

REPLAY_HEADERS = ("content-type", "etag", "location")


class Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _request_hash(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.url.path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


async def check_idempotency(
    request: Request,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retry-safe key: a repeat with the same key and body replays the "
            "first response instead of acting twice.",
        ),
    ] = None,
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
        raise Replay(
            Response(
                content=record["response_body"],
                status_code=record["status_code"],
                headers=headers,
            )
        )
    request.state.idempotency = (principal.tenant_id, idempotency_key, request_hash)


Idempotent = Depends(check_idempotency)


async def remember(db: RequestDb, request: Request, response: Response) -> None:
    pending: tuple[uuid.UUID, str, str] | None = getattr(request.state, "idempotency", None)
    if pending is None:
        return
    tenant_id, key, request_hash = pending
    headers: dict[str, Any] = {
        k: v for k, v in response.headers.items() if k.lower() in REPLAY_HEADERS
    }
    raw = await db.begin()
    await raw.execute(
        "INSERT INTO idempotency_records (tenant_id, key, request_hash, status_code, "
        "response_body, response_headers, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        tenant_id,
        key,
        request_hash,
        response.status_code,
        bytes(response.body),
        json.dumps(headers),
        utcnow(),
    )
