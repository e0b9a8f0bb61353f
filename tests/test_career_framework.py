"""The career framework: competencies and career tracks (CRUD, unique names, batches of
500 and all-or-nothing failures), competency_ids on goals and feedback, delete in use."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_feedback import create_feedback
from tests.factories_goals import count_statements, create_goal

Client = httpx.AsyncClient


async def create_competency(client: Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "System design", "category": "Engineering", **fields}
    response = await client.post("/v1/competencies", json=body, headers=auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_track(client: Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Engineering", "levels": [{"name": "Engineer"}], **fields}
    response = await client.post("/v1/career-tracks", json=body, headers=auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def errors(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["pointer"], e["code"]) for e in response.json()["errors"]]


async def count(client: Client, auth: dict[str, str], path: str) -> int:
    return len((await client.get(path, params={"limit": 100}, headers=auth)).json()["data"])


# Competencies


async def test_competency_crud(client: Client, auth: dict[str, str]) -> None:
    created = await client.post(
        "/v1/competencies",
        json={"name": "System design", "description": "Designs services.", "category": "Eng"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    url = f"/v1/competencies/{body['id']}"
    assert created.headers["location"] == url
    assert {k: body[k] for k in ("name", "description", "category", "external_id")} == {
        "name": "System design",
        "description": "Designs services.",
        "category": "Eng",
        "external_id": None,
    }
    got = await client.get(url, headers=auth)
    assert (got.status_code, got.json(), got.headers["etag"]) == (
        200,
        body,
        created.headers["etag"],
    )
    stale = await client.patch(url, json={"category": "X"}, headers={**auth, "If-Match": '"nope"'})
    assert stale.status_code == 412
    patched = await client.patch(
        url, json={"category": "Craft"}, headers={**auth, "If-Match": got.headers["etag"]}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["category"], patched.json()["name"]) == ("Craft", "System design")
    assert (await client.patch(url, json={"name": None}, headers=auth)).status_code == 422
    deleted = await client.delete(url, headers=auth)
    assert deleted.status_code == 204
    assert (await client.get(url, headers=auth)).status_code == 404
    types = [
        e["type"]
        for e in (await client.get("/v1/events", headers=auth)).json()["data"]
        if e["subject_type"] == "competency"
    ]
    assert types == [
        "competency.created",
        "competency.updated",
        "competency.deleted",
    ]  # oldest first


async def test_names_are_unique_ignoring_case(client: Client, auth: dict[str, str]) -> None:
    first = await create_competency(client, auth, name="System design")
    clash = await client.post("/v1/competencies", json={"name": "SYSTEM DESIGN"}, headers=auth)
    assert clash.status_code == 409, clash.text
    assert clash.json()["conflicting_id"] == first["id"]
    assert errors(clash) == [("/body/name", "name_taken")]
    other = await create_competency(client, auth, name="Mentoring")
    renamed = await client.patch(
        f"/v1/competencies/{other['id']}", json={"name": "system Design"}, headers=auth
    )
    assert renamed.status_code == 409
    # the same name in another case for itself is fine
    recased = await client.patch(
        f"/v1/competencies/{first['id']}", json={"name": "System Design"}, headers=auth
    )
    assert (recased.status_code, recased.json()["name"]) == (200, "System Design")


async def test_list_filters_newest_first(client: Client, auth: dict[str, str]) -> None:
    a = await create_competency(client, auth, name="A", category="Eng")
    b = await create_competency(client, auth, name="B", category="Lead")
    c = await create_competency(client, auth, name="C", category="Eng")
    page = (await client.get("/v1/competencies", headers=auth)).json()
    assert [x["id"] for x in page["data"]] == [c["id"], b["id"], a["id"]]
    eng = await client.get("/v1/competencies", params={"category": "Eng"}, headers=auth)
    assert [x["id"] for x in eng.json()["data"]] == [c["id"], a["id"]]
    since = await client.get(
        "/v1/competencies", params={"updated_since": c["updated_at"]}, headers=auth
    )
    assert [x["id"] for x in since.json()["data"]] == [c["id"]]


async def test_people_read_only_the_platform_writes(client: Client, auth: dict[str, str]) -> None:
    ada = await create_person(client, auth)
    as_ada = {**auth, "Acting-Person": ada["id"]}
    competency = await create_competency(client, auth)
    track = await create_track(client, auth)
    got = await client.get(f"/v1/competencies/{competency['id']}", headers=as_ada)
    assert (got.status_code, got.json()) == (200, competency)
    got = await client.get(f"/v1/career-tracks/{track['id']}", headers=as_ada)
    assert (got.status_code, got.json()) == (200, track)
    refused = [
        await client.post("/v1/competencies", json={"name": "X"}, headers=as_ada),
        await client.patch(
            f"/v1/competencies/{competency['id']}", json={"name": "Y"}, headers=as_ada
        ),
        await client.delete(f"/v1/career-tracks/{track['id']}", headers=as_ada),
    ]
    assert [(r.status_code, r.json()["code"]) for r in refused] == [(403, "not_permitted")] * 3
    # their events too: the framework is the tenant's, everyone sees it change
    feed = (await client.get("/v1/events", headers=as_ada)).json()["data"]
    assert [(e["type"], e["subject_id"]) for e in feed if e["subject_type"] != "person"] == [
        ("competency.created", competency["id"]),
        ("career_track.created", track["id"]),
    ]


async def test_batch_is_not_an_id(client: Client, auth: dict[str, str]) -> None:
    """``/batch`` beside ``/{id}``: ids in the path are uuids, so other methods on ``/batch``
    are a 405 naming POST, and a malformed id matches no route."""
    answers = []
    for path in ("/v1/competencies", "/v1/career-tracks"):
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.request(method, f"{path}/batch", headers=auth)
            answers.append((response.status_code, response.headers.get("allow")))
        response = await client.get(f"{path}/nope", headers=auth)
        answers.append((response.status_code, response.headers["content-type"]))
    assert answers == [
        *[(405, "POST")] * 3,
        (404, "application/problem+json"),
        *[(405, "POST")] * 3,
        (404, "application/problem+json"),
    ]


# Batches


async def test_batch_of_500_competencies(client: Client, auth: dict[str, str]) -> None:
    items = [{"name": f"Competency {i:03}", "category": "Bulk"} for i in range(500)]
    response = await client.post("/v1/competencies/batch", json={"items": items}, headers=auth)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert [c["name"] for c in data] == [f"Competency {i:03}" for i in range(500)]
    one = await client.get(f"/v1/competencies/{data[17]['id']}", headers=auth)
    assert one.json() == data[17]
    too_many = await client.post(
        "/v1/competencies/batch", json={"items": [*items, {"name": "x"}]}, headers=auth
    )
    assert too_many.status_code == 422


async def test_failing_batch_changes_nothing(client: Client, auth: dict[str, str]) -> None:
    await create_competency(client, auth, name="Taken")
    events_before = len((await client.get("/v1/events", headers=auth)).json()["data"])
    items = [{"name": f"N{i}"} for i in range(30)]
    bad = [*items[:17], {"name": ""}, *items[17:]]
    invalid = await client.post("/v1/competencies/batch", json={"items": bad}, headers=auth)
    assert invalid.status_code == 422
    assert [e["pointer"] for e in invalid.json()["errors"]] == ["/body/items/17/name"]
    taken = [*items[:17], {"name": "taken"}, *items[17:]]
    clash = await client.post("/v1/competencies/batch", json={"items": taken}, headers=auth)
    assert (clash.status_code, errors(clash)) == (409, [("/body/items/17/name", "name_taken")])
    twice = [*items, {"name": "n3"}]
    dup = await client.post("/v1/competencies/batch", json={"items": twice}, headers=auth)
    assert (dup.status_code, errors(dup)) == (422, [("/body/items/30/name", "duplicate")])
    assert await count(client, auth, "/v1/competencies") == 1
    events_after = len((await client.get("/v1/events", headers=auth)).json()["data"])
    assert events_after == events_before


async def test_track_batch(client: Client, auth: dict[str, str]) -> None:
    skill = await create_competency(client, auth)
    expects = [{"competency_id": skill["id"], "expectation": "Designs a service."}]
    items = [
        {"name": f"Track {i}", "levels": [{"name": "L1"}, {"name": "L2", "expectations": expects}]}
        for i in range(500)
    ]
    response = await client.post("/v1/career-tracks/batch", json={"items": items}, headers=auth)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert [t["name"] for t in data] == [f"Track {i}" for i in range(500)]
    assert [(lv["position"], lv["name"], lv["expectations"]) for lv in data[3]["levels"]] == [
        (0, "L1", []),
        (1, "L2", expects),
    ]
    got = await client.get(f"/v1/career-tracks/{data[3]['id']}", headers=auth)
    assert got.json() == data[3]
    unknown = str(uuid.uuid4())
    bad = [
        {"name": "Fine", "levels": [{"name": "L"}]},
        {
            "name": "Bad",
            "levels": [
                {"name": "L"},
                {"name": "M", "expectations": [{"competency_id": unknown, "expectation": "x"}]},
            ],
        },
    ]
    refused = await client.post("/v1/career-tracks/batch", json={"items": bad}, headers=auth)
    assert (refused.status_code, errors(refused)) == (
        422,
        [("/body/items/1/levels/1/expectations/0/competency_id", "unknown_reference")],
    )
    newest = await client.get("/v1/career-tracks", params={"limit": 1}, headers=auth)
    assert newest.json()["data"] == [data[-1]]  # "Fine" was not created


# Career tracks


async def test_track_crud_and_level_ids(client: Client, auth: dict[str, str]) -> None:
    skill = await create_competency(client, auth)
    expects = [{"competency_id": skill["id"], "expectation": "Leads a design."}]
    track = await create_track(
        client,
        auth,
        name="Engineering",
        description="ICs",
        levels=[{"name": "Engineer"}, {"name": "Senior", "expectations": expects}],
    )
    first, second = track["levels"]
    assert (first["position"], first["name"], first["description"]) == (0, "Engineer", None)
    assert (second["position"], second["expectations"]) == (1, expects)
    url = f"/v1/career-tracks/{track['id']}"
    # keep "Senior" (now first) by its id, drop "Engineer", add "Staff"
    patched = await client.patch(
        url,
        json={"levels": [{"id": second["id"], "name": "Senior"}, {"name": "Staff"}]},
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    levels = patched.json()["levels"]
    assert [(lv["id"] == second["id"], lv["position"], lv["name"]) for lv in levels] == [
        (True, 0, "Senior"),
        (False, 1, "Staff"),
    ]
    assert levels[0]["expectations"] == []
    assert (await client.get(url, headers=auth)).json() == patched.json()
    foreign_level = await client.patch(
        url, json={"levels": [{"id": first["id"], "name": "Gone"}]}, headers=auth
    )
    assert (foreign_level.status_code, errors(foreign_level)) == (
        422,
        [("/body/levels/0/id", "unknown_reference")],
    )
    renamed = await client.patch(url, json={"name": "Eng"}, headers=auth)
    assert (renamed.json()["name"], renamed.json()["levels"]) == ("Eng", levels)
    assert (await client.delete(url, headers={**auth, "If-Match": '"x"'})).status_code == 412
    assert (await client.delete(url, headers=auth)).status_code == 204
    assert (await client.get(url, headers=auth)).status_code == 404
    types = [
        e["type"]
        for e in (await client.get("/v1/events", headers=auth)).json()["data"]
        if e["subject_type"] == "career_track"
    ]
    assert types == [
        "career_track.created",
        "career_track.updated",
        "career_track.updated",
        "career_track.deleted",
    ]


async def test_track_expectation_references(
    client: Client, auth: dict[str, str], other_tenant: TenantKey
) -> None:
    theirs = await create_competency(client, other_tenant.headers)
    body = {
        "name": "T",
        "levels": [
            {"name": "L", "expectations": [{"competency_id": theirs["id"], "expectation": "x"}]}
        ],
    }
    response = await client.post("/v1/career-tracks", json=body, headers=auth)
    assert (response.status_code, errors(response)) == (
        422,
        [("/body/levels/0/expectations/0/competency_id", "unknown_reference")],
    )


# competency_ids on goals and feedback


async def test_goals_and_feedback_carry_competencies(
    client: Client, auth: dict[str, str], other_tenant: TenantKey
) -> None:
    a = await create_competency(client, auth, name="A")
    b = await create_competency(client, auth, name="B")
    ada = await create_person(client, auth, name="Ada")
    bob = await create_person(client, auth, name="Bob")
    goal = await create_goal(client, auth, ada["id"], competency_ids=[a["id"], b["id"], a["id"]])
    assert goal["competency_ids"] == [a["id"], b["id"]]
    other_goal = await create_goal(client, auth, ada["id"])
    assert other_goal["competency_ids"] == []
    feedback = await create_feedback(client, auth, bob["id"], ada["id"], competency_ids=[b["id"]])
    assert feedback["competency_ids"] == [b["id"]]
    goals = await client.get("/v1/goals", params={"competency_id": a["id"]}, headers=auth)
    assert [g["id"] for g in goals.json()["data"]] == [goal["id"]]
    listed = await client.get("/v1/feedback", params={"competency_id": b["id"]}, headers=auth)
    assert [f["id"] for f in listed.json()["data"]] == [feedback["id"]]
    none = await client.get("/v1/feedback", params={"competency_id": a["id"]}, headers=auth)
    assert none.json()["data"] == []
    patched = await client.patch(
        f"/v1/goals/{goal['id']}", json={"competency_ids": [b["id"]]}, headers=auth
    )
    assert patched.json()["competency_ids"] == [b["id"]]
    assert (await client.get(f"/v1/goals/{goal['id']}", headers=auth)).json() == patched.json()
    fb = await client.patch(
        f"/v1/feedback/{feedback['id']}", json={"competency_ids": [a["id"]]}, headers=auth
    )
    assert fb.json()["competency_ids"] == [a["id"]]

    unknown, theirs = str(uuid.uuid4()), (await create_competency(client, other_tenant.headers))
    for ident in (unknown, theirs["id"]):
        bad_goal = await client.post(
            "/v1/goals",
            json={"owner_id": ada["id"], "title": "T", "competency_ids": [a["id"], ident]},
            headers=auth,
        )
        assert (bad_goal.status_code, errors(bad_goal)) == (
            422,
            [("/body/competency_ids/1", "unknown_reference")],
        )
        bad_patch = await client.patch(
            f"/v1/goals/{goal['id']}", json={"competency_ids": [ident]}, headers=auth
        )
        assert (bad_patch.status_code, errors(bad_patch)) == (
            422,
            [("/body/competency_ids/0", "unknown_reference")],
        )
        bad_feedback = await client.post(
            "/v1/feedback",
            json={
                "giver_id": bob["id"],
                "recipient_id": ada["id"],
                "kind": "strength",
                "body": "x",
                "competency_ids": [ident],
            },
            headers=auth,
        )
        assert (bad_feedback.status_code, errors(bad_feedback)) == (
            422,
            [("/body/competency_ids/0", "unknown_reference")],
        )
    too_many = [a["id"]] * 21
    refused = await client.post(
        "/v1/goals",
        json={"owner_id": ada["id"], "title": "T", "competency_ids": too_many},
        headers=auth,
    )
    assert refused.status_code == 422


async def test_delete_in_use(client: Client, auth: dict[str, str]) -> None:
    used_by_goal = await create_competency(client, auth, name="G")
    used_by_feedback = await create_competency(client, auth, name="F")
    used_by_level = await create_competency(client, auth, name="L")
    ada = await create_person(client, auth, name="Ada")
    bob = await create_person(client, auth, name="Bob")
    goal = await create_goal(client, auth, ada["id"], competency_ids=[used_by_goal["id"]])
    feedback = await create_feedback(
        client, auth, bob["id"], ada["id"], competency_ids=[used_by_feedback["id"]]
    )
    track = await create_track(
        client,
        auth,
        levels=[
            {
                "name": "L",
                "expectations": [{"competency_id": used_by_level["id"], "expectation": "x"}],
            }
        ],
    )
    answers = []
    for competency in (used_by_goal, used_by_feedback, used_by_level):
        response = await client.delete(f"/v1/competencies/{competency['id']}", headers=auth)
        answers.append(
            (response.status_code, response.json()["code"], response.json()["referenced_by"])
        )
    assert answers == [
        (409, "in_use", ["goals"]),
        (409, "in_use", ["feedback"]),
        (409, "in_use", ["career track levels"]),
    ]
    await client.patch(f"/v1/goals/{goal['id']}", json={"competency_ids": []}, headers=auth)
    await client.patch(f"/v1/feedback/{feedback['id']}", json={"competency_ids": []}, headers=auth)
    await client.patch(
        f"/v1/career-tracks/{track['id']}", json={"levels": [{"name": "L"}]}, headers=auth
    )
    for competency in (used_by_goal, used_by_feedback, used_by_level):
        response = await client.delete(f"/v1/competencies/{competency['id']}", headers=auth)
        assert response.status_code == 204, response.text


async def test_reads_cost_one_statement_whatever_the_size(
    client: Client, auth: dict[str, str], engine: AsyncEngine, connection: AsyncConnection
) -> None:
    skill = await create_competency(client, auth)
    expects = [{"competency_id": skill["id"], "expectation": "x"}]
    small = await create_track(client, auth, levels=[{"name": "L"}])
    large = await create_track(
        client, auth, levels=[{"name": f"L{i}", "expectations": expects * 5} for i in range(30)]
    )

    async def count(url: str) -> int:
        await client.get(url, headers=auth)  # warm up (key last-used, …)
        async with count_statements(engine, connection) as statements:
            response = await client.get(url, headers=auth)
        assert response.status_code == 200
        return len(statements)

    assert await count(f"/v1/career-tracks/{small['id']}") == await count(
        f"/v1/career-tracks/{large['id']}"
    )
    assert await count("/v1/career-tracks") == await count("/v1/competencies")
    three = await count("/v1/career-tracks")
    await client.post(
        "/v1/career-tracks/batch",
        json={"items": [{"name": f"T{i}", "levels": [{"name": "L"}]} for i in range(20)]},
        headers=auth,
    )
    assert await count("/v1/career-tracks") == three
