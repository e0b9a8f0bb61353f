"""Agenda templates: CRUD, the built-ins every tenant has, copies, and templates put on a
conversation's agenda at create and at schedule."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_agenda_item, create_conversation
from tests.factories_feedback import in_days

Client = httpx.AsyncClient
CAREER = "00000000-0000-7000-8000-00000000a001"
MENTORSHIP = "00000000-0000-7000-8000-00000000a002"
STAY = "00000000-0000-7000-8000-00000000a003"
BUILTIN_TIME = "2026-01-01T00:00:00Z"

CAREER_ITEMS = [
    {
        "category": "aspirations",
        "title": "Aspirations",
        "prompt": "Where would you like your career to be in two to three years, and what "
        "draws you there?",
    },
    {
        "category": "strengths",
        "title": "Strengths",
        "prompt": "Which strengths do you want to use more, and where did they make a "
        "difference recently?",
    },
    {
        "category": "growth_areas",
        "title": "Areas for growth",
        "prompt": "Which skills or experiences would bring you closest to your goals?",
    },
    {
        "category": "opportunities",
        "title": "Opportunities",
        "prompt": "Which projects, roles or stretch assignments here could move you forward, "
        "and what can the organisation realistically offer?",
    },
    {
        "category": "feedback",
        "title": "Feedback and support",
        "prompt": "What honest feedback do you have for each other, and what support do you "
        "need to take the next step?",
    },
    {
        "category": "other",
        "title": "Next steps",
        "prompt": "Which actionable steps will each of you take before the next conversation, "
        "and by when?",
    },
]
ITEMS = [
    {"category": "aspirations", "title": "Next role", "prompt": "Which role comes next?"},
    {"category": "feedback", "title": "Feedback", "prompt": None},
]


async def create_template(client: Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Quarterly", "kind": "career", "items": ITEMS, **fields}
    response = await client.post("/v1/agenda-templates", json=body, headers=auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_builtins_are_listed_with_their_items(client: Client, auth: dict[str, str]) -> None:
    response = await client.get("/v1/agenda-templates", headers=auth)
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["has_more"], page["next_cursor"]) == (False, None)
    assert [(t["id"], t["name"], t["kind"], t["builtin"]) for t in page["data"]] == [
        (STAY, "Stay conversation", "stay", True),
        (MENTORSHIP, "Mentorship conversation", "mentorship", True),
        (CAREER, "Career conversation", "career", True),
    ]
    career = page["data"][2]
    assert career == {
        "id": CAREER,
        "external_id": None,
        "metadata": {},
        "created_at": BUILTIN_TIME,
        "updated_at": BUILTIN_TIME,
        "name": "Career conversation",
        "kind": "career",
        "description": "The key elements of a career conversation, in order: aspirations, "
        "strengths, areas for growth, opportunities, feedback and support, then the next steps.",
        "builtin": True,
        "items": CAREER_ITEMS,
    }
    one = await client.get(f"/v1/agenda-templates/{CAREER}", headers=auth)
    assert one.status_code == 200
    assert one.json() == career
    assert one.headers["etag"]


async def test_crud(client: Client, auth: dict[str, str]) -> None:
    created = await client.post(
        "/v1/agenda-templates",
        json={
            "name": "Quarterly",
            "kind": "skip_level",
            "description": "Ours",
            "items": ITEMS,
            "external_id": "T-1",
            "metadata": {"k": "v"},
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert created.headers["location"] == f"/v1/agenda-templates/{template['id']}"
    assert template == {
        "id": template["id"],
        "external_id": "T-1",
        "metadata": {"k": "v"},
        "created_at": template["created_at"],
        "updated_at": template["updated_at"],
        "name": "Quarterly",
        "kind": "skip_level",
        "description": "Ours",
        "builtin": False,
        "items": ITEMS,
    }
    path = f"/v1/agenda-templates/{template['id']}"
    fetched = await client.get(path, headers=auth)
    assert (fetched.json(), fetched.headers["etag"]) == (template, created.headers["etag"])

    listed = (await client.get("/v1/agenda-templates", headers=auth)).json()["data"]
    assert [t["id"] for t in listed] == [template["id"], STAY, MENTORSHIP, CAREER]
    for query, ids in [
        ("builtin=false", [template["id"]]),
        ("builtin=true", [STAY, MENTORSHIP, CAREER]),
        ("kind=skip_level", [template["id"]]),
        ("kind=career", [CAREER]),
        (f"updated_since={template['updated_at']}", [template["id"]]),
    ]:
        page = (await client.get(f"/v1/agenda-templates?{query}", headers=auth)).json()
        assert [t["id"] for t in page["data"]] == ids, query

    duplicate = await client.post(
        "/v1/agenda-templates",
        json={"name": "X", "items": ITEMS, "external_id": "T-1"},
        headers=auth,
    )
    assert duplicate.status_code == 409

    stale = created.headers["etag"]
    patched = await client.patch(
        path,
        json={"name": "Half-yearly", "items": ITEMS[:1]},
        headers={**auth, "If-Match": stale},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json() == {
        **template,
        "name": "Half-yearly",
        "items": ITEMS[:1],
        "updated_at": patched.json()["updated_at"],
    }
    assert patched.headers["etag"] != stale
    again = await client.get(path, headers=auth)
    assert (again.json(), again.headers["etag"]) == (patched.json(), patched.headers["etag"])
    refused = await client.patch(path, json={"name": "Z"}, headers={**auth, "If-Match": stale})
    assert refused.status_code == 412
    defaults = await client.patch(path, json={"items": [{"title": "Only"}]}, headers=auth)
    assert defaults.json()["items"] == [{"category": "other", "title": "Only", "prompt": None}]
    patched = defaults
    nulled = await client.patch(path, json={"items": None}, headers=auth)
    assert (nulled.status_code, nulled.json()["errors"][0]["pointer"]) == (422, "/body/items")

    deleted = await client.delete(path, headers={**auth, "If-Match": patched.headers["etag"]})
    assert deleted.status_code == 204
    assert (await client.get(path, headers=auth)).status_code == 404
    assert (await client.delete(path, headers=auth)).status_code == 404


async def test_bounds(client: Client, auth: dict[str, str]) -> None:
    item = {"category": "other", "title": "T"}
    for body, pointer in [
        ({"name": "X", "items": []}, "/body/items"),
        ({"name": "X", "items": [item] * 31}, "/body/items"),
        ({"name": "", "items": [item]}, "/body/name"),
        ({"name": "X" * 201, "items": [item]}, "/body/name"),
        ({"name": "X", "items": [{**item, "title": "x" * 501}]}, "/body/items/0/title"),
        ({"name": "X", "items": [{**item, "prompt": "x" * 2001}]}, "/body/items/0/prompt"),
        ({"name": "X", "items": [{**item, "category": "pay"}]}, "/body/items/0/category"),
        ({"name": "X", "items": [{**item, "extra": 1}]}, "/body/items/0/extra"),
        ({"name": "X", "kind": "weekly", "items": [item]}, "/body/kind"),
    ]:
        response = await client.post("/v1/agenda-templates", json=body, headers=auth)
        assert response.status_code == 422, (body, response.text)
        assert [e["pointer"] for e in response.json()["errors"]] == [pointer], body
    ok = await create_template(client, auth, items=[item] * 30)
    assert len(ok["items"]) == 30
    assert ok["items"][0] == {"category": "other", "title": "T", "prompt": None}


async def test_builtins_are_read_only_and_copied(client: Client, auth: dict[str, str]) -> None:
    path = f"/v1/agenda-templates/{CAREER}"
    for response in (
        await client.patch(path, json={"name": "Mine"}, headers=auth),
        await client.delete(path, headers=auth),
    ):
        assert response.status_code == 409
        assert response.json()["code"] == "builtin_template"
    assert (await client.get(path, headers=auth)).json()["name"] == "Career conversation"

    copied = await client.post(f"{path}/copy", headers=auth)
    assert copied.status_code == 201, copied.text
    copy = copied.json()
    assert copied.headers["location"] == f"/v1/agenda-templates/{copy['id']}"
    assert copy["id"] != CAREER
    assert (copy["name"], copy["kind"], copy["builtin"], copy["items"]) == (
        "Career conversation (copy)",
        "career",
        False,
        CAREER_ITEMS,
    )
    edited = await client.patch(
        f"/v1/agenda-templates/{copy['id']}", json={"items": CAREER_ITEMS[:2]}, headers=auth
    )
    assert edited.json()["items"] == CAREER_ITEMS[:2]

    named = await client.post(
        f"/v1/agenda-templates/{copy['id']}/copy",
        json={"name": "Second", "external_id": "C-2"},
        headers=auth,
    )
    assert named.status_code == 201, named.text
    assert (named.json()["name"], named.json()["external_id"], named.json()["items"]) == (
        "Second",
        "C-2",
        CAREER_ITEMS[:2],
    )
    missing = await client.post(f"/v1/agenda-templates/{uuid.uuid4()}/copy", headers=auth)
    assert missing.status_code == 404


async def test_another_tenants_template(
    client: Client, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    mine = await create_template(client, tenant.headers)
    theirs = other_tenant.headers
    assert (
        await client.get(f"/v1/agenda-templates/{mine['id']}", headers=theirs)
    ).status_code == 404
    listed = (await client.get("/v1/agenda-templates", headers=theirs)).json()["data"]
    assert [t["id"] for t in listed] == [STAY, MENTORSHIP, CAREER]
    conversation = await create_conversation(client, theirs)
    for response in (
        await client.post(
            "/v1/conversations",
            json={
                "employee_id": conversation["employee_id"],
                "facilitator_id": conversation["facilitator_id"],
                "template_id": mine["id"],
            },
            headers=theirs,
        ),
        await client.post(
            f"/v1/conversations/{conversation['id']}/schedule",
            json={"scheduled_start": in_days(3), "template_id": mine["id"]},
            headers=theirs,
        ),
    ):
        assert response.status_code == 422, response.text
        assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [
            ("/body/template_id", "unknown_reference")
        ]
    still = await client.get(f"/v1/conversations/{conversation['id']}", headers=theirs)
    assert (still.json()["status"], still.json()["agenda_items"]) == ("draft", [])


def template_items(agenda: list[dict[str, Any]], template_id: str) -> list[tuple[Any, ...]]:
    return [
        (
            i["position"],
            i["author_id"],
            i["template_id"],
            i["category"],
            i["topic"],
            i["prompt"],
            i["visibility"],
            i["discussed"],
        )
        for i in agenda
        if i["template_id"] == template_id
    ]


async def test_template_on_create(client: Client, auth: dict[str, str]) -> None:
    ada = await create_person(client, auth, name="Ada")
    grace = await create_person(client, auth, name="Grace")
    created = await client.post(
        "/v1/conversations",
        json={"employee_id": ada["id"], "facilitator_id": grace["id"], "template_id": CAREER},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    conversation = created.json()
    assert template_items(conversation["agenda_items"], CAREER) == [
        (n, grace["id"], CAREER, i["category"], i["title"], i["prompt"], "shared", False)
        for n, i in enumerate(CAREER_ITEMS)
    ]
    path = f"/v1/conversations/{conversation['id']}"
    read = await client.get(path, headers=auth)
    assert (read.json(), read.headers["etag"]) == (conversation, created.headers["etag"])
    items = await client.get(f"{path}/agenda-items", headers=auth)
    assert items.json()["data"] == conversation["agenda_items"]
    events = (await client.get("/v1/events?limit=100", headers=auth)).json()["data"]
    assert events[-1]["type"] == "conversation.created"
    assert events[-1]["data"] == conversation

    # A tenant's own template, and an unknown id
    own = await create_template(client, auth)
    second = await client.post(
        "/v1/conversations",
        json={"employee_id": ada["id"], "facilitator_id": grace["id"], "template_id": own["id"]},
        headers=auth,
    )
    assert second.status_code == 201, second.text
    g = grace["id"]
    assert template_items(second.json()["agenda_items"], own["id"]) == [
        (0, g, own["id"], "aspirations", "Next role", "Which role comes next?", "shared", False),
        (1, g, own["id"], "feedback", "Feedback", None, "shared", False),
    ]
    unknown = await client.post(
        "/v1/conversations",
        json={
            "employee_id": ada["id"],
            "facilitator_id": grace["id"],
            "template_id": str(uuid.uuid4()),
        },
        headers=auth,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/body/template_id"


async def test_template_on_schedule(client: Client, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth)
    by_hand = await create_agenda_item(client, auth, conversation, topic="Pay")
    assert (by_hand["template_id"], by_hand["prompt"]) == (None, None)
    path = f"/v1/conversations/{conversation['id']}"
    unknown = await client.post(
        f"{path}/schedule",
        json={"scheduled_start": in_days(3), "template_id": str(uuid.uuid4())},
        headers=auth,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/body/template_id"

    scheduled = await client.post(
        f"{path}/schedule",
        json={"scheduled_start": in_days(3), "template_id": MENTORSHIP},
        headers=auth,
    )
    assert scheduled.status_code == 200, scheduled.text
    agenda = scheduled.json()["agenda_items"]
    assert [(i["position"], i["topic"], i["template_id"]) for i in agenda] == [
        (0, "Pay", None),
        (1, "Goals", MENTORSHIP),
        (2, "Challenges", MENTORSHIP),
        (3, "Opportunities and connections", MENTORSHIP),
        (4, "Feedback", MENTORSHIP),
    ]
    assert {i["author_id"] for i in agenda[1:]} == {conversation["facilitator_id"]}
    read = await client.get(path, headers=auth)
    assert (read.json(), read.headers["etag"]) == (scheduled.json(), scheduled.headers["etag"])
    events = (await client.get("/v1/events?limit=100", headers=auth)).json()["data"]
    data = events[-1]["data"]
    assert (events[-1]["type"], data) == (
        "conversation.scheduled",
        {**scheduled.json(), "ics": data["ics"]},  # the invitation rides along
    )
    # Scheduled: a second schedule is a transition error before the template is looked at
    again = await client.post(
        f"{path}/schedule", json={"template_id": str(uuid.uuid4())}, headers=auth
    )
    assert again.status_code == 409


async def test_a_template_must_fit_the_agenda(client: Client, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth)
    for n in range(97):
        await create_agenda_item(client, auth, conversation, topic=f"Item {n}")
    response = await client.post(
        f"/v1/conversations/{conversation['id']}/schedule",
        json={"scheduled_start": in_days(3), "template_id": STAY},
        headers=auth,
    )
    assert response.status_code == 409, response.text
    assert "at most 100" in response.json()["detail"]


async def test_as_a_person_read_yes_write_403(client: Client, auth: dict[str, str]) -> None:
    own = await create_template(client, auth)
    ada = await create_person(client, auth, name="Ada")
    grace = await create_person(client, auth, name="Grace")
    as_ada = {**auth, "Acting-Person": ada["id"]}
    listed = await client.get("/v1/agenda-templates", headers=as_ada)
    assert [t["id"] for t in listed.json()["data"]] == [own["id"], STAY, MENTORSHIP, CAREER]
    assert (await client.get(f"/v1/agenda-templates/{own['id']}", headers=as_ada)).json() == own
    for method, path, body in [
        ("post", "/v1/agenda-templates", {"name": "X", "items": ITEMS}),
        ("patch", f"/v1/agenda-templates/{own['id']}", {"name": "Y"}),
        ("delete", f"/v1/agenda-templates/{own['id']}", None),
        ("post", f"/v1/agenda-templates/{CAREER}/copy", {}),
    ]:
        response = await client.request(method, path, json=body, headers=as_ada)
        assert (response.status_code, response.json()["code"]) == (403, "not_permitted"), path
    # A person may still start their conversation from a template.
    created = await client.post(
        "/v1/conversations",
        json={"employee_id": ada["id"], "facilitator_id": grace["id"], "template_id": own["id"]},
        headers=as_ada,
    )
    assert created.status_code == 201, created.text
    assert [i["topic"] for i in created.json()["agenda_items"]] == ["Next role", "Feedback"]
