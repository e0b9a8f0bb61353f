from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.models.action_plan import ActionItem
from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_goals import (
    count_statements,
    create_goal,
    create_item,
    create_plan,
    insert_conversation,
)


@dataclass
class Org:
    manager: str
    employee: str
    conversation: str
    goal: str


@pytest.fixture
async def org(
    client: httpx.AsyncClient, auth: dict[str, str], tenant: TenantKey, session: AsyncSession
) -> Org:
    manager = await create_person(client, auth, name="Grace Manager")
    employee = await create_person(client, auth, name="Ada Employee", manager_id=manager["id"])
    conversation = await insert_conversation(
        session, tenant.tenant_id, employee["id"], manager["id"]
    )
    goal = await create_goal(client, auth, employee["id"], conversation_ids=[conversation])
    return Org(manager["id"], employee["id"], conversation, goal["id"])


async def events_of(
    client: httpx.AsyncClient, auth: dict[str, str], *subject_types: str
) -> list[dict[str, Any]]:
    events = (await client.get("/v1/events?limit=100", headers=auth)).json()["data"]
    return [e for e in events if e["subject_type"] in subject_types]


def titles(plan: dict[str, Any]) -> list[tuple[int, str]]:
    return [(i["position"], i["title"]) for i in plan["items"]]


