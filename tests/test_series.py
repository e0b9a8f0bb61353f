"""Conversation series: create and validation, the scheduler's occurrences (time zone,
DST, exactly once with concurrent schedulers), pause/resume/end, and who may do what."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.background import scheduler
from tests.conftest import make_tenant
from tests.factories import create_person
from tests.factories_conversations import create_team

# Tuesdays at 10:00 Berlin; the last Sunday of March 2030 (31st) moves Berlin to CEST.
NOW = datetime(2030, 3, 10, tzinfo=UTC)
HORIZON_UTC = [  # within 35 days of NOW
    "2030-03-12T09:00:00Z",
    "2030-03-19T09:00:00Z",
    "2030-03-26T09:00:00Z",
    "2030-04-02T08:00:00Z",
    "2030-04-09T08:00:00Z",
]


def body(employee: str, facilitator: str, **fields: Any) -> dict[str, Any]:
    return {
        "employee_id": employee,
        "facilitator_id": facilitator,
        "kind": "career",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "start": "2030-03-12T10:00:00",
        "timezone": "Europe/Berlin",
        "duration_minutes": 45,
        **fields,
    }


async def team(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str]:
    employee = await create_person(client, headers, name="Ada")
    facilitator = await create_person(client, headers, name="Grace")
    return employee["id"], facilitator["id"]


async def create(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> Any:
    employee, facilitator = await team(client, headers)
    response = await client.post(
        "/v1/conversation-series", json=body(employee, facilitator, **fields), headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def occurrences(
    client: httpx.AsyncClient, headers: dict[str, str], series: dict[str, Any]
) -> list[tuple[str, str, str]]:
    response = await client.get(
        "/v1/conversations",
        params={"employee_id": series["employee_id"], "limit": 100},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return sorted(
        (c["scheduled_start"], c["status"], c["timezone"])
        for c in response.json()["data"]
        if c["series_id"] == series["id"]
    )


async def act(client: httpx.AsyncClient, headers: dict[str, str], ident: str, verb: str) -> Any:
    response = await client.post(f"/v1/conversation-series/{ident}/{verb}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_create_get_list(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    series = await create(client, auth, external_id="S-1", metadata={"k": "v"})
    assert response_fields(series) == {
        "kind": "career",
        "status": "active",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "start": "2030-03-12T10:00:00",
        "timezone": "Europe/Berlin",
        "duration_minutes": 45,
        "external_id": "S-1",
        "metadata": {"k": "v"},
    }
    got = await client.get(f"/v1/conversation-series/{series['id']}", headers=auth)
    assert got.status_code == 200
    assert got.json() == series
    assert got.headers["ETag"]
    listed = await client.get(
        "/v1/conversation-series",
        params={"employee_id": series["employee_id"], "status": "active"},
        headers=auth,
    )
    assert [s["id"] for s in listed.json()["data"]] == [series["id"]]
    none = await client.get("/v1/conversation-series", params={"status": "ended"}, headers=auth)
    assert none.json()["data"] == []
    events = await client.get(
        "/v1/events", params={"type": "conversation_series.created"}, headers=auth
    )
    (event,) = events.json()["data"]
    ics = event["data"].pop("ics")
    assert (event["subject_id"], event["data"]) == (series["id"], series)
    assert "RRULE:FREQ=WEEKLY;BYDAY=TU" in ics
    assert (
        ics
        == (
            await client.get(f"/v1/conversation-series/{series['id']}/calendar.ics", headers=auth)
        ).text
    )


def response_fields(series: dict[str, Any]) -> dict[str, Any]:
    keep = ("kind", "status", "rrule", "start", "timezone", "duration_minutes")
    return {k: series[k] for k in (*keep, "external_id", "metadata")}


async def test_invalid_rules_and_starts_are_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    employee, facilitator = await team(client, auth)
    cases = {
        "FREQ=WEEKLY;BYDAY=XX": "/body/rrule",
        "BYDAY=TU": "/body/rrule",
        "FREQ=HOURLY": "/body/rrule",
        "FREQ=MINUTELY;INTERVAL=5": "/body/rrule",
        "RRULE:FREQ=WEEKLY": "/body/rrule",
        "FREQ=WEEKLY;COUNT=3;UNTIL=20300101T000000Z": "/body/rrule",
        "FREQ=WEEKLY;" + "BYDAY=TU;" * 60: "/body/rrule",
    }
    for rrule, pointer in cases.items():
        response = await client.post(
            "/v1/conversation-series", json=body(employee, facilitator, rrule=rrule), headers=auth
        )
        assert response.status_code == 422, (rrule, response.text)
        assert [e["pointer"] for e in response.json()["errors"]] == [pointer], rrule
    for start in ("2030-03-12T10:00:00Z", "2030-03-12T10:00:00+01:00", "noon"):
        response = await client.post(
            "/v1/conversation-series", json=body(employee, facilitator, start=start), headers=auth
        )
        assert response.status_code == 422, (start, response.text)
        assert [e["pointer"] for e in response.json()["errors"]] == ["/body/start"]
    counted = await client.post(
        "/v1/conversation-series",
        json=body(employee, facilitator, rrule="FREQ=HOURLY;COUNT=3"),
        headers=auth,
    )
    assert counted.status_code == 201, counted.text
    same = await client.post("/v1/conversation-series", json=body(employee, employee), headers=auth)
    assert same.status_code == 422
    assert same.json()["errors"][0]["pointer"] == "/body/facilitator_id"


async def test_scheduler_creates_the_horizon_across_dst_once(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    series = await create(client, auth)
    await scheduler.run_once(sessionmaker, now=NOW)
    assert await occurrences(client, auth, series) == [
        (start, "scheduled", "Europe/Berlin") for start in HORIZON_UTC
    ]
    await scheduler.run_once(sessionmaker, now=NOW)  # a second pass: nothing more
    assert len(await occurrences(client, auth, series)) == 5
    events = await client.get(
        "/v1/events",
        params={"type": ["conversation.created", "conversation.scheduled"], "limit": 100},
        headers=auth,
    )
    kinds = sorted(e["type"] for e in events.json()["data"])
    assert kinds == ["conversation.created"] * 5 + ["conversation.scheduled"] * 5
    scheduled = [e for e in events.json()["data"] if e["type"] == "conversation.scheduled"]
    assert all(e["data"]["series_id"] == series["id"] for e in scheduled)
    assert all("BEGIN:VCALENDAR" in e["data"]["ics"] for e in scheduled)


async def test_pause_stops_resume_continues_end_stops(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    series = await create(client, auth)
    paused = await act(client, auth, series["id"], "pause")
    assert paused["status"] == "paused"
    await scheduler.run_once(sessionmaker, now=NOW)
    assert await occurrences(client, auth, series) == []
    again = await client.post(f"/v1/conversation-series/{series['id']}/pause", headers=auth)
    assert (again.status_code, again.json()["current_status"]) == (409, "paused")
    assert (await act(client, auth, series["id"], "resume"))["status"] == "active"
    await scheduler.run_once(sessionmaker, now=NOW)
    assert len(await occurrences(client, auth, series)) == 5
    assert (await act(client, auth, series["id"], "end"))["status"] == "ended"
    later = datetime(2030, 4, 20, tzinfo=UTC)
    await scheduler.run_once(sessionmaker, now=later)
    assert len(await occurrences(client, auth, series)) == 5
    resumed = await client.post(f"/v1/conversation-series/{series['id']}/resume", headers=auth)
    assert (resumed.status_code, resumed.json()["current_status"]) == (409, "ended")
    events = await client.get(
        "/v1/events",
        params={"type": ["conversation_series.paused", "conversation_series.resumed",
                         "conversation_series.ended"]},
        headers=auth,
    )  # fmt: skip
    assert sorted(e["type"] for e in events.json()["data"]) == [
        "conversation_series.ended",
        "conversation_series.paused",
        "conversation_series.resumed",
    ]


async def test_concurrent_schedulers_create_each_occurrence_once(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker)
    series = [await create(committed_client, tenant.headers) for _ in range(3)]
    await asyncio.gather(
        *(scheduler.run_once(committed_app_sessionmaker, now=NOW) for _ in range(3))
    )
    for one in series:
        assert [s for s, *_ in await occurrences(committed_client, tenant.headers, one)] == (
            HORIZON_UTC
        )


async def test_horizon_setting(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    patched = await client.patch(
        "/v1/tenant", json={"settings": {"series_horizon_days": 10}}, headers=auth
    )
    assert patched.json()["settings"]["series_horizon_days"] == 10
    series = await create(client, auth)
    await scheduler.run_once(sessionmaker, now=NOW)
    assert [s for s, *_ in await occurrences(client, auth, series)] == HORIZON_UTC[:2]


async def test_as_a_person(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    team_ = await create_team(client, auth)
    ada, grace = team_.people["ada"]["id"], team_.people["grace"]["id"]
    skip, colleague = team_.people["skip"]["id"], team_.people["colleague"]["id"]

    def acting(person: str) -> dict[str, str]:
        return {**auth, "Acting-Person": person}

    created = await client.post(
        "/v1/conversation-series", json=body(ada, grace), headers=acting(skip)
    )
    assert created.status_code == 201, created.text  # a manager of the employee
    refused = await client.post(
        "/v1/conversation-series", json=body(ada, grace), headers=acting(colleague)
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "not_permitted")
    ident = created.json()["id"]
    hidden = await client.get(f"/v1/conversation-series/{ident}", headers=acting(colleague))
    assert hidden.status_code == 404
    listed = await client.get("/v1/conversation-series", headers=acting(colleague))
    assert listed.json()["data"] == []
    for verb in ("pause", "end"):
        response = await client.post(
            f"/v1/conversation-series/{ident}/{verb}", headers=acting(colleague)
        )
        assert response.status_code == 404
        response = await client.post(
            f"/v1/conversation-series/{ident}/{verb}", headers=acting(skip)
        )
        assert (response.status_code, response.json()["code"]) == (403, "not_permitted")
    assert (await act(client, acting(ada), ident, "pause"))["status"] == "paused"
    assert (await act(client, acting(grace), ident, "resume"))["status"] == "active"


async def test_the_pass_goes_through_series_in_batches(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: Any,
) -> None:
    from app.services import series as service

    monkeypatch.setattr(service, "SERIES_PER_BATCH", 2)
    made = [await create(client, auth) for _ in range(5)]
    await scheduler.run_once(sessionmaker, now=NOW)
    for one in made:
        assert [s for s, *_ in await occurrences(client, auth, one)] == HORIZON_UTC
