"""Who sees and who may change goals, action plans and items, and follow-ups when a key acts
for a person (``Acting-Person``): openapi.md, "Who sees what"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_conversation
from tests.factories_goals import create_goal, create_item, create_plan, insert_mentorship

ROLES = ("employee", "manager", "skip", "colleague", "mentor", "coach")


@dataclass
class Org:
    """skip → manager → employee and colleague (peers); a mentor of the employee (active
    mentorship) and a coach; ``conversation`` is the employee's with the manager,
    ``coached`` the employee's with the coach."""

    tenant: TenantKey
    ids: dict[str, str]
    conversation: str
    coached: str

    def as_(self, role: str) -> dict[str, str]:
        return {**self.tenant.headers, "Acting-Person": self.ids[role]}


@pytest.fixture
async def org(
    client: httpx.AsyncClient, auth: dict[str, str], tenant: TenantKey, session: AsyncSession
) -> Org:
    skip = await create_person(client, auth, name="Skip Level")
    manager = await create_person(client, auth, name="Grace Manager", manager_id=skip["id"])
    employee = await create_person(client, auth, name="Ada Employee", manager_id=manager["id"])
    colleague = await create_person(client, auth, name="Col League", manager_id=manager["id"])
    mentor = await create_person(client, auth, name="Mentor Mo")
    coach = await create_person(client, auth, name="Coach Cy")
    ids = {
        "employee": employee["id"],
        "manager": manager["id"],
        "skip": skip["id"],
        "colleague": colleague["id"],
        "mentor": mentor["id"],
        "coach": coach["id"],
    }
    await insert_mentorship(session, tenant.tenant_id, mentor["id"], employee["id"])
    conversation = await create_conversation(
        client, auth, employee_id=employee["id"], facilitator_id=manager["id"]
    )
    coached = await create_conversation(
        client, auth, employee_id=employee["id"], facilitator_id=coach["id"]
    )
    return Org(tenant, ids, conversation["id"], coached["id"])


async def set_reports(client: httpx.AsyncClient, auth: dict[str, str], mode: str) -> None:
    response = await client.patch(
        "/v1/tenant", json={"settings": {"managers_see_reports": mode}}, headers=auth
    )
    assert response.status_code == 200, response.text


async def seen_by(client: httpx.AsyncClient, org: Org, path: str, ident: str) -> set[str]:
    """The roles whose GET of ``path/ident`` answers 200 (404 otherwise) and whose list at
    ``path`` holds it (asserted to agree with the GET)."""
    seen = set()
    for role in ROLES:
        one = await client.get(f"{path}/{ident}", headers=org.as_(role))
        assert one.status_code in (200, 404), one.text
        listed = await client.get(f"{path}?limit=100", headers=org.as_(role))
        assert listed.status_code == 200, listed.text
        in_list = ident in [row["id"] for row in listed.json()["data"]]
        assert in_list == (one.status_code == 200), role
        if in_list:
            seen.add(role)
    return seen


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


# --------------------------------------------------------------------------------- goals


@pytest.mark.parametrize(
    ("mode", "managers"),
    [("chain", {"manager", "skip"}), ("direct", {"manager"}), ("none", set())],
)
async def test_who_sees_a_goal(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org, mode: str, managers: set[str]
) -> None:
    await set_reports(client, auth, mode)
    goal = await create_goal(client, auth, org.ids["employee"])
    assert await seen_by(client, org, "/v1/goals", goal["id"]) == {"employee", "mentor"} | managers
    # Linking a conversation shows the goal to its facilitator.
    linked = await client.post(
        f"/v1/goals/{goal['id']}/conversations", json={"conversation_id": org.coached}, headers=auth
    )
    assert linked.status_code == 200, linked.text
    assert (
        await seen_by(client, org, "/v1/goals", goal["id"])
        == {
            "employee",
            "mentor",
            "coach",
        }
        | managers
    )