async def test_create_and_get_plan(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    response = await client.post(
        "/v1/action-plans",
        json={
            "title": "Towards tech lead",
            "owner_id": org.employee,
            "goal_id": org.goal,
            "conversation_id": org.conversation,
            "external_id": "P-1",
            "metadata": {"source": "1:1"},
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert response.headers["Location"] == f"/v1/action-plans/{plan['id']}"
    assert plan == {
        "id": plan["id"],
        "external_id": "P-1",
        "metadata": {"source": "1:1"},
        "created_at": plan["created_at"],
        "updated_at": plan["created_at"],
        "title": "Towards tech lead",
        "owner_id": org.employee,
        "goal_id": org.goal,
        "conversation_id": org.conversation,
        "status": "active",
        "items": [],
        "completion": {"done": 0, "total": 0, "ratio": 0.0},
    }
    fetched = await client.get(f"/v1/action-plans/{plan['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == plan
    assert fetched.headers["ETag"] == response.headers["ETag"]


async def test_plan_references_must_be_the_tenants(
    client: httpx.AsyncClient,
    tenant: TenantKey,
    other_tenant: TenantKey,
    session: AsyncSession,
    org: Org,
) -> None:
    auth = tenant.headers
    theirs = await create_person(client, other_tenant.headers, name="Other")
    boss = await create_person(client, other_tenant.headers, name="Other boss")
    their_goal = await create_goal(client, other_tenant.headers, theirs["id"])
    their_conversation = await insert_conversation(
        session, other_tenant.tenant_id, theirs["id"], boss["id"]
    )
    cases = {
        "owner_id": {"owner_id": theirs["id"]},
        "goal_id": {"goal_id": their_goal["id"]},
        "conversation_id": {"conversation_id": their_conversation},
    }
    for field, override in cases.items():
        body = {"title": "Plan", "owner_id": org.employee, **override}
        response = await client.post("/v1/action-plans", json=body, headers=auth)
        assert response.status_code == 422, field
        assert response.json()["errors"][0]["pointer"] == f"/body/{field}"
        assert response.json()["errors"][0]["code"] == "unknown_reference"
    unknown = await client.post(
        "/v1/action-plans",
        json={"title": "Plan", "owner_id": org.employee, "goal_id": str(uuid.uuid4())},
        headers=auth,
    )
    assert unknown.json()["errors"][0]["pointer"] == "/body/goal_id"
    assert (await client.get("/v1/action-plans", headers=auth)).json()["data"] == []

    plan = await create_plan(client, auth, org.employee)
    patched = await client.patch(
        f"/v1/action-plans/{plan['id']}", json={"goal_id": their_goal["id"]}, headers=auth
    )
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["pointer"] == "/body/goal_id"


async def test_an_item_is_reached_only_through_its_plan(
    client: httpx.AsyncClient, tenant: TenantKey, org: Org
) -> None:
    # Another tenant's ids: tests/test_isolation.py, for every operation.
    auth = tenant.headers
    mine = await create_plan(client, auth, org.employee)
    other_mine = await create_plan(client, auth, org.employee)
    my_item = await create_item(client, auth, mine["id"], org.employee)
    wrong = f"/v1/action-plans/{other_mine['id']}/items/{my_item['id']}"
    responses = [
        await client.get(wrong, headers=auth),
        await client.patch(wrong, json={"title": "X"}, headers=auth),
        await client.delete(wrong, headers=auth),
    ]
    assert [r.status_code for r in responses] == [404] * 3
    assert {r.json()["code"] for r in responses} == {"not_found"}
    right = await client.get(f"/v1/action-plans/{mine['id']}/items/{my_item['id']}", headers=auth)
    assert right.json() == my_item


async def test_items_positions_and_reordering(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    plan = await create_plan(client, auth, org.employee)
    base = f"/v1/action-plans/{plan['id']}"
    a = await create_item(client, auth, plan["id"], org.employee, title="A")
    b = await create_item(client, auth, plan["id"], org.manager, title="B")
    c = await create_item(client, auth, plan["id"], org.employee, title="C")
    assert [a["position"], b["position"], c["position"]] == [0, 1, 2]

    first = await create_item(client, auth, plan["id"], org.employee, title="First", position=0)
    assert first["position"] == 0
    read = (await client.get(base, headers=auth)).json()
    assert titles(read) == [(0, "First"), (1, "A"), (2, "B"), (3, "C")]

    beyond = await create_item(client, auth, plan["id"], org.employee, title="Last", position=99)
    assert beyond["position"] == 4

    moved = await client.patch(f"{base}/items/{c['id']}", json={"position": 1}, headers=auth)
    assert moved.status_code == 200
    assert moved.json()["position"] == 1
    read = (await client.get(base, headers=auth)).json()
    assert titles(read) == [(0, "First"), (1, "C"), (2, "A"), (3, "B"), (4, "Last")]

    down = await client.patch(f"{base}/items/{first['id']}", json={"position": 50}, headers=auth)
    assert down.json()["position"] == 4
    read = (await client.get(base, headers=auth)).json()
    assert titles(read) == [(0, "C"), (1, "A"), (2, "B"), (3, "Last"), (4, "First")]

    deleted = await client.delete(f"{base}/items/{a['id']}", headers=auth)
    assert deleted.status_code == 204
    read = (await client.get(base, headers=auth)).json()
    assert titles(read) == [(0, "C"), (1, "B"), (2, "Last"), (3, "First")]
    assert (await client.get(f"{base}/items/{a['id']}", headers=auth)).status_code == 404

    negative = await client.patch(f"{base}/items/{b['id']}", json={"position": -1}, headers=auth)
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["pointer"] == "/body/position"


async def test_item_fields_and_refusals(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, org: Org
) -> None:
    auth = tenant.headers
    plan = await create_plan(client, auth, org.employee)
    base = f"/v1/action-plans/{plan['id']}/items"
    response = await client.post(
        base,
        json={
            "title": "Book a design review",
            "assignee_id": org.manager,
            "due_date": "2025-03-01",
            "support_needed": "Calendar slot",
            "external_id": "I-1",
            "metadata": {"jira": "PAY-1"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    item = response.json()
    assert response.headers["Location"] == f"{base}/{item['id']}"
    assert item == {
        "id": item["id"],
        "external_id": "I-1",
        "metadata": {"jira": "PAY-1"},
        "created_at": item["created_at"],
        "updated_at": item["created_at"],
        "plan_id": plan["id"],
        "title": "Book a design review",
        "assignee_id": org.manager,
        "due_date": "2025-03-01",
        "status": "todo",
        "support_needed": "Calendar slot",
        "position": 0,
        "completed_at": None,
    }
    fetched = await client.get(f"{base}/{item['id']}", headers=auth)
    assert fetched.json() == item
    assert fetched.headers["ETag"] == response.headers["ETag"]

    theirs = await create_person(client, other_tenant.headers, name="Other")
    foreign = await client.post(
        base, json={"title": "X", "assignee_id": theirs["id"]}, headers=auth
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["pointer"] == "/body/assignee_id"
    patched = await client.patch(
        f"{base}/{item['id']}", json={"assignee_id": theirs["id"]}, headers=auth
    )
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["pointer"] == "/body/assignee_id"

    invalid = await client.post(
        base,
        json={"title": "", "assignee_id": org.employee, "status": "finished", "priority": 1},
        headers=auth,
    )
    assert invalid.status_code == 422
    pointers = sorted(e["pointer"] for e in invalid.json()["errors"])
    assert pointers == ["/body/priority", "/body/status", "/body/title"]
    nulled = await client.patch(f"{base}/{item['id']}", json={"status": None}, headers=auth)
    assert nulled.status_code == 422

    dup = await client.post(
        base, json={"title": "X", "assignee_id": org.employee, "external_id": "I-1"}, headers=auth
    )
    assert dup.status_code == 409
    assert dup.json()["conflicting_id"] == item["id"]
    listed = await client.get(base, headers=auth)
    assert [i["id"] for i in listed.json()["data"]] == [item["id"]]


async def test_completion_and_done_status(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    plan = await create_plan(client, auth, org.employee)
    base = f"/v1/action-plans/{plan['id']}"
    items = [
        await create_item(client, auth, plan["id"], org.employee, title=f"Step {i}")
        for i in range(3)
    ]
    done = await client.patch(
        f"{base}/items/{items[1]['id']}", json={"status": "done"}, headers=auth
    )
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["completed_at"] == done.json()["updated_at"]
    read = (await client.get(base, headers=auth)).json()
    assert read["completion"] == {"done": 1, "total": 3, "ratio": 0.3333}

    blocked = await client.patch(
        f"{base}/items/{items[0]['id']}",
        json={"status": "blocked", "support_needed": "Access to prod"},
        headers=auth,
    )
    assert blocked.json()["completed_at"] is None
    reopened = await client.patch(
        f"{base}/items/{items[1]['id']}", json={"status": "in_progress"}, headers=auth
    )
    assert reopened.json()["completed_at"] is None
    read = (await client.get(base, headers=auth)).json()
    assert read["completion"] == {"done": 0, "total": 3, "ratio": 0.0}

    for item in items:
        await client.patch(f"{base}/items/{item['id']}", json={"status": "done"}, headers=auth)
    read = (await client.get(base, headers=auth)).json()
    assert read["completion"] == {"done": 3, "total": 3, "ratio": 1.0}

    events = await events_of(client, auth, "action_item")
    assert [e["type"] for e in events] == [
        "action_item.created",
        "action_item.created",
        "action_item.created",
        "action_item.completed",
        "action_item.updated",
        "action_item.updated",
        "action_item.completed",
        "action_item.completed",
        "action_item.completed",
    ]
    assert events[3]["data"] == done.json()
    assert events[3]["subject_id"] == items[1]["id"]


async def test_item_changes_touch_the_plan(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    plan = await create_plan(client, auth, org.employee)
    url = f"/v1/action-plans/{plan['id']}"
    etag = (await client.get(url, headers=auth)).headers["ETag"]
    item = await create_item(client, auth, plan["id"], org.employee)
    after_create = await client.get(url, headers=auth)
    assert after_create.headers["ETag"] != etag
    assert after_create.json()["updated_at"] == item["updated_at"]

    stale = await client.patch(url, json={"title": "New"}, headers={**auth, "If-Match": etag})
    assert stale.status_code == 412

    updated = await client.patch(
        f"{url}/items/{item['id']}", json={"due_date": "2025-05-01"}, headers=auth
    )
    after_update = (await client.get(url, headers=auth)).json()
    assert after_update["updated_at"] == updated.json()["updated_at"]
    await client.delete(f"{url}/items/{item['id']}", headers=auth)
    after_delete = (await client.get(url, headers=auth)).json()
    assert after_delete["updated_at"] > after_update["updated_at"]
    assert after_delete["items"] == []

    since = await client.get(
        "/v1/action-plans", params={"updated_since": after_delete["updated_at"]}, headers=auth
    )
    assert [p["id"] for p in since.json()["data"]] == [plan["id"]]


async def test_if_match_on_plans_and_items(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    plan = await create_plan(client, auth, org.employee)
    url = f"/v1/action-plans/{plan['id']}"
    item = await create_item(client, auth, plan["id"], org.employee)
    item_url = f"{url}/items/{item['id']}"
    item_etag = (await client.get(item_url, headers=auth)).headers["ETag"]
    await asyncio.sleep(0.001)
    ok = await client.patch(
        item_url, json={"title": "Renamed"}, headers={**auth, "If-Match": item_etag}
    )
    assert ok.status_code == 200
    assert ok.headers["ETag"] != item_etag
    stale = await client.patch(
        item_url, json={"title": "Again"}, headers={**auth, "If-Match": item_etag}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    stale_delete = await client.delete(item_url, headers={**auth, "If-Match": item_etag})
    assert stale_delete.status_code == 412
    assert (await client.get(item_url, headers=auth)).json()["title"] == "Renamed"

    plan_etag = (await client.get(url, headers=auth)).headers["ETag"]
    await asyncio.sleep(0.001)
    renamed = await client.patch(
        url, json={"title": "Plan B"}, headers={**auth, "If-Match": plan_etag}
    )
    assert renamed.status_code == 200
    assert (await client.delete(url, headers={**auth, "If-Match": plan_etag})).status_code == 412
    gone = await client.delete(url, headers={**auth, "If-Match": renamed.headers["ETag"]})
    assert gone.status_code == 204


async def test_update_and_delete_plan(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    plan = await create_plan(client, auth, org.employee, goal_id=org.goal)
    url = f"/v1/action-plans/{plan['id']}"
    await create_item(client, auth, plan["id"], org.employee, title="One")
    await create_item(client, auth, plan["id"], org.manager, title="Two")

    updated = await client.patch(
        url,
        json={"status": "completed", "goal_id": None, "conversation_id": org.conversation},
        headers=auth,
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["status"] == "completed"
    assert body["goal_id"] is None
    assert body["conversation_id"] == org.conversation
    assert titles(body) == [(0, "One"), (1, "Two")]
    bad = await client.patch(url, json={"status": "paused"}, headers=auth)
    assert bad.status_code == 422
    nulled = await client.patch(url, json={"owner_id": None}, headers=auth)
    assert nulled.status_code == 422
    assert nulled.json()["errors"][0]["pointer"] == "/body/owner_id"

    # With the plan no longer pointing at it, the goal can be deleted.
    assert (await client.delete(f"/v1/goals/{org.goal}", headers=auth)).status_code == 204

    deleted = await client.delete(url, headers=auth)
    assert deleted.status_code == 204
    assert (await client.get(url, headers=auth)).status_code == 404
    events = await events_of(client, auth, "action_plan")
    assert [e["type"] for e in events] == [
        "action_plan.created",
        "action_plan.updated",
        "action_plan.deleted",
    ]
    assert events[1]["data"] == body
    assert events[2]["data"]["items"] == body["items"]


async def test_list_plans_filters_and_pages(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    plans = [
        await create_plan(client, auth, org.employee, title=f"Plan {i}", goal_id=org.goal)
        for i in range(3)
    ]
    other = await create_plan(
        client, auth, org.manager, title="Manager plan", conversation_id=org.conversation
    )
    await create_item(client, auth, plans[0]["id"], org.employee, title="Step")
    await client.patch(f"/v1/action-plans/{other['id']}", json={"status": "archived"}, headers=auth)

    page1 = await client.get(f"/v1/action-plans?goal_id={org.goal}&limit=2", headers=auth)
    body1 = page1.json()
    assert [p["title"] for p in body1["data"]] == ["Plan 2", "Plan 1"]
    assert body1["has_more"] is True
    page2 = await client.get(
        f"/v1/action-plans?goal_id={org.goal}&limit=2&cursor={body1['next_cursor']}",
        headers=auth,
    )
    assert [p["title"] for p in page2.json()["data"]] == ["Plan 0"]
    assert page2.json()["has_more"] is False
    assert titles(page2.json()["data"][0]) == [(0, "Step")]
    assert page2.json()["data"][0]["completion"] == {"done": 0, "total": 1, "ratio": 0.0}

    by_owner = await client.get(f"/v1/action-plans?owner_id={org.manager}", headers=auth)
    assert [p["id"] for p in by_owner.json()["data"]] == [other["id"]]
    by_conversation = await client.get(
        f"/v1/action-plans?conversation_id={org.conversation}", headers=auth
    )
    assert [p["id"] for p in by_conversation.json()["data"]] == [other["id"]]
    archived = await client.get("/v1/action-plans?status=archived", headers=auth)
    assert [p["id"] for p in archived.json()["data"]] == [other["id"]]
    active = await client.get("/v1/action-plans?status=active", headers=auth)
    assert len(active.json()["data"]) == 3


async def test_list_items_of_a_plan_and_across_plans(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    plan = await create_plan(client, auth, org.employee)
    other = await create_plan(client, auth, org.employee)
    base = f"/v1/action-plans/{plan['id']}/items"
    a = await create_item(client, auth, plan["id"], org.employee, title="A", due_date="2025-01-10")
    b = await create_item(client, auth, plan["id"], org.manager, title="B", due_date="2025-02-10")
    c = await create_item(client, auth, plan["id"], org.employee, title="C", status="done")
    d = await create_item(client, auth, other["id"], org.manager, title="D", due_date="2025-01-05")
    await client.patch(f"{base}/{c['id']}", json={"position": 0}, headers=auth)

    page1 = await client.get(f"{base}?limit=2", headers=auth)
    body1 = page1.json()
    assert [(i["position"], i["title"]) for i in body1["data"]] == [(0, "C"), (1, "A")]
    assert body1["has_more"] is True
    assert 'rel="next"' in page1.headers["Link"]
    page2 = await client.get(f"{base}?limit=2&cursor={body1['next_cursor']}", headers=auth)
    assert page2.json() == {
        "data": [page2.json()["data"][0]],
        "next_cursor": None,
        "has_more": False,
    }
    assert page2.json()["data"][0]["id"] == b["id"]
    bad_cursor = await client.get(f"{base}?cursor=nope", headers=auth)
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["pointer"] == "/query/cursor"

    todo = await client.get(f"{base}?status=todo", headers=auth)
    assert [i["title"] for i in todo.json()["data"]] == ["A", "B"]
    managers = await client.get(f"{base}?assignee_id={org.manager}", headers=auth)
    assert [i["title"] for i in managers.json()["data"]] == ["B"]

    owed = await client.get(f"/v1/action-items?assignee_id={org.manager}", headers=auth)
    assert [i["id"] for i in owed.json()["data"]] == [d["id"], b["id"]]
    due_soon = await client.get("/v1/action-items?due_before=2025-02-01&status=todo", headers=auth)
    assert [i["id"] for i in due_soon.json()["data"]] == [d["id"], a["id"]]
    done = await client.get("/v1/action-items?status=done", headers=auth)
    assert [i["id"] for i in done.json()["data"]] == [c["id"]]


async def test_plan_holds_a_bounded_number_of_items(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    tenant: TenantKey,
    session: AsyncSession,
    org: Org,
) -> None:
    plan = await create_plan(client, auth, org.employee)
    session.add_all(
        ActionItem(
            tenant_id=tenant.tenant_id,
            plan_id=uuid.UUID(plan["id"]),
            title=f"Step {i}",
            assignee_id=uuid.UUID(org.employee),
            position=i,
        )
        for i in range(200)
    )
    await session.commit()
    refused = await client.post(
        f"/v1/action-plans/{plan['id']}/items",
        json={"title": "One too many", "assignee_id": org.employee},
        headers=auth,
    )
    assert refused.status_code == 409
    assert refused.json()["detail"] == "An action plan holds at most 200 items."


async def test_idempotent_creates(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    headers = {**auth, "Idempotency-Key": "plan-1"}
    body = {"title": "Plan", "owner_id": org.employee}
    first = await client.post("/v1/action-plans", json=body, headers=headers)
    replay = await client.post("/v1/action-plans", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len((await client.get("/v1/action-plans", headers=auth)).json()["data"]) == 1
    reused = await client.post("/v1/action-plans", json={**body, "title": "Other"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    url = f"/v1/action-plans/{first.json()['id']}/items"
    item_headers = {**auth, "Idempotency-Key": "item-1"}
    item_body = {"title": "Step", "assignee_id": org.employee}
    created = await client.post(url, json=item_body, headers=item_headers)
    again = await client.post(url, json=item_body, headers=item_headers)
    assert created.status_code == again.status_code == 201
    assert again.json() == created.json()
    assert len((await client.get(url, headers=auth)).json()["data"]) == 1
    other_body = await client.post(url, json={**item_body, "title": "Other"}, headers=item_headers)
    assert other_body.status_code == 422


async def test_get_plan_costs_the_same_whatever_its_size(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    engine: AsyncEngine,
    connection: AsyncConnection,
    org: Org,
) -> None:
    async def count_get(plan_id: str, expected_items: int) -> int:
        url = f"/v1/action-plans/{plan_id}"
        await client.get(url, headers=auth)  # warm up (key last-used, …)
        async with count_statements(engine, connection) as statements:
            response = await client.get(url, headers=auth)
        assert len(response.json()["items"]) == expected_items
        return len(statements)

    small = await create_plan(client, auth, org.employee)
    for i in range(2):
        await create_item(client, auth, small["id"], org.employee, title=f"S{i}")
    large = await create_plan(client, auth, org.employee)
    for i in range(30):
        await create_item(client, auth, large["id"], org.manager, title=f"L{i}")
    assert await count_get(small["id"], 2) == await count_get(large["id"], 30)

    async def count_list() -> int:
        async with count_statements(engine, connection) as statements:
            response = await client.get("/v1/action-plans", headers=auth)
        assert response.status_code == 200
        return len(statements)

    two_plans = await count_list()
    for _ in range(5):
        plan = await create_plan(client, auth, org.employee)
        await create_item(client, auth, plan["id"], org.employee)
    assert await count_list() == two_plans
