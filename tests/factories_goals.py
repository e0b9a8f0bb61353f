"""Factories for goal and action-plan tests.

Goals, plans and items are created through the API; conversations and mentorships are
inserted directly (their own resources are tested elsewhere), so these tests depend only
on the tables.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.models.conversation import Conversation
from app.models.mentorship import Mentorship


async def insert_conversation(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    employee_id: str,
    facilitator_id: str,
    status: str = "completed",
) -> str:
    conversation = Conversation(
        tenant_id=tenant_id,
        employee_id=uuid.UUID(employee_id),
        facilitator_id=uuid.UUID(facilitator_id),
        status=status,
    )
    session.add(conversation)
    await session.commit()
    return str(conversation.id)


async def insert_mentorship(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    mentor_id: str,
    mentee_id: str,
    status: str = "active",
) -> str:
    mentorship = Mentorship(
        tenant_id=tenant_id,
        mentor_id=uuid.UUID(mentor_id),
        mentee_id=uuid.UUID(mentee_id),
        status=status,
    )
    session.add(mentorship)
    await session.commit()
    return str(mentorship.id)


async def _post(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_goal(
    client: httpx.AsyncClient, headers: dict[str, str], owner_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"owner_id": owner_id, "title": "Lead the payments migration", **fields}
    return await _post(client, "/v1/goals", headers, body)


async def create_plan(
    client: httpx.AsyncClient, headers: dict[str, str], owner_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"owner_id": owner_id, "title": "Steps to tech lead", **fields}
    return await _post(client, "/v1/action-plans", headers, body)


async def create_item(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    plan_id: str,
    assignee_id: str,
    **fields: Any,
) -> dict[str, Any]:
    body = {"assignee_id": assignee_id, "title": "Shadow on-call", **fields}
    return await _post(client, f"/v1/action-plans/{plan_id}/items", headers, body)


@asynccontextmanager
async def count_statements(
    engine: AsyncEngine, connection: AsyncConnection
) -> AsyncIterator[list[str]]:
    """Collect every SQL statement a request sends inside the block: those sent through
    ``engine`` (the ORM) and those sent straight to asyncpg on the test's ``connection``
    (the hot paths; asyncpg logs those, not the prepared statements SQLAlchemy runs).
    The SAVEPOINTs that isolate each request inside the test's transaction are left out."""
    statements: list[str] = []

    def keep(statement: str) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            statements.append(statement)

    def before_cursor_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        keep(statement)

    def logged(record: Any) -> None:
        keep(record.query)

    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    raw.add_query_logger(logged)
    try:
        yield statements
        await asyncio.sleep(0.01)  # asyncpg calls its loggers on the next loop iterations
    finally:
        raw.remove_query_logger(logged)
        event.remove(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