async def test_who_may_propose_a_goal(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = {"owner_id": org.ids["employee"], "title": "Lead the payments migration"}
    for role in ("employee", "manager", "skip"):
        created = await client.post("/v1/goals", json=body, headers=org.as_(role))
        assert created.status_code == 201, (role, created.text)
    for role in ("colleague", "mentor", "coach"):
        refused = await client.post("/v1/goals", json=body, headers=org.as_(role))
        assert problem(refused, 403, "not_permitted")["detail"] == (
            "A goal is proposed by its owner or by a manager of the owner."
        )
    await set_reports(client, auth, "direct")
    refused = await client.post("/v1/goals", json=body, headers=org.as_("skip"))
    problem(refused, 403, "not_permitted")


async def test_who_may_change_a_goal(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.ids["employee"])
    url = f"/v1/goals/{goal['id']}"
    # Invisible: 404, exactly like a missing goal.
    hidden = await client.patch(url, json={"progress": 5}, headers=org.as_("colleague"))
    assert problem(hidden, 404, "not_found")["detail"] == f"No goal with id {goal['id']}."
    # Visible (the mentor) but not permitted: 403, before If-Match (412) and state (409).
    stale = {**org.as_("mentor"), "If-Match": '"stale"'}
    refused = await client.patch(url, json={"progress": 5}, headers=stale)
    assert problem(refused, 403, "not_permitted")["detail"] == (
        "Only the goal's owner, a manager of the owner or the facilitator who agreed may "
        "change this goal."
    )
    for action in ("start", "achieve", "abandon"):
        response = await client.post(f"{url}/{action}", headers=org.as_("mentor"))
        problem(response, 403, "not_permitted")
    problem(await client.delete(url, headers=stale), 403, "not_permitted")
    linking = await client.post(
        f"{url}/conversations", json={"conversation_id": org.coached}, headers=org.as_("mentor")
    )
    problem(linking, 403, "not_permitted")
    # Those allowed get the state rules' answer.
    started = await client.post(f"{url}/start", headers=org.as_("employee"))
    assert problem(started, 409, "invalid_transition")["current_status"] == "proposed"
    for role, progress in (("employee", 10), ("manager", 20), ("skip", 30)):
        changed = await client.patch(url, json={"progress": progress}, headers=org.as_(role))
        assert changed.status_code == 200, changed.text
        assert changed.json()["progress"] == progress
    # The facilitator who agreed may change it too (the mentor, once they agreed).
    agreed = await client.post(f"{url}/agree", headers=org.as_("mentor"))
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["agreement"]["facilitator_id"] == org.ids["mentor"]
    changed = await client.patch(url, json={"title": "Lead it"}, headers=org.as_("mentor"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["agreement"]["facilitator_id"] is None  # a material edit
    # Events record who acted.
    events = (await client.get("/v1/events?limit=100", headers=auth)).json()["data"]
    mine = [e for e in events if e["subject_id"] == goal["id"] and e["type"] == "goal.updated"]
    assert [e["actor"]["person_id"] for e in mine] == [
        org.ids["employee"],
        org.ids["manager"],
        org.ids["skip"],
        org.ids["mentor"],
        org.ids["mentor"],
    ]


async def test_linking_conversations_a_person_cannot_see(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    await set_reports(client, auth, "none")
    goal = await create_goal(client, auth, org.ids["employee"], conversation_ids=[org.coached])
    url = f"/v1/goals/{goal['id']}"
    # The coach sees the goal (facilitator of a linked conversation), agrees, and so may change
    # it; the manager's conversation with the employee stays out of their reach.
    agreed = await client.post(f"{url}/agree", json={}, headers=org.as_("coach"))
    assert agreed.status_code == 200, agreed.text
    link = await client.post(
        f"{url}/conversations",
        json={"conversation_id": org.conversation},
        headers=org.as_("coach"),
    )
    assert problem(link, 422, "validation_failed")["errors"] == [
        {
            "pointer": "/body/conversation_id",
            "detail": f"No conversation with id {org.conversation} in this tenant.",
            "code": "unknown_reference",
        }
    ]
    # The owner links it; the coach cannot unlink it (404) nor drop it by a PATCH.
    linked = await client.post(
        f"{url}/conversations",
        json={"conversation_id": org.conversation},
        headers=org.as_("employee"),
    )
    assert linked.json()["conversation_ids"] == [org.coached, org.conversation]
    unlink = await client.delete(
        f"{url}/conversations/{org.conversation}", headers=org.as_("coach")
    )
    assert problem(unlink, 404, "not_found")["detail"] == (
        f"Goal {goal['id']} is not linked to conversation {org.conversation}."
    )
    replaced = await client.patch(url, json={"conversation_ids": []}, headers=org.as_("coach"))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["conversation_ids"] == [org.conversation]
    unlinked = await client.delete(
        f"{url}/conversations/{org.conversation}", headers=org.as_("employee")
    )
    assert unlinked.status_code == 204, unlinked.text


async def test_agree_as_a_person(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    goal = await create_goal(client, auth, org.ids["employee"])
    url = f"/v1/goals/{goal['id']}/agree"
    problem(await client.post(url, headers=org.as_("colleague")), 404, "not_found")
    refusals = [
        ("mentor", {"person_id": org.ids["manager"]}, "A person agrees for themselves only"),
        ("mentor", {"party": "employee"}, "Only the goal's owner can agree as the employee."),
        ("employee", {"party": "facilitator"}, "The goal's owner cannot also agree as the "),
    ]
    for role, body, detail in refusals:
        refused = await client.post(url, json=body, headers=org.as_(role))
        assert problem(refused, 403, "not_permitted")["detail"].startswith(detail)
    # The owner records the employee side without a body; sending their own id is fine too.
    mine = await client.post(url, headers=org.as_("employee"))
    assert mine.status_code == 200, mine.text
    assert mine.json()["status"] == "proposed"
    assert mine.json()["agreement"]["employee_agreed_at"] is not None
    again = await client.post(
        url, json={"person_id": org.ids["employee"]}, headers=org.as_("employee")
    )
    assert again.json() == mine.json()
    # A skip-level manager (chain) is a manager of the owner: the facilitator side.
    theirs = await client.post(url, json={}, headers=org.as_("skip"))
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["status"] == "agreed"
    assert theirs.json()["agreement"]["facilitator_id"] == org.ids["skip"]
    # 403 before the 409 of a goal no longer proposed.
    late = await client.post(url, json={"party": "facilitator"}, headers=org.as_("employee"))
    problem(late, 403, "not_permitted")
    late = await client.post(url, headers=org.as_("manager"))
    assert problem(late, 409, "invalid_transition")["current_status"] == "agreed"


async def test_who_may_agree_to_a_goal(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    await set_reports(client, auth, "direct")
    goal = await create_goal(client, auth, org.ids["employee"], conversation_ids=[org.coached])
    url = f"/v1/goals/{goal['id']}/agree"
    problem(await client.post(url, headers=org.as_("skip")), 404, "not_found")
    for role in ("manager", "mentor", "coach"):
        response = await client.post(url, headers=org.as_(role))
        assert response.status_code == 200, (role, response.text)
        assert response.json()["agreement"]["facilitator_id"] == org.ids["manager"]


async def test_the_platform_still_names_the_party(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    goal = await create_goal(client, auth, org.ids["employee"])
    url = f"/v1/goals/{goal['id']}/agree"
    missing = {
        "detail": "Field required (optional only with Acting-Person).",
        "code": "required_as_platform",
    }
    for body, fields in (
        (None, ["party", "person_id"]),
        ({}, ["party", "person_id"]),
        ({"party": "employee"}, ["person_id"]),
        ({"person_id": org.ids["employee"]}, ["party"]),
    ):
        response = await client.post(url, json=body, headers=auth)
        refused = problem(response, 422, "validation_failed")
        assert refused["detail"] == f"{len(fields)} field(s) failed validation."
        assert refused["errors"] == [{"pointer": f"/body/{f}", **missing} for f in fields]
    agreed = await client.post(
        url, json={"party": "employee", "person_id": org.ids["employee"]}, headers=auth
    )
    assert agreed.status_code == 200, agreed.text


# -------------------------------------------------------------------------- action plans


@pytest.mark.parametrize(
    ("mode", "managers"),
    [("chain", {"manager", "skip"}), ("direct", {"manager"}), ("none", {"manager"})],
)
async def test_who_sees_an_action_plan(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org, mode: str, managers: set[str]
) -> None:
    """The manager facilitates the plan's conversation: they see it whatever the setting."""
    await set_reports(client, auth, mode)
    plan = await create_plan(client, auth, org.ids["employee"], conversation_id=org.conversation)
    assert await seen_by(client, org, "/v1/action-plans", plan["id"]) == {"employee"} | managers
    item = await create_item(client, auth, plan["id"], org.ids["colleague"])
    assert (
        await seen_by(client, org, "/v1/action-plans", plan["id"])
        == {
            "employee",
            "colleague",
        }
        | managers
    )
    items = f"/v1/action-plans/{plan['id']}/items"
    for role in ROLES:
        one = await client.get(f"{items}/{item['id']}", headers=org.as_(role))
        listed = await client.get(items, headers=org.as_(role))
        everywhere = await client.get("/v1/action-items", headers=org.as_(role))
        seen = role in {"employee", "colleague"} | managers
        assert one.status_code == listed.status_code == (200 if seen else 404), role
        assert [i["id"] for i in everywhere.json()["data"]] == ([item["id"]] if seen else [])


async def test_who_may_create_an_action_plan(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = {"owner_id": org.ids["employee"], "title": "Steps to tech lead"}
    for role, extra in (
        ("employee", {}),
        ("manager", {}),
        ("skip", {}),
        ("coach", {"conversation_id": org.coached}),
    ):
        created = await client.post(
            "/v1/action-plans", json={**body, **extra}, headers=org.as_(role)
        )
        assert created.status_code == 201, (role, created.text)
    refused = await client.post("/v1/action-plans", json=body, headers=org.as_("mentor"))
    assert problem(refused, 403, "not_permitted")["detail"] == (
        "Only the plan's owner, a manager of the owner or the facilitator of its conversation "
        "may change this action plan."
    )
    # References the person does not see are a 422, like unknown ids.
    goal = await create_goal(client, auth, org.ids["employee"])
    cases = (
        ("mentor", {"conversation_id": org.conversation}, "conversation_id", "conversation"),
        ("colleague", {"goal_id": goal["id"]}, "goal_id", "goal"),
    )
    for role, extra, field, label in cases:
        hidden = await client.post(
            "/v1/action-plans", json={**body, **extra}, headers=org.as_(role)
        )
        assert problem(hidden, 422, "validation_failed")["errors"] == [
            {
                "pointer": f"/body/{field}",
                "detail": f"No {label} with id {extra[field]} in this tenant.",
                "code": "unknown_reference",
            }
        ]


async def test_who_may_change_an_action_plan_and_its_items(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    plan = await create_plan(client, auth, org.ids["employee"], conversation_id=org.coached)
    theirs = await create_item(client, auth, plan["id"], org.ids["colleague"])
    owners = await create_item(client, auth, plan["id"], org.ids["employee"])
    url = f"/v1/action-plans/{plan['id']}"
    # The colleague sees the plan (an item is theirs) but may not change it: 403, before 412.
    stale = {**org.as_("colleague"), "If-Match": '"stale"'}
    problem(await client.patch(url, json={"title": "Mine"}, headers=stale), 403, "not_permitted")
    problem(await client.delete(url, headers=stale), 403, "not_permitted")
    adding = await client.post(
        f"{url}/items", json={"assignee_id": org.ids["colleague"], "title": "More"}, headers=stale
    )
    problem(adding, 403, "not_permitted")
    problem(await client.delete(f"{url}/items/{theirs['id']}", headers=stale), 403, "not_permitted")
    other = await client.patch(
        f"{url}/items/{owners['id']}", json={"status": "done"}, headers=stale
    )
    assert problem(other, 403, "not_permitted")["detail"] == (
        "Only the plan's owner, a manager of the owner or the facilitator of its conversation, "
        "or its assignee, may change this action item."
    )
    # ... but completes their own item.
    done = await client.patch(
        f"{url}/items/{theirs['id']}", json={"status": "done"}, headers=org.as_("colleague")
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    # The mentor does not see it at all.
    hidden = await client.patch(url, json={"title": "Mine"}, headers=org.as_("mentor"))
    problem(hidden, 404, "not_found")
    # The coach facilitates its conversation; a skip-level manager manages the owner; an item
    # may be assigned to anyone in the tenant.
    renamed = await client.patch(url, json={"title": "Coached"}, headers=org.as_("coach"))
    assert renamed.status_code == 200, renamed.text
    added = await client.post(
        f"{url}/items",
        json={"assignee_id": org.ids["mentor"], "title": "Ask the mentor"},
        headers=org.as_("skip"),
    )
    assert added.status_code == 201, added.text
    # Moving the plan away to one they could not have created is refused too.
    moved = await client.patch(
        url, json={"owner_id": org.ids["mentor"]}, headers=org.as_("employee")
    )
    problem(moved, 403, "not_permitted")
    deleted = await client.delete(url, headers=org.as_("manager"))
    assert deleted.status_code == 204, deleted.text


# ---------------------------------------------------------------------------- follow-ups


async def test_follow_ups_by_person(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = {
        "conversation_id": org.conversation,
        "assignee_id": org.ids["colleague"],
        "due_at": "2030-01-01T09:00:00Z",
    }
    created = await client.post("/v1/follow-ups", json=body, headers=org.as_("employee"))
    assert created.status_code == 201, created.text
    follow_up = created.json()
    assert await seen_by(client, org, "/v1/follow-ups", follow_up["id"]) == {
        "employee",
        "manager",
        "colleague",
    }
    # The skip-level manager sees the conversation but is not a party: 403; the mentor does
    # not see it: 422.
    refused = await client.post("/v1/follow-ups", json=body, headers=org.as_("skip"))
    assert problem(refused, 403, "not_permitted")["detail"] == (
        "Only a party of the conversation (its employee or facilitator) may create its follow-ups."
    )
    hidden = await client.post("/v1/follow-ups", json=body, headers=org.as_("mentor"))
    assert problem(hidden, 422, "validation_failed")["errors"][0]["pointer"] == (
        "/body/conversation_id"
    )
    url = f"/v1/follow-ups/{follow_up['id']}"
    for response in (
        await client.patch(url, json={"note": "x"}, headers=org.as_("skip")),
        await client.post(f"{url}/complete", headers=org.as_("skip")),
        await client.post(f"{url}/cancel", headers=org.as_("mentor")),
        await client.delete(url, headers=org.as_("skip")),
    ):
        assert problem(response, 404, "not_found")["detail"] == (
            f"No follow-up with id {follow_up['id']}."
        )
    # The assignee and the parties may change it.
    noted = await client.patch(url, json={"note": "Bring the plan"}, headers=org.as_("colleague"))
    assert noted.status_code == 200, noted.text
    done = await client.post(f"{url}/complete", headers=org.as_("colleague"))
    assert done.json()["status"] == "completed"
    again = await client.post(f"{url}/cancel", headers=org.as_("manager"))
    assert problem(again, 409, "invalid_transition")["current_status"] == "completed"
    deleted = await client.delete(url, headers=org.as_("employee"))
    assert deleted.status_code == 204, deleted.text


async def test_reassigned_follow_up_leaves_the_old_assignee(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = {
        "conversation_id": org.conversation,
        "assignee_id": org.ids["colleague"],
        "due_at": "2030-01-01T09:00:00Z",
    }
    follow_up = (await client.post("/v1/follow-ups", json=body, headers=auth)).json()
    url = f"/v1/follow-ups/{follow_up['id']}"
    moved = await client.patch(
        url, json={"assignee_id": org.ids["mentor"]}, headers=org.as_("colleague")
    )
    assert moved.status_code == 200, moved.text
    problem(await client.get(url, headers=org.as_("colleague")), 404, "not_found")
    assert (await client.get(url, headers=org.as_("mentor"))).status_code == 200
