"""The floor for bench/run.py: a bare ASGI callable on the ``conversations`` table.

No framework, no auth, no validation beyond what a bad request needs, no transaction: one
asyncpg query per request and an orjson body. The tenant is fixed at start-up. What any
Python service on this stack must pay at least; the API is compared against it.

    .venv/bin/python bench/yardstick_bare.py --database-url postgresql://… \\
        --tenant-id <uuid> --port 8102

Routes:
    GET  /v1/conversations/{id}
    GET  /v1/conversations?limit=50[&cursor=…]   keyset page, newest first
    POST /v1/conversations                        {employee_id, facilitator_id, kind}

Runs under uvicorn with uvloop and httptools, one process, access log off.
"""

from __future__ import annotations

import argparse
import os
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import orjson
import uvicorn
from yardstick_shared import (
    FIRST_PAGE,
    GET_ONE,
    INSERT,
    NEXT_PAGE,
    decode_cursor,
    encode_cursor,
    uuid7,
)

KINDS = frozenset({"career", "mentorship", "skip_level", "stay"})
PREFIX = "/v1/conversations"
JSON_HEADERS = [(b"content-type", b"application/json")]


class BareApp:
    def __init__(self, database_url: str, tenant_id: uuid.UUID, pool_size: int) -> None:
        self.database_url = database_url
        self.tenant_id = tenant_id
        self.pool_size = pool_size
        self.pool: asyncpg.Pool | None = None

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )
        # UUIDs as text: orjson serialises str natively (asyncpg's own UUID type it refuses).
        await conn.set_type_codec(
            "uuid", encoder=str, decoder=str, schema="pg_catalog", format="text"
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, body = await self._route(scope, receive)
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
            status, body = 400, b'{"status":400}'
        except asyncpg.IntegrityConstraintViolationError:  # unknown people, same person twice
            status, body = 422, b'{"status":422}'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(
                    self.database_url,
                    min_size=self.pool_size,
                    max_size=self.pool_size,
                    init=self._init_connection,
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope: dict[str, Any], receive: Any) -> tuple[int, bytes]:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == PREFIX:
            if method == "GET":
                return await self._list(scope)
            if method == "POST":
                return await self._create(await _read_body(receive))
            return 405, b'{"status":405}'
        if path.startswith(PREFIX + "/") and method == "GET":
            return await self._get(uuid.UUID(path[len(PREFIX) + 1 :]))
        return 404, b'{"status":404}'

    async def _get(self, ident: uuid.UUID) -> tuple[int, bytes]:
        assert self.pool is not None
        row = await self.pool.fetchrow(GET_ONE, ident, self.tenant_id)
        if row is None:
            return 404, b'{"status":404}'
        return 200, orjson.dumps(dict(row))

    async def _list(self, scope: dict[str, Any]) -> tuple[int, bytes]:
        assert self.pool is not None
        query = parse_qs(scope["query_string"].decode("latin-1"))
        limit = int(query.get("limit", ["20"])[0])
        if not 1 <= limit <= 100:
            return 422, b'{"status":422}'
        cursor = query.get("cursor", [None])[0]
        if cursor:
            created, ident = decode_cursor(cursor)
            rows = await self.pool.fetch(NEXT_PAGE, self.tenant_id, created, ident, limit + 1)
        else:
            rows = await self.pool.fetch(FIRST_PAGE, self.tenant_id, limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if has_more else None
        page = {"data": [dict(r) for r in rows], "next_cursor": next_cursor, "has_more": has_more}
        return 200, orjson.dumps(page)

    async def _create(self, raw: bytes) -> tuple[int, bytes]:
        assert self.pool is not None
        body = orjson.loads(raw)
        kind = body.get("kind", "career")
        if kind not in KINDS:
            return 422, b'{"status":422}'
        now = datetime.now(UTC)
        row = await self.pool.fetchrow(
            INSERT,
            uuid7(),
            self.tenant_id,
            now,
            uuid.UUID(body["employee_id"]),
            uuid.UUID(body["facilitator_id"]),
            kind,
        )
        return 201, orjson.dumps(dict(row))


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    for _ in range(10_000):  # bounded: 10,000 chunks is far beyond any request here
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("YARDSTICK_DATABASE_URL"))
    parser.add_argument("--tenant-id", default=os.environ.get("YARDSTICK_TENANT_ID"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    if not args.database_url or not args.tenant_id:
        parser.error("--database-url and --tenant-id (or YARDSTICK_* env) are required")
    url = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    app = BareApp(url, uuid.UUID(args.tenant_id), args.pool_size)
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
