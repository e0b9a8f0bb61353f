"""Optimistic concurrency under real concurrency, for every operation the OpenAPI document
says honours ``If-Match``: of 20 writers sending the same ETag at once, exactly one wins.

The operations come from the document, so a new conditional route is covered as soon as
it exists (and this test fails until ``SUBJECTS`` knows how to create what it acts on).
Every write body is the same for every PATCH: each update schema accepts ``metadata``.
The losers of a PATCH get 412 (the row is locked before the ETag check). The losers of a
DELETE get 404: once the winner has deleted the resource, the request without its
precondition would be a 404, and RFC 9110 section 13.2.1 says preconditions are then
ignored. Unlinking a goal from a conversation checks the goal's ETag, which the winner
changed, so its losers get 412.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_agenda_item, create_conversation, create_note
from tests.factories_feedback import (
    create_feedback,
    create_feedback_request,
    create_follow_up,
    create_mentorship,
)
from tests.factories_goals import create_goal, create_item, create_plan
from tests.test_agenda_templates import create_template
from tests.test_career_framework import create_competency, create_track
from tests.webhook_receiver import create_endpoint

WRITERS = 20

Client = httpx.AsyncClient
Headers = dict[str, str]
# Creates what an operation acts on; returns its path parameters (and, for operations
# with a body other than metadata, the body under the key "body").
Subject = Callable[[Client, Headers], Awaitable[dict[str, Any]]]


async def _person(client: Client, headers: Headers) -> dict[str, Any]:
    return {"person_id": (await create_person(client, headers, name="Ada"))["id"]}


async def _pair(client: Client, headers: Headers) -> tuple[str, str]:
    ada = await create_person(client, headers, name="Ada")
    grace = await create_person(client, headers, name="Grace")
    return ada["id"], grace["id"]


async def _mentorship(client: Client, headers: Headers) -> dict[str, Any]:
    mentor, mentee = await _pair(client, headers)
    return {"mentorship_id": (await create_mentorship(client, headers, mentor, mentee))["id"]}


async def _conversation(client: Client, headers: Headers) -> dict[str, Any]:
    return {"conversation_id": (await create_conversation(client, headers))["id"]}


async def _agenda_item(client: Client, headers: Headers) -> dict[str, Any]:
    conversation = await create_conversation(client, headers)
    item = await create_agenda_item(client, headers, conversation)
    return {"conversation_id": conversation["id"], "item_id": item["id"]}


async def _note(client: Client, headers: Headers) -> dict[str, Any]:
    conversation = await create_conversation(client, headers)
    note = await create_note(client, headers, conversation)
    return {"conversation_id": conversation["id"], "note_id": note["id"]}


async def _goal(client: Client, headers: Headers) -> dict[str, Any]:
    owner = await create_person(client, headers, name="Ada")
    return {"goal_id": (await create_goal(client, headers, owner["id"]))["id"]}


async def _goal_link(client: Client, headers: Headers) -> dict[str, Any]:
    conversation = await create_conversation(client, headers)
    goal = await create_goal(client, headers, conversation["employee_id"])
    return {
        "goal_id": goal["id"],
        "conversation_id": conversation["id"],
        "body": {"conversation_id": conversation["id"]},
    }


async def _linked_goal(client: Client, headers: Headers) -> dict[str, Any]:
    conversation = await create_conversation(client, headers)
    goal = await create_goal(
        client, headers, conversation["employee_id"], conversation_ids=[conversation["id"]]
    )
    return {"goal_id": goal["id"], "conversation_id": conversation["id"]}


async def _plan(client: Client, headers: Headers) -> dict[str, Any]:
    owner = await create_person(client, headers, name="Ada")
    return {"plan_id": (await create_plan(client, headers, owner["id"]))["id"]}


async def _action_item(client: Client, headers: Headers) -> dict[str, Any]:
    owner = await create_person(client, headers, name="Ada")
    plan = await create_plan(client, headers, owner["id"])
    item = await create_item(client, headers, plan["id"], owner["id"])
    return {"plan_id": plan["id"], "item_id": item["id"]}


async def _feedback(client: Client, headers: Headers) -> dict[str, Any]:
    giver, recipient = await _pair(client, headers)
    return {"feedback_id": (await create_feedback(client, headers, giver, recipient))["id"]}


async def _feedback_request(client: Client, headers: Headers) -> dict[str, Any]:
    requester, responder = await _pair(client, headers)
    created = await create_feedback_request(client, headers, requester, responder)
    return {"request_id": created["id"]}


async def _follow_up(client: Client, headers: Headers) -> dict[str, Any]:
    conversation = await create_conversation(client, headers)
    created = await create_follow_up(
        client, headers, conversation["id"], conversation["facilitator_id"]
    )
    return {"follow_up_id": created["id"]}


async def _endpoint(client: Client, headers: Headers) -> dict[str, Any]:
    return {"endpoint_id": (await create_endpoint(client, headers, "http://127.0.0.1:9/h"))["id"]}


async def _template(client: Client, headers: Headers) -> dict[str, Any]:
    return {"template_id": (await create_template(client, headers))["id"]}


async def _series(client: Client, headers: Headers) -> dict[str, Any]:
    employee = await create_person(client, headers, name="Ada")
    facilitator = await create_person(client, headers, name="Grace")
    response = await client.post(
        "/v1/conversation-series",
        json={
            "employee_id": employee["id"],
            "facilitator_id": facilitator["id"],
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "start": "2030-03-12T10:00:00",
            "timezone": "Europe/Berlin",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return {"series_id": response.json()["id"]}


async def _aspiration(client: Client, headers: Headers) -> dict[str, Any]:
    """A person with a first aspiration; the writers each send a second one."""
    person = (await create_person(client, headers, name="Ada"))["id"]
    first = {"target_role": "Staff", "horizon_months": 12}
    made = await client.put(f"/v1/people/{person}/aspiration", json=first, headers=headers)
    assert made.status_code == 201, made.text
    return {"person_id": person, "body": {"target_role": "Principal", "horizon_months": 24}}


async def _assessment(client: Client, headers: Headers) -> dict[str, Any]:
    """A person, their manager's first assessment; the writers each send a second one."""
    manager = (await create_person(client, headers, name="Grace"))["id"]
    person = (await create_person(client, headers, name="Ada", manager_id=manager))["id"]
    first = {"assessed_by": manager, "realistic_role": "Staff", "readiness": "ready_now"}
    made = await client.put(f"/v1/people/{person}/assessment", json=first, headers=headers)
    assert made.status_code == 201, made.text
    body = {**first, "readiness": "ready_in_1_year"}
    return {"person_id": person, "body": body}


