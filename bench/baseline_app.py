"""The yardstick for bench/load.py: a bare Starlette + asyncpg app running the same queries
the API runs for the three benchmarked requests (key lookup, key touch, row fetch, agenda
and reschedule fetch, page fetch, insert + event), with none of the framework around them.

    python bench/baseline_app.py --database-url postgresql://… --port 8001
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

POOL: asyncpg.Pool | None = None

CONVERSATION_COLUMNS = (
    "id, tenant_id, external_id, metadata, created_at, updated_at, employee_id, facilitator_id, "
    "kind, status, scheduled_start, duration_minutes, timezone, location, meeting_url, "
    "employee_objectives, facilitator_objectives, summary, reschedule_count, "
    "employee_prepared_at, facilitator_prepared_at, completed_at, canceled_at, cancel_reason"
)


def _jsonable(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif key == "metadata" and isinstance(value, str):
            out[key] = json.loads(value)
        else:
            out[key] = value
    return out


async def _auth(conn: asyncpg.Connection, request: Request) -> uuid.UUID | None:
    header = request.headers.get("authorization", "")
    secret = header.removeprefix("Bearer ")
    row = await conn.fetchrow(
        "SELECT id, tenant_id, revoked_at, last_used_at FROM api_keys WHERE secret_hash = $1",
        hashlib.sha256(secret.encode()).hexdigest(),
    )
    if row is None or row["revoked_at"] is not None:
        return None
    tenant_id: uuid.UUID = row["tenant_id"]
    return tenant_id


async def _with_agenda(
    conn: asyncpg.Connection, rows: list[asyncpg.Record]
) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    agenda = await conn.fetch(
        "SELECT * FROM agenda_items WHERE conversation_id = ANY($1) ORDER BY position, id", ids
    )
    moves = await conn.fetch(
        "SELECT * FROM conversation_reschedules WHERE conversation_id = ANY($1) "
        "ORDER BY created_at",
        ids,
    )
    out = []
    for row in rows:
        item = _jsonable(row)
        item["agenda_items"] = [_jsonable(a) for a in agenda if a["conversation_id"] == row["id"]]
        item["reschedules"] = [_jsonable(m) for m in moves if m["conversation_id"] == row["id"]]
        out.append(item)
    return out


async def get_one(request: Request) -> Response:
    assert POOL is not None
    async with POOL.acquire() as conn, conn.transaction():
        tenant_id = await _auth(conn, request)
        if tenant_id is None:
            return JSONResponse({"status": 401}, status_code=401)
        row = await conn.fetchrow(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND tenant_id = $2",
            uuid.UUID(request.path_params["id"]),
            tenant_id,
        )
        if row is None:
            return JSONResponse({"status": 404}, status_code=404)
        return JSONResponse((await _with_agenda(conn, [row]))[0])


async def list_page(request: Request) -> Response:
    assert POOL is not None
    limit = int(request.query_params.get("limit", "20"))
    async with POOL.acquire() as conn, conn.transaction():
        tenant_id = await _auth(conn, request)
        if tenant_id is None:
            return JSONResponse({"status": 401}, status_code=401)
        cursor = request.query_params.get("cursor")
        if cursor:
            created, ident = cursor.split("|")
            rows = await conn.fetch(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE tenant_id = $1 "
                "AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4",
                tenant_id,
                datetime.fromisoformat(created),
                uuid.UUID(ident),
                limit + 1,
            )
        else:
            rows = await conn.fetch(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE tenant_id = $1 "
                "ORDER BY created_at DESC, id DESC LIMIT $2",
                tenant_id,
                limit + 1,
            )
        data = await _with_agenda(conn, rows[:limit])
        return JSONResponse({"data": data, "has_more": len(rows) > limit})


async def create(request: Request) -> Response:
    assert POOL is not None
    body = await request.json()
    async with POOL.acquire() as conn, conn.transaction():
        tenant_id = await _auth(conn, request)
        if tenant_id is None:
            return JSONResponse({"status": 401}, status_code=401)
        people = await conn.fetch(
            "SELECT id FROM people WHERE tenant_id = $1 AND id = ANY($2)",
            tenant_id,
            [uuid.UUID(body["employee_id"]), uuid.UUID(body["facilitator_id"])],
        )
        if len(people) != 2:
            return JSONResponse({"status": 422}, status_code=422)
        now = datetime.now(UTC)
        row = await conn.fetchrow(
            "INSERT INTO conversations (id, tenant_id, metadata, created_at, updated_at, "
            "employee_id, facilitator_id, kind, status, duration_minutes, timezone, "
            "reschedule_count) VALUES ($1, $2, '{}', $3, $3, $4, $5, $6, 'draft', 30, 'UTC', 0) "
            f"RETURNING {CONVERSATION_COLUMNS}",
            uuid.uuid4(),
            tenant_id,
            now,
            uuid.UUID(body["employee_id"]),
            uuid.UUID(body["facilitator_id"]),
            body.get("kind", "career"),
        )
        assert row is not None
        data = (await _with_agenda(conn, [row]))[0]
        await conn.execute(
            "INSERT INTO events (id, tenant_id, type, occurred_at, subject_type, subject_id, data) "
            "VALUES ($1, $2, 'conversation.created', $3, 'conversation', $4, $5)",
            uuid.uuid4(),
            tenant_id,
            now,
            row["id"],
            json.dumps(data),
        )
        return JSONResponse(data, status_code=201)


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    global POOL
    POOL = await asyncpg.create_pool(os.environ["BASELINE_DATABASE_URL"], min_size=2, max_size=10)
    yield
    await POOL.close()


app = Starlette(
    routes=[
        Route("/v1/conversations", list_page, methods=["GET"]),
        Route("/v1/conversations", create, methods=["POST"]),
        Route("/v1/conversations/{id}", get_one, methods=["GET"]),
    ],
    lifespan=lifespan,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    os.environ["BASELINE_DATABASE_URL"] = args.database_url
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
