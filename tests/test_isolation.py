"""Tenants apart, for every operation in the OpenAPI document.

Tenant A holds one of every resource. Tenant B, with a key holding every scope, calls
every operation whose path names a resource, with A's ids and with a body and required
query parameters valid against the operation's schemas (built from the document): each
answers 404 problem+json, exactly like an id that does not exist, and A's data is
unchanged (same ETags, same events).
Every list B can call shows none of A's data. A new route is covered as soon as it
exists; `test_every_path_parameter_has_a_subject` fails until `world` names its ids.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
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

DOCUMENT = create_app(Settings(env="development")).openapi()
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]


def _operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(operationId, method, path, operation) for every tenant-key operation."""
    found = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") == [{"ApiKey": []}]:
                found.append((operation["operationId"], method, path, operation))
    return found


OPERATIONS = _operations()
BY_ID = [op for op in OPERATIONS if "{" in op[2] and "by-external-id" not in op[2]]
LISTS = [op for op in OPERATIONS if op[1] == "get" and "{" not in op[2]]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example_value(schema: dict[str, Any]) -> Any:
    """A value valid against ``schema`` (required fields only for objects)."""
    schema = _resolve(schema)
    if "anyOf" in schema:
        return example_value(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example_value(properties[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [example_value(schema["items"])] * schema.get("minItems", 0)
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date-time":
        return (datetime.now(UTC) + timedelta(days=7)).isoformat()
    if fmt == "date":
        return (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    return "x" * max(schema.get("minLength", 1), 1)


def query_for(operation: dict[str, Any]) -> dict[str, Any]:
    return {
        parameter["name"]: example_value(parameter["schema"])
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "query" and parameter.get("required")
    }


def body_for(operation: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return None if content is None else example_value(content["schema"])


async def world(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    """One of every resource in one tenant; the ids by path parameter name (``item_id``
    is an agenda item under conversations and an action item under action plans)."""
    await create_endpoint(client, headers, "http://127.0.0.1:9/hook")  # deliveries follow
    endpoint = await create_endpoint(client, headers, "http://127.0.0.1:9/other")
    conversation = await create_conversation(client, headers)
    employee, facilitator = conversation["employee_id"], conversation["facilitator_id"]
    plan = await create_plan(client, headers, employee)
    ids = {
        "person_id": employee,
        "mentorship_id": (await create_mentorship(client, headers, facilitator, employee))["id"],
        "conversation_id": conversation["id"],
        "agenda_item_id": (await create_agenda_item(client, headers, conversation))["id"],
        "note_id": (await create_note(client, headers, conversation))["id"],
        "goal_id": (
            await create_goal(client, headers, employee, conversation_ids=[conversation["id"]])
        )["id"],
        "plan_id": plan["id"],
        "action_item_id": (await create_item(client, headers, plan["id"], employee))["id"],
        "feedback_id": (await create_feedback(client, headers, facilitator, employee))["id"],
        "request_id": (await create_feedback_request(client, headers, employee, facilitator))["id"],
        "follow_up_id": (await create_follow_up(client, headers, conversation["id"], employee))[
            "id"
        ],
        "endpoint_id": endpoint["id"],
        "template_id": (await create_template(client, headers))["id"],
        "competency_id": (await create_competency(client, headers))["id"],
        "track_id": (await create_track(client, headers))["id"],
    }
    minted = await client.post("/v1/person-sessions", json={"person_id": employee}, headers=headers)
    ids["session_id"] = minted.json()["id"]
    feed = await client.post(f"/v1/people/{employee}/calendar-feed", headers=headers)
    assert feed.status_code == 201, feed.text  # B's revoke or rotation leaves it alone
    series = await client.post(
        "/v1/conversation-series",
        json={
            "employee_id": employee,
            "facilitator_id": facilitator,
            "rrule": "FREQ=WEEKLY",
            "start": "2030-01-01T10:00:00",
            "timezone": "Europe/Berlin",
        },
        headers=headers,
    )
    assert series.status_code == 201, series.text
    ids["series_id"] = series.json()["id"]
    events = (await client.get("/v1/events", headers=headers)).json()["data"]
    ids["event_id"] = events[0]["id"]
    deliveries = await client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers
    )
    ids["delivery_id"] = deliveries.json()["data"][0]["id"]
    exported = await client.post(f"/v1/people/{employee}/exports", headers=headers)
    assert exported.status_code == 202, exported.text
    ids["export_id"] = exported.json()["id"]
    return ids


def url_for(path: str, ids: dict[str, str]) -> str:
    item = "action_item_id" if path.startswith("/v1/action-plans") else "agenda_item_id"
    return re.sub(r"\{(\w+)\}", lambda m: ids[item if m[1] == "item_id" else m[1]], path)


async def snapshot(client: httpx.AsyncClient, headers: dict[str, str], ids: dict[str, str]) -> Any:
    """What A can see of its own data: each resource's ETag and the event feed."""
    etags = {}
    for _, method, path, _ in OPERATIONS:
        if method == "get" and path.endswith("}"):
            response = await client.get(url_for(path, ids), headers=headers)
            etags[path] = (response.status_code, response.headers.get("etag"))
    events = (await client.get("/v1/events", params={"limit": 100}, headers=headers)).json()
    return etags, [event["id"] for event in events["data"]]


def test_every_path_parameter_has_a_subject() -> None:
    names = {name for _, _, path, _ in BY_ID for name in re.findall(r"\{(\w+)\}", path)}
    assert names == {
        "person_id", "mentorship_id", "conversation_id", "item_id", "note_id", "goal_id",
        "plan_id", "feedback_id", "request_id", "follow_up_id", "endpoint_id", "event_id",
        "delivery_id", "session_id", "template_id", "series_id", "competency_id", "track_id",
        "export_id",
    }  # fmt: skip


async def test_another_tenants_ids_are_404_on_every_operation(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ids = await world(client, tenant.headers)
    await create_person(client, other_tenant.headers, name="Bob")  # B is not empty
    before = await snapshot(client, tenant.headers, ids)
    answers = {}
    for operation_id, method, path, operation in BY_ID:
        response = await client.request(
            method,
            url_for(path, ids),
            params=query_for(operation),
            json=body_for(operation),
            headers={**other_tenant.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        answers[operation_id] = (response.status_code, response.headers["content-type"])
    assert answers == {op: (404, "application/problem+json") for op, *_ in BY_ID}
    assert await snapshot(client, tenant.headers, ids) == before


@pytest.mark.parametrize(
    ("operation_id", "path"), [(op, path) for op, _, path, _ in LISTS], ids=[op for op, *_ in LISTS]
)
async def test_lists_show_nothing_of_another_tenant(
    operation_id: str,
    path: str,
    client: httpx.AsyncClient,
    tenant: TenantKey,
    other_tenant: TenantKey,
) -> None:
    await world(client, tenant.headers)
    mine = await client.get(path, headers=tenant.headers)
    theirs = await client.get(path, headers=other_tenant.headers)
    assert (mine.status_code, theirs.status_code) == (200, 200)
    if operation_id in ("list_event_types", "get_export_schema"):  # the same for everyone
        assert theirs.json() == mine.json()
    elif operation_id == "get_current_tenant":
        assert theirs.json()["id"] == str(other_tenant.tenant_id)
    elif operation_id == "get_career_conversation_insights":  # aggregates, not rows
        assert mine.json()["groups"][0]["employees"] > 0
        assert theirs.json()["groups"][0]["employees"] == 0
        assert theirs.json()["groups"][0]["conversations"]["total"] == 0
    elif operation_id == "list_agenda_templates":  # the built-ins are in every tenant
        assert [t for t in mine.json()["data"] if not t["builtin"]] != []
        assert [t for t in theirs.json()["data"] if not t["builtin"]] == []
    else:
        assert mine.json()["data"] != []
        assert theirs.json()["data"] == []
