"""Bounds on free-form input: whatever is accepted must read back, and what cannot is a 422
naming the field, never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from app.core.rows import loads
from tests.factories import create_person


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": … 1}}`` with ``depth`` objects."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    result: dict[str, Any] = value
    return result


async def test_metadata_nested_32_deep_is_stored_and_reads_back(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/people", json={"name": "Ada", "metadata": nested(32)}, headers=auth
    )
    assert created.status_code == 201, created.text
    person = await client.get(f"/v1/people/{created.json()['id']}", headers=auth)
    assert person.json()["metadata"] == nested(32)
    events = await client.get("/v1/events", headers=auth)
    assert events.status_code == 200
    assert events.json()["data"][-1]["data"]["metadata"] == nested(32)


async def test_metadata_nested_deeper_is_refused_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for depth in (33, 255, 256):
        body = '{"name": "Ada", "metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
        refused = await client.post(
            "/v1/people",
            content=body,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert refused.status_code == 422, (depth, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/body/metadata"], depth
    # Deeper than the JSON parser itself goes: the body cannot be read at all (400).
    body = '{"name": "Ada", "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    unreadable = await client.post(
        "/v1/people", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert unreadable.status_code == 400
    assert unreadable.json()["code"] == "bad_request"
    listed = await client.get("/v1/people", headers=auth)
    assert listed.json()["data"] == []


async def test_instants_outside_1900_to_2200_are_refused_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    employee = await create_person(client, auth, name="Ada")
    facilitator = await create_person(client, auth, name="Grace")
    pair = {"employee_id": employee["id"], "facilitator_id": facilitator["id"]}
    for moment in (
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-01:00",
        "1899-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
    ):
        refused = await client.post(
            "/v1/conversations", json={**pair, "scheduled_start": moment}, headers=auth
        )
        assert refused.status_code == 422, (moment, refused.text)
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/body/scheduled_start"]
        made = await client.post(
            "/v1/follow-ups",
            json={
                "conversation_id": str(uuid.uuid4()),
                "assignee_id": employee["id"],
                "due_at": moment,
            },
            headers=auth,
        )
        assert made.status_code == 422
        assert "/body/due_at" in [e["pointer"] for e in made.json()["errors"]]
    edges = ("1900-01-01T00:00:00Z", "2199-12-31T23:59:59.999999Z", "1900-01-01T01:00:00+01:00")
    for moment in edges:
        accepted = await client.post(
            "/v1/conversations", json={**pair, "scheduled_start": moment}, headers=auth
        )
        assert accepted.status_code == 201, (moment, accepted.text)
        read = await client.get(f"/v1/conversations/{accepted.json()['id']}", headers=auth)
        assert read.json()["scheduled_start"] == accepted.json()["scheduled_start"]
    conversations = (await client.get("/v1/conversations", headers=auth)).json()["data"]
    assert len(conversations) == len(edges)


async def test_only_real_iana_time_zones_are_accepted(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for zone in ("localtime", "posixrules", "Factory", "Mars/Olympus", "europe/paris", ""):
        refused = await client.post(
            "/v1/people", json={"name": "Ada", "timezone": zone}, headers=auth
        )
        assert refused.status_code == 422, zone
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/body/timezone"]
    for zone in ("UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"):
        accepted = await client.post(
            "/v1/people", json={"name": "Ada", "timezone": zone}, headers=auth
        )
        assert accepted.status_code == 201, (zone, accepted.text)
        assert accepted.json()["timezone"] == zone


async def test_time_filters_take_rfc_3339_with_an_offset_only(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for path in ("/v1/people", "/v1/goals", "/v1/conversations", "/v1/action-items"):
        for value in ("0.5", "1700000000", "2026-01-31", "2026-01-31T09:00:00", "yesterday"):
            refused = await client.get(path, params={"updated_since": value}, headers=auth)
            assert refused.status_code == 422, (path, value, refused.text)
            assert [e["pointer"] for e in refused.json()["errors"]] == ["/query/updated_since"]
        for value in ("2026-01-31T09:00:00Z", "2026-01-31T10:00:00+01:00", "2026-01-31T09:00Z"):
            accepted = await client.get(path, params={"updated_since": value}, headers=auth)
            assert accepted.status_code == 200, (path, value, accepted.text)


async def test_metadata_numbers_must_be_finite(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for literal in ("NaN", "Infinity", "-Infinity", "1e400"):
        body = '{"name": "Ada", "metadata": {"x": ' + literal + "}}"
        refused = await client.post(
            "/v1/people", content=body, headers={**auth, "Content-Type": "application/json"}
        )
        assert refused.status_code == 422, (literal, refused.text)
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/body/metadata"]


def test_jsonb_values_orjson_refuses_still_decode() -> None:
    """What PostgreSQL's jsonb holds but orjson cannot take decodes all the same."""
    big = 123456789012345678901234567890
    assert loads('{"big": ' + str(big) + "}") == {"big": big}
    assert loads('{"x": 1e400}') == {"x": float("inf")}
    assert loads('{"a": [1, "b", null]}') == {"a": [1, "b", None]}


async def test_nul_characters_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # PostgreSQL's text and jsonb cannot hold U+0000: a 422 saying so, never a 500.
    for body in (
        {"name": "A\u0000da"},
        {"name": "Ada", "metadata": {"note": "a\u0000b"}},
        {"name": "Ada", "metadata": {"k\u0000": 1}},
    ):
        refused = await client.post("/v1/people", json=body, headers=auth)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == "Text may not contain the character U+0000 (NUL)."
    listed = await client.get("/v1/people", headers=auth)
    assert listed.json()["data"] == []
