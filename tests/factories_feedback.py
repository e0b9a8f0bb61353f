"""Factories for mentorships, feedback, feedback requests and follow-ups.

Conversations and goals are inserted as rows through the test session (their API is
built elsewhere); everything else goes through the API, as an integrator would.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.conversation import Conversation
from app.models.goal import Goal
from tests.factories import create_person


def in_days(days: float) -> str:
    """An RFC 3339 UTC time ``days`` from now, as a client would send it."""
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def people(
    client: httpx.AsyncClient, headers: dict[str, str], *names: str
) -> list[dict[str, Any]]:
    return [await create_person(client, headers, name=name) for name in names]


async def insert_conversation(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    employee_id: str,
    facilitator_id: str,
    **fields: Any,
) -> Conversation:
    conversation = Conversation(
        tenant_id=tenant_id,
        employee_id=uuid.UUID(employee_id),
        facilitator_id=uuid.UUID(facilitator_id),
        **fields,
    )
    session.add(conversation)
    await session.commit()
    return conversation


async def insert_goal(
    session: AsyncSession, tenant_id: uuid.UUID, owner_id: str, title: str = "Lead a design review"
) -> Goal:
    goal = Goal(tenant_id=tenant_id, owner_id=uuid.UUID(owner_id), title=title)
    session.add(goal)
    await session.commit()
    return goal


async def _post(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_mentorship(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    mentor_id: str,
    mentee_id: str,
    **fields: Any,
) -> dict[str, Any]:
    body = {"mentor_id": mentor_id, "mentee_id": mentee_id, **fields}
    return await _post(client, "/v1/mentorships", headers, body)


async def create_feedback(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    giver_id: str,
    recipient_id: str,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "giver_id": giver_id,
        "recipient_id": recipient_id,
        "kind": "strength",
        "body": "Clear, calm incident write-up.",
        **fields,
    }
    return await _post(client, "/v1/feedback", headers, body)


async def create_feedback_request(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    requester_id: str,
    responder_id: str,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "requester_id": requester_id,
        "responder_id": responder_id,
        "prompt": "How did my design review go?",
        "due_at": in_days(7),
        **fields,
    }
    return await _post(client, "/v1/feedback-requests", headers, body)


async def create_follow_up(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    conversation_id: uuid.UUID | str,
    assignee_id: str,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "conversation_id": str(conversation_id),
        "assignee_id": assignee_id,
        "due_at": in_days(14),
        **fields,
    }
    return await _post(client, "/v1/follow-ups", headers, body)


async def event_types(client: httpx.AsyncClient, headers: dict[str, str], *types: str) -> list[str]:
    """The types of the tenant's events (only ``types`` if given), oldest first."""
    params = [("type", t) for t in types] + [("limit", "100")]
    response = await client.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [e["type"] for e in response.json()["data"]]


async def events_of(
    client: httpx.AsyncClient, headers: dict[str, str], *types: str
) -> list[dict[str, Any]]:
    params = [("type", t) for t in types] + [("limit", "100")]
    response = await client.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["data"]
    return result
