"""A disciplined FastAPI app on the ``conversations`` table: the yardstick for what the
framework itself costs, with the habits a fast service would keep.

- one bearer-key dependency, answered from an in-process dict (the key's hash is looked up
  in ``api_keys`` once, then cached);
- a pydantic body model for POST, ``Query`` validation for the list;
- an ``X-Request-ID`` response header (pure ASGI middleware);
- asyncpg directly (no ORM), one query per request, no explicit transaction;
- bodies built from the rows with orjson and returned as ``Response(content=…)``: no
  ``response_model``, no pydantic serialisation.

    .venv/bin/python bench/yardstick_fastapi.py --database-url postgresql://… --port 8103

Same routes as bench/yardstick_bare.py; runs under uvicorn with uvloop and httptools, one
process, access log off.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
import orjson
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict
from yardstick_shared import (
    FIRST_PAGE,
    GET_ONE,
    INSERT,
    NEXT_PAGE,
    decode_cursor,
    encode_cursor,
    uuid7,
)

KEY_LOOKUP = "SELECT tenant_id, revoked_at FROM api_keys WHERE secret_hash = $1"

DATABASE_URL = os.environ.get("YARDSTICK_DATABASE_URL", "")
POOL_SIZE = int(os.environ.get("YARDSTICK_POOL_SIZE", "10"))
STATE: dict[str, asyncpg.Pool] = {}
# secret hash -> tenant id, filled on first use of each key.
KEY_CACHE: dict[str, str] = {}

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        return decode_cursor(cursor)
    except (ValueError, TypeError) as exc:
        raise HTTPException(422, "malformed cursor") from exc


def pool() -> asyncpg.Pool:
    return STATE["pool"]


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )
    # UUIDs as text: orjson serialises str natively (asyncpg's own UUID type it refuses).
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    STATE["pool"] = await asyncpg.create_pool(
        DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE, init=_init_connection
    )
    try:
        yield
    finally:
        await STATE.pop("pool").close()


async def tenant(authorization: Annotated[str | None, Header()] = None) -> str:
    """The calling key's tenant: the database is asked once per key, then the dict answers."""
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "missing bearer key")
    digest = hashlib.sha256(authorization[7:].encode()).hexdigest()
    cached = KEY_CACHE.get(digest)
    if cached is not None:
        return cached
    row = await pool().fetchrow(KEY_LOOKUP, digest)
    if row is None or row["revoked_at"] is not None:
        raise HTTPException(401, "invalid key")
    tenant_id: str = row["tenant_id"]
    KEY_CACHE[digest] = tenant_id
    return tenant_id


Tenant = Annotated[str, Depends(tenant)]


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: uuid.UUID
    facilitator_id: uuid.UUID
    kind: Literal["career", "mentorship", "skip_level", "stay"] = "career"


class RequestId:
    """Pure ASGI middleware: keep a sane incoming ``X-Request-ID`` or make one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = (
            incoming if _VALID_REQUEST_ID.match(incoming) else f"req_{uuid.uuid4().hex}"
        ).encode()

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None)
app.add_middleware(RequestId)


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(
        content=orjson.dumps(content), status_code=status_code, media_type="application/json"
    )


@app.get("/v1/conversations/{conversation_id}")
async def get_conversation(conversation_id: uuid.UUID, tenant_id: Tenant) -> Response:
    row = await pool().fetchrow(GET_ONE, conversation_id, tenant_id)
    if row is None:
        raise HTTPException(404, "no such conversation")
    return _json(dict(row))


@app.get("/v1/conversations")
async def list_conversations(
    tenant_id: Tenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if cursor:
        created, ident = parse_cursor(cursor)
        rows = await pool().fetch(NEXT_PAGE, tenant_id, created, ident, limit + 1)
    else:
        rows = await pool().fetch(FIRST_PAGE, tenant_id, limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if has_more else None
    return _json(
        {"data": [dict(r) for r in rows], "next_cursor": next_cursor, "has_more": has_more}
    )


@app.post("/v1/conversations", status_code=201)
async def create_conversation(body: ConversationIn, tenant_id: Tenant) -> Response:
    try:
        row = await pool().fetchrow(
            INSERT,
            uuid7(),
            tenant_id,
            datetime.now(UTC),
            body.employee_id,
            body.facilitator_id,
            body.kind,
        )
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise HTTPException(422, "unknown or identical parties") from exc
    return _json(dict(row), status_code=201)


def main() -> None:
    global DATABASE_URL, POOL_SIZE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DATABASE_URL or None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--pool-size", type=int, default=POOL_SIZE)
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url (or YARDSTICK_DATABASE_URL) is required")
    DATABASE_URL = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    POOL_SIZE = args.pool_size
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
