from __future__ import annotations

import httpx

from tests.factories import create_person


def _item(external_id: str, name: str, manager: str | None = None, **more: object) -> dict:
    item: dict[str, object] = {"external_id": external_id, "name": name, **more}
    if manager is not None:
        item["manager_external_id"] = manager
    return item


async def _batch(
    client: httpx.AsyncClient, auth: dict[str, str], people: list[dict], **more: object
) -> httpx.Response:
    return await client.post("/v1/people/batch", json={"people": people, **more}, headers=auth)


async def _by_external(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, dict]:
    listed = await client.get("/v1/people?limit=100", headers=auth)
    return {p["external_id"]: p for p in listed.json()["data"]}


async def test_managers_resolve_in_any_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    boss = await create_person(client, auth, name="Boss", external_id="B-0")
    response = await _batch(
        client,
        auth,
        [
            _item("B-3", "Report", "B-2"),
            _item("B-2", "Lead", "B-1"),
            _item("B-1", "Director", "B-0", email="dir@example.com", metadata={"d": 1}),
        ],
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["external_id"], r["result"]) for r in results] == [
        (0, "B-3", "created"),
        (1, "B-2", "created"),
        (2, "B-1", "created"),
    ]
    assert [r["problem"] for r in results] == [None, None, None]
    people = await _by_external(client, auth)
    assert people["B-1"]["manager_id"] == boss["id"]
    assert people["B-2"]["manager_id"] == people["B-1"]["id"]
    assert people["B-3"]["manager_id"] == people["B-2"]["id"]
    assert people["B-1"]["email"] == "dir@example.com"
    assert people["B-1"]["metadata"] == {"d": 1}
    assert results[2]["person"] == people["B-1"]
    events = await client.get("/v1/events?type=person.created&limit=100", headers=auth)
    created = [e["data"] for e in events.json()["data"]]
    assert sorted(e["external_id"] for e in created) == ["B-0", "B-1", "B-2", "B-3"]
    assert [e for e in created if e["external_id"] == "B-3"] == [people["B-3"]]