async def _competency(client: Client, headers: Headers) -> dict[str, Any]:
    return {"competency_id": (await create_competency(client, headers))["id"]}


async def _track(client: Client, headers: Headers) -> dict[str, Any]:
    return {"track_id": (await create_track(client, headers))["id"]}


SUBJECTS: dict[str, Subject] = {
    "update_conversation_series": _series,
    "put_aspiration": _aspiration,
    "put_assessment": _assessment,
    "update_competency": _competency,
    "delete_competency": _competency,
    "update_career_track": _track,
    "delete_career_track": _track,
    "update_agenda_template": _template,
    "delete_agenda_template": _template,
    "update_person": _person,
    "delete_person": _person,
    "update_mentorship": _mentorship,
    "delete_mentorship": _mentorship,
    "update_conversation": _conversation,
    "delete_conversation": _conversation,
    "update_agenda_item": _agenda_item,
    "delete_agenda_item": _agenda_item,
    "update_note": _note,
    "delete_note": _note,
    "update_goal": _goal,
    "delete_goal": _goal,
    "link_goal_conversation": _goal_link,
    "unlink_goal_conversation": _linked_goal,
    "update_action_plan": _plan,
    "delete_action_plan": _plan,
    "update_action_item": _action_item,
    "delete_action_item": _action_item,
    "update_feedback": _feedback,
    "delete_feedback": _feedback,
    "update_feedback_request": _feedback_request,
    "delete_feedback_request": _feedback_request,
    "update_follow_up": _follow_up,
    "delete_follow_up": _follow_up,
    "update_webhook_endpoint": _endpoint,
    "delete_webhook_endpoint": _endpoint,
}


def conditional_operations() -> list[tuple[str, str, str, str]]:
    """(operationId, method, path, the GET path whose ETag it checks) from the document."""
    document = create_app(Settings(env="development")).openapi()
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = {
                parameter["name"]
                for parameter in operation.get("parameters", [])
                if "name" in parameter
            }
            if "If-Match" not in names:
                continue
            # The ETag checked is the one of the nearest resource the path names: its own,
            # or for a link (POST /v1/goals/{goal_id}/conversations) the goal's.
            # A PUT of a new version checks the current version's ETag, read at its own path.
            etag_path = path
            while method != "put" and not (
                etag_path.endswith("}") and "get" in document["paths"].get(etag_path, {})
            ):
                etag_path = etag_path.rsplit("/", 1)[0]
            found.append((operation["operationId"], method, path, etag_path))
    return found


OPERATIONS = conditional_operations()


def test_every_conditional_operation_is_raced() -> None:
    assert {op for op, *_ in OPERATIONS} == set(SUBJECTS)


@pytest.mark.parametrize(
    ("operation_id", "method", "path", "etag_path"),
    OPERATIONS,
    ids=[op for op, *_ in OPERATIONS],
)
async def test_one_of_twenty_writers_with_one_etag_wins(
    operation_id: str,
    method: str,
    path: str,
    etag_path: str,
    committed_client: httpx.AsyncClient,
    tenant_c: TenantKey,
) -> None:
    headers = tenant_c.headers
    params = await SUBJECTS[operation_id](committed_client, headers)
    body = params.pop("body", None)
    url, etag_url = path.format(**params), etag_path.format(**params)
    etag = (await committed_client.get(etag_url, headers=headers)).headers["etag"]

    async def write(n: int) -> httpx.Response:
        conditional = {**headers, "If-Match": etag}
        if method == "delete":
            return await committed_client.delete(url, headers=conditional)
        content = body if body is not None else {"metadata": {"writer": n}}
        return await committed_client.request(method, url, json=content, headers=conditional)

    answers = await asyncio.gather(*(write(n) for n in range(WRITERS)))
    statuses = sorted(answer.status_code for answer in answers)
    # a PUT's winner records a new version (201); the losers' ETag is no longer current
    winner = {"delete": 204, "put": 201}.get(method, 200)
    loser = 404 if method == "delete" and etag_path == path else 412
    assert statuses == sorted([winner] + [loser] * (WRITERS - 1)), [
        (a.status_code, a.text[:120]) for a in answers if a.status_code not in (winner, loser)
    ]
    if method == "patch":
        final = (await committed_client.get(url, headers=headers)).json()
        (won,) = [a for a in answers if a.status_code == 200]
        assert final["metadata"] == won.json()["metadata"]
