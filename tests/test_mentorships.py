from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import TenantKey, make_tenant
from tests.factories import create_person
from tests.factories_feedback import create_mentorship, event_types, events_of, people


async def test_create_and_get_mentorship(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    mentor, mentee = await people(client, auth, "Grace", "Ada")
    response = await client.post(
        "/v1/mentorships",
        json={
            "mentor_id": mentor["id"],
            "mentee_id": mentee["id"],
            "focus": "Staff engineer path",
            "external_id": "MENTOR-1",
            "metadata": {"program": "2025"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == f"/v1/mentorships/{created['id']}"
    assert created == {
        "id": created["id"],
        "external_id": "MENTOR-1",
        "metadata": {"program": "2025"},
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
        "mentor_id": mentor["id"],
        "mentee_id": mentee["id"],
        "focus": "Staff engineer path",
        "status": "active",
        "ended_at": None,
        "end_reason": None,
    }
    fetched = await client.get(f"/v1/mentorships/{created['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert fetched.headers["ETag"] == response.headers["ETag"]

    events = await events_of(client, auth, "mentorship.created")
    assert len(events) == 1
    assert events[0]["subject_type"] == "mentorship"
    assert events[0]["subject_id"] == created["id"]
    assert events[0]["data"] == created


async def test_invalid_parties_are_refused(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    auth = tenant.headers
    (ada,) = await people(client, auth, "Ada")
    theirs = await create_person(client, other_tenant.headers, name="Other")

    same = await client.post(
        "/v1/mentorships", json={"mentor_id": ada["id"], "mentee_id": ada["id"]}, headers=auth
    )
    assert same.status_code == 422
    assert [(e["pointer"], e["code"]) for e in same.json()["errors"]] == [
        ("/body/mentee_id", "same_person")
    ]

    foreign = await client.post(
        "/v1/mentorships", json={"mentor_id": theirs["id"], "mentee_id": ada["id"]}, headers=auth
    )
    assert foreign.status_code == 422
    assert [(e["pointer"], e["code"]) for e in foreign.json()["errors"]] == [
        ("/body/mentor_id", "unknown_reference")
    ]

    typo = await client.post(
        "/v1/mentorships",
        json={"mentor_id": ada["id"], "mentee_id": theirs["id"], "status": "paused", "x": 1},
        headers=auth,
    )
    assert typo.status_code == 422
    assert sorted(e["pointer"] for e in typo.json()["errors"]) == ["/body/status", "/body/x"]

    listed = await client.get("/v1/mentorships", headers=auth)
    assert listed.json() == {"data": [], "next_cursor": None, "has_more": False}
    assert await event_types(client, auth, "mentorship.created") == []


async def test_one_active_pair_per_mentor_and_mentee(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    mentor, mentee = await people(client, auth, "Grace", "Ada")
    first = await create_mentorship(client, auth, mentor["id"], mentee["id"])

    second = await client.post(
        "/v1/mentorships", json={"mentor_id": mentor["id"], "mentee_id": mentee["id"]}, headers=auth
    )
    assert second.status_code == 409
    assert second.json()["code"] == "conflict"
    assert second.json()["conflicting_id"] == first["id"]

    # The reverse pairing is another pair; a past (ended) pairing can be recorded alongside.
    reverse = await create_mentorship(client, auth, mentee["id"], mentor["id"])
    past = await create_mentorship(client, auth, mentor["id"], mentee["id"], status="ended")
    assert past["status"] == "ended"
    assert past["ended_at"] == past["created_at"]

    ended = await client.post(f"/v1/mentorships/{first['id']}/end", headers=auth)
    assert ended.status_code == 200
    again = await create_mentorship(client, auth, mentor["id"], mentee["id"])
    active = await client.get(
        "/v1/mentorships", params={"status": "active", "mentor_id": mentor["id"]}, headers=auth
    )
    assert [m["id"] for m in active.json()["data"]] == [again["id"]]
    assert reverse["status"] == "active"


async def test_end_and_refuse_to_end_twice(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    mentor, mentee = await people(client, auth, "Grace", "Ada")
    mentorship = await create_mentorship(client, auth, mentor["id"], mentee["id"])

    ended = await client.post(
        f"/v1/mentorships/{mentorship['id']}/end",
        json={"reason": "Ada joined Grace's team"},
        headers=auth,
    )
    assert ended.status_code == 200
    body = ended.json()
    assert body["status"] == "ended"
    assert body["end_reason"] == "Ada joined Grace's team"
    assert body["ended_at"] == body["updated_at"]
    assert ended.headers["ETag"] != ""

    twice = await client.post(f"/v1/mentorships/{mentorship['id']}/end", headers=auth)
    assert twice.status_code == 409
    problem = twice.json()
    assert problem["code"] == "invalid_transition"
    assert problem["current_status"] == "ended"
    assert problem["detail"] == "Cannot end a mentorship whose status is 'ended'."
    unchanged = await client.get(f"/v1/mentorships/{mentorship['id']}", headers=auth)
    assert unchanged.json() == body

    assert await event_types(client, auth) == [
        "person.created",
        "person.created",
        "mentorship.created",
        "mentorship.ended",
    ]
    (event,) = await events_of(client, auth, "mentorship.ended")
    assert event["data"] == body


async def test_update_with_if_match(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    mentor, mentee = await people(client, auth, "Grace", "Ada")
    mentorship = await create_mentorship(client, auth, mentor["id"], mentee["id"])
    read = await client.get(f"/v1/mentorships/{mentorship['id']}", headers=auth)
    etag = read.headers["ETag"]

    updated = await client.patch(
        f"/v1/mentorships/{mentorship['id']}",
        json={"focus": "Public speaking", "metadata": {"cohort": "B"}},
        headers={**auth, "If-Match": etag},
    )
    assert updated.status_code == 200
    assert updated.json()["focus"] == "Public speaking"
    assert updated.json()["metadata"] == {"cohort": "B"}
    assert updated.headers["ETag"] != etag

    stale = await client.patch(
        f"/v1/mentorships/{mentorship['id']}",
        json={"focus": "Something else"},
        headers={**auth, "If-Match": etag},
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"

    nulled = await client.patch(
        f"/v1/mentorships/{mentorship['id']}", json={"metadata": None}, headers=auth
    )
    assert nulled.status_code == 422
    assert nulled.json()["errors"][0]["pointer"] == "/body/metadata"
    status_is_an_action = await client.patch(
        f"/v1/mentorships/{mentorship['id']}", json={"status": "ended"}, headers=auth
    )
    assert status_is_an_action.status_code == 422

    same = await client.patch(
        f"/v1/mentorships/{mentorship['id']}", json={"focus": "Public speaking"}, headers=auth
    )
    assert same.json() == updated.json()
    current = await client.get(f"/v1/mentorships/{mentorship['id']}", headers=auth)
    assert current.json() == updated.json()
    events = await events_of(client, auth, "mentorship.updated")
    assert [e["data"] for e in events] == [updated.json()]


async def test_list_filters_and_pages(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    grace, ada, alan, barbara = await people(client, auth, "Grace", "Ada", "Alan", "Barbara")
    m1 = await create_mentorship(client, auth, grace["id"], ada["id"])
    m2 = await create_mentorship(client, auth, grace["id"], alan["id"])
    m3 = await create_mentorship(client, auth, ada["id"], barbara["id"])
    await client.post(f"/v1/mentorships/{m2['id']}/end", headers=auth)

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/mentorships", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["data"]]

    assert await ids() == [m3["id"], m2["id"], m1["id"]]
    assert await ids(mentor_id=grace["id"]) == [m2["id"], m1["id"]]
    assert await ids(mentee_id=ada["id"]) == [m1["id"]]
    assert await ids(person_id=ada["id"]) == [m3["id"], m1["id"]]
    assert await ids(status="ended") == [m2["id"]]
    assert await ids(status="active", person_id=grace["id"]) == [m1["id"]]

    touched = await client.patch(
        f"/v1/mentorships/{m1['id']}", json={"focus": "Leadership"}, headers=auth
    )
    assert await ids(updated_since=touched.json()["updated_at"]) == [m1["id"]]

    page1 = (await client.get("/v1/mentorships?limit=2", headers=auth)).json()
    assert [m["id"] for m in page1["data"]] == [m3["id"], m2["id"]]
    assert page1["has_more"] is True
    page2 = (
        await client.get(f"/v1/mentorships?limit=2&cursor={page1['next_cursor']}", headers=auth)
    ).json()
    assert page2 == {"data": [touched.json()], "next_cursor": None, "has_more": False}

    naive = await client.get("/v1/mentorships?updated_since=2025-01-01T00:00:00", headers=auth)
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["pointer"] == "/query/updated_since"


async def test_delete_with_if_match(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    mentor, mentee = await people(client, auth, "Grace", "Ada")
    mentorship = await create_mentorship(client, auth, mentor["id"], mentee["id"])
    path = f"/v1/mentorships/{mentorship['id']}"

    stale = await client.delete(path, headers={**auth, "If-Match": '"not-the-etag"'})
    assert stale.status_code == 412
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    deleted = await client.delete(path, headers={**auth, "If-Match": etag})
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(path, headers=auth)).status_code == 404
    (event,) = await events_of(client, auth, "mentorship.deleted")
    assert event["data"] == mentorship
    # The pair is free again.
    await create_mentorship(client, auth, mentor["id"], mentee["id"])


async def test_duplicate_external_id_is_a_conflict(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    grace, ada, alan = await people(client, auth, "Grace", "Ada", "Alan")
    first = await create_mentorship(client, auth, grace["id"], ada["id"], external_id="M-1")
    dup = await client.post(
        "/v1/mentorships",
        json={"mentor_id": grace["id"], "mentee_id": alan["id"], "external_id": "M-1"},
        headers=auth,
    )
    assert dup.status_code == 409
    assert dup.json()["conflicting_id"] == first["id"]
    other = await create_mentorship(client, auth, grace["id"], alan["id"], external_id="M-2")
    renamed = await client.patch(
        f"/v1/mentorships/{other['id']}", json={"external_id": "M-1"}, headers=auth
    )
    assert renamed.status_code == 409


async def test_idempotent_create_and_end(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    mentor, mentee, other = await people(client, auth, "Grace", "Ada", "Alan")
    body = {"mentor_id": mentor["id"], "mentee_id": mentee["id"]}
    headers = {**auth, "Idempotency-Key": "pair-grace-ada"}
    first = await client.post("/v1/mentorships", json=body, headers=headers)
    replay = await client.post("/v1/mentorships", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    listed = await client.get("/v1/mentorships", headers=auth)
    assert [m["id"] for m in listed.json()["data"]] == [first.json()["id"]]

    reused = await client.post(
        "/v1/mentorships", json={**body, "mentee_id": other["id"]}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    end_headers = {**auth, "Idempotency-Key": "end-grace-ada"}
    path = f"/v1/mentorships/{first.json()['id']}/end"
    ended = await client.post(path, json={"reason": "done"}, headers=end_headers)
    ended_again = await client.post(path, json={"reason": "done"}, headers=end_headers)
    assert ended.status_code == ended_again.status_code == 200
    assert ended_again.json() == ended.json()
    assert await event_types(client, auth, "mentorship.created", "mentorship.ended") == [
        "mentorship.created",
        "mentorship.ended",
    ]


async def test_concurrent_creates_of_one_pair_make_one_mentorship(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker, "Acme")
    mentor, mentee = await people(committed_client, tenant.headers, "Grace", "Ada")
    body = {"mentor_id": mentor["id"], "mentee_id": mentee["id"]}
    responses = await asyncio.gather(
        *(
            committed_client.post("/v1/mentorships", json=body, headers=tenant.headers)
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    listed = await committed_client.get("/v1/mentorships", headers=tenant.headers)
    assert len(listed.json()["data"]) == 1
    assert await event_types(committed_client, tenant.headers, "mentorship.created") == [
        "mentorship.created"
    ]