async def test_unchanged_and_updated_rows(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    first = await _batch(client, auth, [_item("U-1", "One"), _item("U-2", "Two", "U-1")])
    assert [r["result"] for r in first.json()["results"]] == ["created", "created"]
    again = await _batch(client, auth, [_item("U-1", "One"), _item("U-2", "Two, renamed", "U-1")])
    results = again.json()["results"]
    assert [r["result"] for r in results] == ["unchanged", "updated"]
    assert results[0]["person"] == first.json()["results"][0]["person"]
    assert results[1]["person"]["name"] == "Two, renamed"
    people = await _by_external(client, auth)
    assert people["U-2"]["name"] == "Two, renamed"
    assert people["U-2"] == results[1]["person"]
    updated = await client.get("/v1/events?type=person.updated", headers=auth)
    assert [e["data"] for e in updated.json()["data"]] == [people["U-2"]]


async def test_a_cycle_is_refused_per_item(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await _batch(client, auth, [_item("C-1", "One"), _item("C-2", "Two", "C-1")])
    # C-1 under C-2 closes a loop with the stored edge C-2 -> C-1; C-3 is fine.
    response = await _batch(
        client,
        auth,
        [_item("C-1", "One", "C-2"), _item("C-3", "Three", "C-3"), _item("C-4", "Four")],
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["error", "error", "created"]
    assert results[0]["problem"]["errors"] == [
        {
            "pointer": "/body/people/0/manager_external_id",
            "detail": "This manager would create a reporting cycle.",
            "code": "cycle",
        }
    ]
    assert results[1]["problem"]["errors"][0]["code"] == "cycle"
    assert results[0]["problem"]["status"] == 422
    people = await _by_external(client, auth)
    assert people["C-1"]["manager_id"] is None
    assert "C-3" not in people


async def test_a_bad_row_with_atomic_false_writes_the_others(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await _batch(
        client,
        auth,
        [
            _item("A-1", "Fine"),
            _item("A-2", "Lost too", "NOBODY-2"),
            _item("A-3", "Lost manager", "NOBODY"),
            _item("A-4", "Under a refused one", "A-2"),
            _item("A-1", "Twice"),
        ],
        atomic=False,
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["external_id"], r["result"]) for r in results] == [
        ("A-1", "created"),
        ("A-2", "error"),
        ("A-3", "error"),
        ("A-4", "error"),
        ("A-1", "error"),
    ]
    assert results[1]["problem"]["errors"] == [
        {
            "pointer": "/body/people/1/manager_external_id",
            "detail": "No person with this external id in the batch or your tenant.",
            "code": "unknown_manager",
        }
    ]
    assert [e["code"] for e in results[2]["problem"]["errors"]] == ["unknown_manager"]
    assert [e["code"] for e in results[3]["problem"]["errors"]] == ["manager_refused"]
    assert [e["code"] for e in results[4]["problem"]["errors"]] == ["duplicate"]
    assert sorted(await _by_external(client, auth)) == ["A-1"]


async def test_an_item_outside_the_schema_refuses_the_request(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await _batch(
        client, auth, [_item("S-1", "Fine"), {"external_id": "S-2", "name": "", "email": "nope"}]
    )
    assert response.status_code == 422
    assert sorted(e["pointer"] for e in response.json()["errors"]) == [
        "/body/people/1/email",
        "/body/people/1/name",
    ]
    assert await _by_external(client, auth) == {}


async def test_a_bad_row_with_atomic_true_writes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await _batch(
        client,
        auth,
        [_item("T-1", "Fine"), _item("T-2", "Lost manager", "NOBODY")],
        atomic=True,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"] == [
        {
            "pointer": "/body/people/1/manager_external_id",
            "detail": "No person with this external id in the batch or your tenant.",
            "code": "unknown_manager",
        }
    ]
    assert [(r["index"], r["result"]) for r in body["results"]] == [(1, "error")]
    assert await _by_external(client, auth) == {}


async def test_more_than_1000_people_is_a_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    people = [_item(f"L-{n}", "Someone") for n in range(1001)]
    response = await _batch(client, auth, people)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/body/people"]
    assert await _by_external(client, auth) == {}


async def test_replay_with_idempotency_key(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    headers = {**auth, "Idempotency-Key": "batch-1"}
    body = {"people": [_item("I-1", "One")]}
    first = await client.post("/v1/people/batch", json=body, headers=headers)
    second = await client.post("/v1/people/batch", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["results"][0]["result"] == "created"
    events = await client.get("/v1/events?type=person.created", headers=auth)
    assert len(events.json()["data"]) == 1


async def test_batch_is_for_the_platform_only(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    person = await create_person(client, auth, name="Someone")
    response = await client.post(
        "/v1/people/batch",
        json={"people": [_item("P-1", "One")]},
        headers={**auth, "Acting-Person": person["id"]},
    )
    assert response.status_code == 403


async def test_other_methods_on_batch_are_405(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for method in ("GET", "PATCH", "DELETE", "PUT"):
        response = await client.request(method, "/v1/people/batch", headers=auth)
        assert response.status_code == 405, method
        assert response.headers["Allow"] == "POST"
        assert response.json()["code"] == "method_not_allowed"


async def test_a_chain_of_1000_new_people_in_reverse_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    people = [_item(f"K-{n}", "Someone", f"K-{n - 1}" if n else None) for n in range(1000)]
    response = await _batch(client, auth, people[::-1])
    assert response.status_code == 200, response.text[:300]
    assert {r["result"] for r in response.json()["results"]} == {"created"}
    by_id = {r["person"]["id"]: r["person"] for r in response.json()["results"]}
    deepest = next(p for p in by_id.values() if p["external_id"] == "K-999")
    steps = 0
    while deepest["manager_id"] is not None:
        deepest = by_id[deepest["manager_id"]]
        steps += 1
    assert (steps, deepest["external_id"]) == (999, "K-0")
