from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_goals import (
    count_statements,
    create_goal,
    create_plan,
    insert_conversation,
    insert_mentorship,
)


@dataclass
class Org:
    manager: str
    employee: str
    mentor: str
    stranger: str
    conversation: str  # employee with manager


@pytest.fixture
async def org(
    client: httpx.AsyncClient, auth: dict[str, str], tenant: TenantKey, session: AsyncSession
) -> Org:
    manager = await create_person(client, auth, name="Grace Manager")
    employee = await create_person(client, auth, name="Ada Employee", manager_id=manager["id"])
    mentor = await create_person(client, auth, name="Mentor Mo")
    stranger = await create_person(client, auth, name="Stranger Sam")
    conversation = await insert_conversation(
        session, tenant.tenant_id, employee["id"], manager["id"]
    )
    return Org(manager["id"], employee["id"], mentor["id"], stranger["id"], conversation)


async def goal_events(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    events = (await client.get("/v1/events?limit=100", headers=auth)).json()["data"]
    return [e for e in events if e["subject_type"] == "goal"]


async def agree_both(client: httpx.AsyncClient, auth: dict[str, str], goal: dict[str, Any]) -> None:
    for party, person in (("employee", goal["owner_id"]), ("facilitator", None)):
        if person is None:
            owner = (await client.get(f"/v1/people/{goal['owner_id']}", headers=auth)).json()
            person = owner["manager_id"]
        response = await client.post(
            f"/v1/goals/{goal['id']}/agree",
            json={"party": party, "person_id": person},
            headers=auth,
        )
        assert response.status_code == 200, response.text


async def test_create_and_get_goal(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    response = await client.post(
        "/v1/goals",
        json={
            "owner_id": org.employee,
            "title": "Lead the payments migration",
            "description": "Own design and rollout.",
            "category": "project",
            "target_date": "2025-06-30",
            "success_criteria": "No P1 incident at cut-over.",
            "progress": 10,
            "target_role": "Tech Lead",
            "conversation_ids": [org.conversation, org.conversation],
            "external_id": "G-1",
            "metadata": {"cycle": "H1"},
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    goal = response.json()
    assert response.headers["Location"] == f"/v1/goals/{goal['id']}"
    assert goal == {
        "id": goal["id"],
        "external_id": "G-1",
        "metadata": {"cycle": "H1"},
        "created_at": goal["created_at"],
        "updated_at": goal["created_at"],
        "owner_id": org.employee,
        "title": "Lead the payments migration",
        "description": "Own design and rollout.",
        "category": "project",
        "target_date": "2025-06-30",
        "success_criteria": "No P1 incident at cut-over.",
        "progress": 10,
        "status": "proposed",
        "target_role": "Tech Lead",
        "conversation_ids": [org.conversation],
        "competency_ids": [],
        "agreement": {
            "employee_agreed_at": None,
            "facilitator_agreed_at": None,
            "facilitator_id": None,
        },
        "achieved_at": None,
        "abandoned_at": None,
        "abandon_reason": None,
    }
    fetched = await client.get(f"/v1/goals/{goal['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == goal
    assert fetched.headers["ETag"] == response.headers["ETag"]


async def test_invalid_goal_is_refused_with_pointers(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    response = await client.post(
        "/v1/goals",
        json={
            "owner_id": org.employee,
            "title": "",
            "category": "hobby",
            "progress": 101,
            "status": "achieved",
        },
        headers=auth,
    )
    assert response.status_code == 422
    pointers = sorted(e["pointer"] for e in response.json()["errors"])
    assert pointers == ["/body/category", "/body/progress", "/body/status", "/body/title"]

    too_many = await client.post(
        "/v1/goals",
        json={"owner_id": org.employee, "title": "T", "conversation_ids": [org.conversation] * 51},
        headers=auth,
    )
    assert too_many.status_code == 422
    assert [e["pointer"] for e in too_many.json()["errors"]] == ["/body/conversation_ids"]
    assert (await client.get("/v1/goals", headers=auth)).json()["data"] == []


async def test_foreign_and_unknown_references_are_422(
    client: httpx.AsyncClient,
    tenant: TenantKey,
    other_tenant: TenantKey,
    session: AsyncSession,
    org: Org,
) -> None:
    auth = tenant.headers
    theirs = await create_person(client, other_tenant.headers, name="Other")
    theirs_boss = await create_person(client, other_tenant.headers, name="Other boss")
    their_conversation = await insert_conversation(
        session, other_tenant.tenant_id, theirs["id"], theirs_boss["id"]
    )
    foreign_owner = await client.post(
        "/v1/goals", json={"owner_id": theirs["id"], "title": "T"}, headers=auth
    )
    assert foreign_owner.status_code == 422
    assert foreign_owner.json()["errors"][0]["pointer"] == "/body/owner_id"
    assert foreign_owner.json()["errors"][0]["code"] == "unknown_reference"

    foreign_conversation = await client.post(
        "/v1/goals",
        json={
            "owner_id": org.employee,
            "title": "T",
            "conversation_ids": [org.conversation, their_conversation],
        },
        headers=auth,
    )
    assert foreign_conversation.status_code == 422
    error = foreign_conversation.json()["errors"][0]
    assert error["pointer"] == "/body/conversation_ids/1"
    assert error["code"] == "unknown_reference"

    # A conversation of the tenant, but about someone else: the owner must be its employee.
    others = await insert_conversation(session, tenant.tenant_id, org.stranger, org.manager)
    not_theirs = await client.post(
        "/v1/goals",
        json={"owner_id": org.employee, "title": "T", "conversation_ids": [others]},
        headers=auth,
    )
    assert not_theirs.status_code == 422
    error = not_theirs.json()["errors"][0]
    assert error["pointer"] == "/body/conversation_ids/0"
    assert error["code"] == "not_owners_conversation"
    assert (await client.get("/v1/goals", headers=auth)).json()["data"] == []


async def test_agreement_needs_both_parties(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.employee)
    url = f"/v1/goals/{goal['id']}/agree"

    employee = await client.post(
        url, json={"party": "employee", "person_id": org.employee}, headers=auth
    )
    assert employee.status_code == 200
    body = employee.json()
    assert body["status"] == "proposed"
    assert body["agreement"]["employee_agreed_at"] is not None
    assert body["agreement"]["facilitator_agreed_at"] is None
    assert employee.headers["ETag"] != ""

    again = await client.post(
        url, json={"party": "employee", "person_id": org.employee}, headers=auth
    )
    assert again.status_code == 200
    assert again.json() == body

    facilitator = await client.post(
        url, json={"party": "facilitator", "person_id": org.manager}, headers=auth
    )
    assert facilitator.status_code == 200
    agreed = facilitator.json()
    assert agreed["status"] == "agreed"
    assert agreed["agreement"]["employee_agreed_at"] == body["agreement"]["employee_agreed_at"]
    assert agreed["agreement"]["facilitator_id"] == org.manager
    assert agreed["agreement"]["facilitator_agreed_at"] is not None

    late = await client.post(
        url, json={"party": "facilitator", "person_id": org.manager}, headers=auth
    )
    assert late.status_code == 409
    assert late.json()["code"] == "invalid_transition"
    assert late.json()["current_status"] == "agreed"
    assert late.json()["detail"] == "Cannot agree to a goal whose status is 'agreed'."

    events = await goal_events(client, auth)
    assert [e["type"] for e in events] == ["goal.created", "goal.updated", "goal.agreed"]
    assert events[2]["data"] == agreed


async def test_facilitator_first_then_employee(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.employee)
    url = f"/v1/goals/{goal['id']}/agree"
    first = await client.post(
        url, json={"party": "facilitator", "person_id": org.manager}, headers=auth
    )
    assert first.json()["status"] == "proposed"
    second = await client.post(
        url, json={"party": "employee", "person_id": org.employee}, headers=auth
    )
    assert second.json()["status"] == "agreed"


async def test_who_may_agree(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    tenant: TenantKey,
    other_tenant: TenantKey,
    session: AsyncSession,
    org: Org,
) -> None:
    goal = await create_goal(client, auth, org.employee)
    url = f"/v1/goals/{goal['id']}/agree"

    async def agree(party: str, person_id: str) -> httpx.Response:
        return await client.post(url, json={"party": party, "person_id": person_id}, headers=auth)

    not_owner = await agree("employee", org.manager)
    assert not_owner.status_code == 422
    assert not_owner.json()["errors"] == [
        {
            "pointer": "/body/person_id",
            "detail": "Only the goal's owner can agree as the employee.",
            "code": "not_allowed_to_agree",
        }
    ]
    owner_as_facilitator = await agree("facilitator", org.employee)
    assert owner_as_facilitator.status_code == 422
    assert owner_as_facilitator.json()["errors"][0]["code"] == "not_allowed_to_agree"

    stranger = await agree("facilitator", org.stranger)
    assert stranger.status_code == 422
    assert stranger.json()["errors"] == [
        {
            "pointer": "/body/person_id",
            "detail": "A facilitator agreeing to a goal must be the owner's manager, the "
            "facilitator of a conversation linked to the goal, or the owner's mentor in an "
            "active mentorship.",
            "code": "not_allowed_to_agree",
        }
    ]
    theirs = await create_person(client, other_tenant.headers, name="Other")
    foreign = await agree("facilitator", theirs["id"])
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["code"] == "unknown_reference"
    bad_party = await agree("ceo", org.manager)
    assert bad_party.status_code == 422
    assert bad_party.json()["errors"][0]["pointer"] == "/body/party"

    # An ended mentorship does not count; an active one does.
    await insert_mentorship(session, tenant.tenant_id, org.stranger, org.employee, "ended")
    assert (await agree("facilitator", org.stranger)).status_code == 422
    await insert_mentorship(session, tenant.tenant_id, org.mentor, org.employee)
    mentor = await agree("facilitator", org.mentor)
    assert mentor.status_code == 200
    assert mentor.json()["agreement"]["facilitator_id"] == org.mentor

    # The facilitator of a linked conversation may agree too.
    coach = await create_person(client, auth, name="Coach")
    coached = await insert_conversation(session, tenant.tenant_id, org.employee, coach["id"])
    other_goal = await create_goal(client, auth, org.employee, conversation_ids=[coached])
    by_coach = await client.post(
        f"/v1/goals/{other_goal['id']}/agree",
        json={"party": "facilitator", "person_id": coach["id"]},
        headers=auth,
    )
    assert by_coach.status_code == 200
    assert by_coach.json()["agreement"]["facilitator_id"] == coach["id"]
    unlinked = await client.post(
        f"/v1/goals/{goal['id']}/agree",
        json={"party": "facilitator", "person_id": coach["id"]},
        headers=auth,
    )
    # ... but only for goals linked to that conversation.
    assert unlinked.status_code == 422
    assert unlinked.json()["errors"][0]["code"] == "not_allowed_to_agree"


async def test_lifecycle_start_achieve(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.employee, progress=30)
    url = f"/v1/goals/{goal['id']}"

    early = await client.post(f"{url}/start", headers=auth)
    assert early.status_code == 409
    assert early.json()["current_status"] == "proposed"
    assert early.json()["detail"] == "Cannot start a goal whose status is 'proposed'."
    assert (await client.post(f"{url}/achieve", headers=auth)).json()["current_status"] == (
        "proposed"
    )

    await agree_both(client, auth, goal)
    started = await client.post(f"{url}/start", headers=auth)
    assert started.status_code == 200
    assert started.json()["status"] == "in_progress"
    again = await client.post(f"{url}/start", headers=auth)
    assert again.status_code == 409
    assert again.json()["current_status"] == "in_progress"

    achieved = await client.post(f"{url}/achieve", headers=auth)
    assert achieved.status_code == 200
    body = achieved.json()
    assert body["status"] == "achieved"
    assert body["progress"] == 100
    assert body["achieved_at"] == body["updated_at"]

    for action in ("start", "achieve", "abandon"):
        refused = await client.post(f"{url}/{action}", headers=auth)
        assert refused.status_code == 409
        assert refused.json()["current_status"] == "achieved"
    agree = await client.post(
        f"{url}/agree", json={"party": "employee", "person_id": org.employee}, headers=auth
    )
    assert agree.json()["current_status"] == "achieved"

    events = await goal_events(client, auth)
    assert [e["type"] for e in events] == [
        "goal.created",
        "goal.updated",
        "goal.agreed",
        "goal.started",
        "goal.achieved",
    ]
    assert events[-1]["data"] == body


async def test_achieve_straight_from_agreed(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.employee)
    await agree_both(client, auth, goal)
    achieved = await client.post(f"/v1/goals/{goal['id']}/achieve", headers=auth)
    assert achieved.status_code == 200
    assert achieved.json()["status"] == "achieved"
    assert achieved.json()["progress"] == 100


async def test_abandon_from_any_open_status(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    proposed = await create_goal(client, auth, org.employee)
    abandoned = await client.post(
        f"/v1/goals/{proposed['id']}/abandon", json={"reason": "Reorg"}, headers=auth
    )
    assert abandoned.status_code == 200
    body = abandoned.json()
    assert body["status"] == "abandoned"
    assert body["abandon_reason"] == "Reorg"
    assert body["abandoned_at"] == body["updated_at"]

    in_progress = await create_goal(client, auth, org.employee)
    await agree_both(client, auth, in_progress)
    await client.post(f"/v1/goals/{in_progress['id']}/start", headers=auth)
    no_body = await client.post(f"/v1/goals/{in_progress['id']}/abandon", headers=auth)
    assert no_body.status_code == 200
    assert no_body.json()["abandon_reason"] is None

    twice = await client.post(f"/v1/goals/{proposed['id']}/abandon", headers=auth)
    assert twice.status_code == 409
    assert twice.json()["current_status"] == "abandoned"
    reopen = await client.post(f"/v1/goals/{proposed['id']}/start", headers=auth)
    assert reopen.json()["current_status"] == "abandoned"
    types = [e["type"] for e in await goal_events(client, auth)]
    assert types.count("goal.abandoned") == 2


async def test_material_edit_of_proposed_goal_clears_agreement(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.employee)
    url = f"/v1/goals/{goal['id']}"
    await client.post(
        f"{url}/agree", json={"party": "employee", "person_id": org.employee}, headers=auth
    )
    minor = await client.patch(url, json={"category": "skill", "progress": 5}, headers=auth)
    assert minor.status_code == 200
    assert minor.json()["agreement"]["employee_agreed_at"] is not None

    same_title = await client.patch(url, json={"title": goal["title"]}, headers=auth)
    assert same_title.json()["agreement"]["employee_agreed_at"] is not None

    material = await client.patch(url, json={"success_criteria": "Ship it"}, headers=auth)
    assert material.status_code == 200
    assert material.json()["agreement"] == {
        "employee_agreed_at": None,
        "facilitator_agreed_at": None,
        "facilitator_id": None,
    }
    assert material.json()["status"] == "proposed"

    # Once agreed, the goal can still be refined without losing the agreement.
    await agree_both(client, auth, goal)
    refined = await client.patch(url, json={"title": "Lead payments v2"}, headers=auth)
    assert refined.json()["status"] == "agreed"
    assert refined.json()["agreement"]["facilitator_id"] == org.manager


async def test_progress_on_agreed_goal_starts_it(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.employee)
    await agree_both(client, auth, goal)
    url = f"/v1/goals/{goal['id']}"
    zero = await client.patch(url, json={"progress": 0}, headers=auth)
    assert zero.json()["status"] == "agreed"
    started = await client.patch(url, json={"progress": 25}, headers=auth)
    assert started.status_code == 200
    assert started.json()["status"] == "in_progress"
    assert started.json()["progress"] == 25
    events = await goal_events(client, auth)
    assert events[-1]["type"] == "goal.started"
    assert events[-1]["data"] == started.json()


async def test_final_goal_is_frozen_except_bookkeeping(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.employee)
    url = f"/v1/goals/{goal['id']}"
    await client.post(f"{url}/abandon", headers=auth)
    refused = await client.patch(url, json={"progress": 50, "title": "New"}, headers=auth)
    assert refused.status_code == 409
    assert refused.json()["current_status"] == "abandoned"
    assert refused.json()["detail"] == (
        "Cannot edit progress, title of a goal whose status is 'abandoned'."
    )
    allowed = await client.patch(
        url,
        json={"metadata": {"archived": True}, "external_id": "G-9", "title": goal["title"]},
        headers=auth,
    )
    assert allowed.status_code == 200
    assert allowed.json()["metadata"] == {"archived": True}
    assert allowed.json()["external_id"] == "G-9"


async def test_patch_refusals(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    goal = await create_goal(client, auth, org.employee, external_id="G-1")
    other = await create_goal(client, auth, org.employee)
    url = f"/v1/goals/{other['id']}"
    assert (await client.patch(url, json={"title": None}, headers=auth)).status_code == 422
    owner = await client.patch(url, json={"owner_id": org.manager}, headers=auth)
    assert owner.status_code == 422
    assert owner.json()["errors"][0]["pointer"] == "/body/owner_id"
    status = await client.patch(url, json={"status": "achieved"}, headers=auth)
    assert status.status_code == 422
    taken = await client.patch(url, json={"external_id": "G-1"}, headers=auth)
    assert taken.status_code == 409
    assert taken.json()["conflicting_id"] == goal["id"]
    assert (await client.get(url, headers=auth)).json() == other


async def test_conversation_links(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    tenant: TenantKey,
    session: AsyncSession,
    org: Org,
) -> None:
    second = await insert_conversation(session, tenant.tenant_id, org.employee, org.mentor)
    third = await insert_conversation(session, tenant.tenant_id, org.employee, org.manager)
    goal = await create_goal(client, auth, org.employee, conversation_ids=[org.conversation])
    url = f"/v1/goals/{goal['id']}"

    replaced = await client.patch(url, json={"conversation_ids": [second, third]}, headers=auth)
    assert replaced.status_code == 200
    assert replaced.json()["conversation_ids"] == [second, third]
    assert replaced.json()["updated_at"] > goal["updated_at"]

    linked = await client.post(
        f"{url}/conversations", json={"conversation_id": org.conversation}, headers=auth
    )
    assert linked.status_code == 200
    assert linked.json()["conversation_ids"] == [second, third, org.conversation]
    again = await client.post(
        f"{url}/conversations", json={"conversation_id": org.conversation}, headers=auth
    )
    assert again.json() == linked.json()

    stranger_conversation = await insert_conversation(
        session, tenant.tenant_id, org.stranger, org.manager
    )
    wrong = await client.post(
        f"{url}/conversations", json={"conversation_id": stranger_conversation}, headers=auth
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["pointer"] == "/body/conversation_id"

    unlinked = await client.delete(f"{url}/conversations/{second}", headers=auth)
    assert unlinked.status_code == 204
    current = (await client.get(url, headers=auth)).json()
    assert current["conversation_ids"] == [third, org.conversation]
    missing = await client.delete(f"{url}/conversations/{second}", headers=auth)
    assert missing.status_code == 404

    by_conversation = await client.get(f"/v1/goals?conversation_id={third}", headers=auth)
    assert [g["id"] for g in by_conversation.json()["data"]] == [goal["id"]]
    none = await client.get(f"/v1/goals?conversation_id={second}", headers=auth)
    assert none.json()["data"] == []

    cleared = await client.patch(url, json={"conversation_ids": []}, headers=auth)
    assert cleared.json()["conversation_ids"] == []
    bad = await client.patch(url, json={"conversation_ids": [third, org.mentor]}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/body/conversation_ids/1"


async def test_if_match(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    goal = await create_goal(client, auth, org.employee)
    url = f"/v1/goals/{goal['id']}"
    etag = (await client.get(url, headers=auth)).headers["ETag"]
    await asyncio.sleep(0.001)
    ok = await client.patch(url, json={"progress": 5}, headers={**auth, "If-Match": etag})
    assert ok.status_code == 200
    assert ok.headers["ETag"] != etag

    stale = await client.patch(url, json={"progress": 9}, headers={**auth, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    stale_delete = await client.delete(url, headers={**auth, "If-Match": etag})
    assert stale_delete.status_code == 412
    stale_link = await client.delete(
        f"{url}/conversations/{org.conversation}", headers={**auth, "If-Match": etag}
    )
    assert stale_link.status_code == 412
    assert (await client.get(url, headers=auth)).json()["progress"] == 5

    fresh = await client.delete(url, headers={**auth, "If-Match": ok.headers["ETag"]})
    assert fresh.status_code == 204


async def test_list_filters_and_pages(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    skills = [
        await create_goal(client, auth, org.employee, title=f"Skill {i}", category="skill")
        for i in range(3)
    ]
    mine = await create_goal(client, auth, org.manager, title="Manager goal", category="role")
    await agree_both(client, auth, skills[0])

    page1 = await client.get(f"/v1/goals?owner_id={org.employee}&limit=2", headers=auth)
    body1 = page1.json()
    assert [g["title"] for g in body1["data"]] == ["Skill 2", "Skill 1"]
    assert body1["has_more"] is True
    assert 'rel="next"' in page1.headers["Link"]
    page2 = await client.get(
        f"/v1/goals?owner_id={org.employee}&limit=2&cursor={body1['next_cursor']}", headers=auth
    )
    assert page2.json() == {
        "data": [page2.json()["data"][0]],
        "next_cursor": None,
        "has_more": False,
    }
    assert page2.json()["data"][0]["title"] == "Skill 0"

    agreed = await client.get("/v1/goals?status=agreed", headers=auth)
    assert [g["id"] for g in agreed.json()["data"]] == [skills[0]["id"]]
    roles = await client.get("/v1/goals?category=role", headers=auth)
    assert [g["id"] for g in roles.json()["data"]] == [mine["id"]]
    since = skills[0]["updated_at"]
    changed = await client.get(
        "/v1/goals", params={"updated_since": datetime.fromisoformat(since)}, headers=auth
    )
    assert {g["title"] for g in changed.json()["data"]} == {
        "Skill 0",
        "Skill 1",
        "Skill 2",
        "Manager goal",
    }
    later = (await client.get(f"/v1/goals/{skills[0]['id']}", headers=auth)).json()["updated_at"]
    only_agreed = await client.get("/v1/goals", params={"updated_since": later}, headers=auth)
    assert [g["id"] for g in only_agreed.json()["data"]] == [skills[0]["id"]]
    bad = await client.get("/v1/goals?status=done", headers=auth)
    assert bad.status_code == 422


async def test_delete(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    linked = await create_goal(client, auth, org.employee, conversation_ids=[org.conversation])
    deleted = await client.delete(f"/v1/goals/{linked['id']}", headers=auth)
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/goals/{linked['id']}", headers=auth)).status_code == 404
    events = await goal_events(client, auth)
    assert events[-1]["type"] == "goal.deleted"
    assert events[-1]["data"] == linked

    planned = await create_goal(client, auth, org.employee, conversation_ids=[org.conversation])
    await create_plan(client, auth, org.employee, goal_id=planned["id"])
    refused = await client.delete(f"/v1/goals/{planned['id']}", headers=auth)
    assert refused.status_code == 409
    assert refused.json()["code"] == "conflict"
    kept = await client.get(f"/v1/goals/{planned['id']}", headers=auth)
    assert kept.json() == planned


async def test_duplicate_external_id_is_a_conflict(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    first = await create_goal(client, auth, org.employee, external_id="G-7")
    dup = await client.post(
        "/v1/goals",
        json={"owner_id": org.employee, "title": "B", "external_id": "G-7"},
        headers=auth,
    )
    assert dup.status_code == 409
    assert dup.json()["conflicting_id"] == first["id"]


async def test_idempotent_create_and_agree(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    headers = {**auth, "Idempotency-Key": "goal-1"}
    body = {"owner_id": org.employee, "title": "Learn Rust"}
    first = await client.post("/v1/goals", json=body, headers=headers)
    replay = await client.post("/v1/goals", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["ETag"] == first.headers["ETag"]
    assert len((await client.get("/v1/goals", headers=auth)).json()["data"]) == 1
    reused = await client.post("/v1/goals", json={**body, "title": "Learn Go"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    goal_id = first.json()["id"]
    agree_headers = {**auth, "Idempotency-Key": "agree-1"}
    agree_body = {"party": "employee", "person_id": org.employee}
    agreed = await client.post(f"/v1/goals/{goal_id}/agree", json=agree_body, headers=agree_headers)
    again = await client.post(f"/v1/goals/{goal_id}/agree", json=agree_body, headers=agree_headers)
    assert again.json() == agreed.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    types = [e["type"] for e in await goal_events(client, auth)]
    assert types == ["goal.created", "goal.updated"]


async def test_list_costs_the_same_whatever_the_page_size(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    tenant: TenantKey,
    session: AsyncSession,
    engine: AsyncEngine,
    connection: AsyncConnection,
    org: Org,
) -> None:
    second = await insert_conversation(session, tenant.tenant_id, org.employee, org.mentor)

    async def count_list() -> int:
        await client.get("/v1/goals?limit=100", headers=auth)  # warm up (key last-used, …)
        async with count_statements(engine, connection) as statements:
            response = await client.get("/v1/goals?limit=100", headers=auth)
        assert response.status_code == 200
        assert all(len(g["conversation_ids"]) == 2 for g in response.json()["data"])
        return len(statements)

    for _ in range(2):
        await create_goal(client, auth, org.employee, conversation_ids=[org.conversation, second])
    small = await count_list()
    for _ in range(18):
        await create_goal(client, auth, org.employee, conversation_ids=[org.conversation, second])
    assert len((await client.get("/v1/goals?limit=100", headers=auth)).json()["data"]) == 20
    large = await count_list()
    assert small == large
