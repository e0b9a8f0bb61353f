"""Cadence SLA: tenant settings, ``GET /v1/people/{id}/cadence``, ``cadence.due_soon`` /
``cadence.breached`` through scheduler passes (explicit clock), history import and the
reschedule threshold."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.background import scheduler
from tests.conftest import make_tenant
from tests.factories import create_person
from tests.factories_conversations import create_conversation, create_team

CADENCE = ("cadence.due_soon", "cadence.breached")


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def settings(client: httpx.AsyncClient, auth: dict[str, str], **values: Any) -> Any:
    response = await client.patch("/v1/tenant", json={"settings": values}, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()["settings"]


async def events_of(
    client: httpx.AsyncClient, auth: dict[str, str], *types: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/events", params={"type": list(types), "limit": 100}, headers=auth
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def cadence(client: httpx.AsyncClient, headers: dict[str, str], person_id: str) -> Any:
    response = await client.get(f"/v1/people/{person_id}/cadence", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def held(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    start: datetime,
    completed_at: datetime | None,
    **fields: Any,
) -> dict[str, Any]:
    """A conversation imported from history: scheduled at ``start`` (past), completed at
    ``completed_at`` (None: left scheduled)."""
    draft = await create_conversation(client, auth, **fields)
    scheduled = await client.post(
        f"/v1/conversations/{draft['id']}/schedule",
        json={"scheduled_start": iso(start)},
        headers=auth,
    )
    assert scheduled.status_code == 200, scheduled.text
    if completed_at is None:
        result: dict[str, Any] = scheduled.json()
        return result
    done = await client.post(
        f"/v1/conversations/{draft['id']}/complete",
        json={"completed_at": iso(completed_at)},
        headers=auth,
    )
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["completed_at"] == iso(completed_at)
    return result


async def test_settings_defaults_bounds_and_kinds(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    current = (await client.get("/v1/tenant", headers=auth)).json()["settings"]
    assert (
        current["cadence_days"],
        current["cadence_warning_days"],
        current["reschedule_alert_threshold"],
    ) == ({}, 14, 3)
    changed = await settings(
        client, auth, cadence_days={"career": 90, "stay": 180}, cadence_warning_days=7
    )
    assert (changed["cadence_days"], changed["cadence_warning_days"]) == (
        {"career": 90, "stay": 180},
        7,
    )
    refused = {
        "unknown kind": {"cadence_days": {"weekly": 7}},
        "zero days": {"cadence_days": {"career": 0}},
        "too many days": {"cadence_days": {"career": 3651}},
        "negative warning": {"cadence_warning_days": -1},
        "threshold zero": {"reschedule_alert_threshold": 0},
        "null map": {"cadence_days": None},
    }
    for name, body in refused.items():
        response = await client.patch("/v1/tenant", json={"settings": body}, headers=auth)
        assert response.status_code == 422, (name, response.text)
    assert (await settings(client, auth, cadence_days={}))["cadence_days"] == {}


async def test_states_and_due_dates_from_history(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await settings(client, auth, cadence_days={"career": 90, "mentorship": 30, "stay": 365})
    now = datetime.now(UTC).replace(microsecond=0)
    ada = await create_person(client, auth, name="Ada")
    grace = await create_person(client, auth, name="Grace")
    pair = {"employee_id": ada["id"], "facilitator_id": grace["id"]}
    # Career: an older and a newer completed one (the newer counts), a canceled one and
    # one where Ada facilitates do not count.
    await held(client, auth, now - timedelta(days=300), now - timedelta(days=300), **pair)
    career = await held(client, auth, now - timedelta(days=100), now - timedelta(days=95), **pair)
    await held(
        client,
        auth,
        now - timedelta(days=10),
        now - timedelta(days=9),
        employee_id=grace["id"],
        facilitator_id=ada["id"],
    )
    canceled = await create_conversation(client, auth, **pair)
    await client.post(
        f"/v1/conversations/{canceled['id']}/cancel", json={"reason": "Moved"}, headers=auth
    )
    # Mentorship: completed 20 days ago, due in 10 (within the 14-day warning).
    mentoring = await held(
        client,
        auth,
        now - timedelta(days=20, hours=1),
        now - timedelta(days=20),
        kind="mentorship",
        **pair,
    )
    answer = await cadence(client, auth, ada["id"])
    assert answer == {
        "person_id": ada["id"],
        "kinds": [
            {
                "person_id": ada["id"],
                "kind": "career",
                "cadence_days": 90,
                "last_completed_conversation_id": career["id"],
                "last_completed_at": iso(now - timedelta(days=95)),
                "due_at": iso(now - timedelta(days=5)),
                "state": "breached",
            },
            {
                "person_id": ada["id"],
                "kind": "mentorship",
                "cadence_days": 30,
                "last_completed_conversation_id": mentoring["id"],
                "last_completed_at": iso(now - timedelta(days=20)),
                "due_at": iso(now + timedelta(days=10)),
                "state": "due_soon",
            },
            {
                "person_id": ada["id"],
                "kind": "stay",
                "cadence_days": 365,
                "last_completed_conversation_id": None,
                "last_completed_at": None,
                "due_at": iso(at(ada["created_at"]) + timedelta(days=365)),
                "state": "ok",
            },
        ],
    }
    await settings(client, auth, cadence_days={})
    assert await cadence(client, auth, ada["id"]) == {"person_id": ada["id"], "kinds": []}


async def test_completed_at_bounds_and_past_schedules_fire_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    past = await held(client, auth, now - timedelta(days=3), None)
    assert past["status"] == "scheduled"
    assert past["scheduled_start"] == iso(now - timedelta(days=3))
    url = f"/v1/conversations/{past['id']}/complete"
    for when, code in (
        (now + timedelta(hours=1), "in_future"),
        (now - timedelta(days=3, seconds=1), "before_start"),
    ):
        response = await client.post(url, json={"completed_at": iso(when)}, headers=auth)
        assert response.status_code == 422, response.text
        assert [e["code"] for e in response.json()["errors"]] == [code]
        assert [e["pointer"] for e in response.json()["errors"]] == ["/body/completed_at"]
    await scheduler.run_once(sessionmaker)
    assert await events_of(client, auth, "conversation.reminder", *CADENCE) == []
    done = await client.post(url, json={}, headers=auth)
    assert done.status_code == 200
    assert now <= at(done.json()["completed_at"]) <= datetime.now(UTC)


async def test_due_soon_and_breached_fire_once_each_and_re_arm(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await settings(client, auth, cadence_days={"career": 90}, cadence_warning_days=14)
    ada = await create_person(client, auth, name="Ada")
    idle = await create_person(client, auth, name="Inactive", status="inactive")
    due = at(ada["created_at"]) + timedelta(days=90)

    for now in (due - timedelta(days=15), due - timedelta(days=13), due - timedelta(days=1)):
        await scheduler.run_once(sessionmaker, now=now)
    for now in (due, due + timedelta(days=1), due + timedelta(days=30)):
        await scheduler.run_once(sessionmaker, now=now)
    fired = await events_of(client, auth, *CADENCE)
    assert [(e["type"], e["subject_type"], e["subject_id"]) for e in fired] == [
        ("cadence.due_soon", "cadence", ada["id"]),
        ("cadence.breached", "cadence", ada["id"]),
    ]
    entry = {
        "person_id": ada["id"],
        "kind": "career",
        "cadence_days": 90,
        "last_completed_conversation_id": None,
        "last_completed_at": None,
        "due_at": iso(due),
    }
    assert [e["data"] for e in fired] == [
        {**entry, "state": "due_soon"},
        {**entry, "state": "breached"},
    ]
    assert idle["id"] not in {e["subject_id"] for e in fired}

    # A completed career conversation moves the due date: both re-armed, once each again.
    now = datetime.now(UTC).replace(microsecond=0)
    career = await held(
        client, auth, now - timedelta(hours=2), now - timedelta(hours=1), employee_id=ada["id"]
    )
    new_due = now - timedelta(hours=1) + timedelta(days=90)
    for when in (
        new_due - timedelta(days=10),
        new_due - timedelta(days=9),
        new_due,
        new_due + timedelta(days=2),
    ):
        await scheduler.run_once(sessionmaker, now=when)
    fired = [e for e in await events_of(client, auth, *CADENCE) if e["subject_id"] == ada["id"]]
    assert [e["type"] for e in fired] == [
        "cadence.due_soon",
        "cadence.breached",
        "cadence.due_soon",
        "cadence.breached",
    ]
    assert [e["data"]["due_at"] for e in fired[2:]] == [iso(new_due)] * 2
    assert fired[3]["data"]["last_completed_conversation_id"] == career["id"]


async def test_two_schedulers_fire_each_breach_once(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker)
    await settings(committed_client, tenant.headers, cadence_days={"career": 30, "stay": 60})
    people = [await create_person(committed_client, tenant.headers, name=f"P{n}") for n in range(4)]
    later = max(at(p["created_at"]) for p in people) + timedelta(days=61)
    counts = await asyncio.gather(
        *(scheduler.run_once(committed_app_sessionmaker, now=later) for _ in range(3))
    )
    assert sum(counts) == 8  # two kinds breached for each of four people; no late warning
    fired = await events_of(committed_client, tenant.headers, *CADENCE)
    assert sorted((e["subject_id"], e["data"]["kind"], e["type"]) for e in fired) == sorted(
        (p["id"], kind, "cadence.breached") for p in people for kind in ("career", "stay")
    )


async def test_reschedule_threshold_reached_once(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await settings(client, auth, reschedule_alert_threshold=2)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    conversation = await held(client, auth, start, None)
    for n in range(1, 5):
        moved = await client.post(
            f"/v1/conversations/{conversation['id']}/reschedule",
            json={"scheduled_start": iso(start + timedelta(days=n))},
            headers=auth,
        )
        assert moved.status_code == 200, moved.text
    fired = await events_of(client, auth, "conversation.reschedule_threshold_reached")
    assert [(e["subject_id"], e["data"]["reschedule_count"]) for e in fired] == [
        (conversation["id"], 2)
    ]


async def test_who_sees_a_cadence(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await settings(client, auth, cadence_days={"career": 90})
    team = await create_team(client, auth)
    mentor = await create_person(client, auth, name="Mentor")
    paired = await client.post(
        "/v1/mentorships",
        json={"mentor_id": mentor["id"], "mentee_id": team.ids["ada"]},
        headers=auth,
    )
    assert paired.status_code == 201, paired.text
    path = f"/v1/people/{team.ids['ada']}/cadence"
    as_mentor = {**auth, "Acting-Person": mentor["id"]}

    async def status(headers: dict[str, str]) -> int:
        return (await client.get(path, headers=headers)).status_code

    roles = {"platform": auth, "mentor": as_mentor} | {
        name: team.as_(name) for name in ("ada", "grace", "skip", "colleague")
    }
    assert {name: await status(h) for name, h in roles.items()} == {
        "platform": 200,
        "ada": 200,
        "grace": 200,
        "skip": 200,
        "colleague": 404,
        "mentor": 404,
    }
    due = at(team.people["ada"]["created_at"]) + timedelta(days=90)
    await scheduler.run_once(sessionmaker, now=due + timedelta(days=1))
    seen = {
        name: [e["subject_id"] for e in await events_of(client, h, "cadence.breached")]
        for name, h in roles.items()
    }
    ada, everyone = team.ids["ada"], sorted([*team.ids.values(), mentor["id"]])
    assert {name: sorted(ids) for name, ids in seen.items()} == {
        "platform": everyone,
        "ada": [ada],
        "grace": sorted([ada, team.ids["grace"]]),
        "skip": sorted([ada, team.ids["grace"], team.ids["skip"]]),
        "colleague": [team.ids["colleague"]],
        "mentor": [mentor["id"]],
    }
    await settings(client, auth, managers_see_reports="direct")
    assert (await status(team.as_("grace")), await status(team.as_("skip"))) == (200, 404)
    await settings(client, auth, managers_see_reports="none")
    assert (await status(team.as_("grace")), await status(team.as_("ada"))) == (404, 200)
    missing = await client.get(
        "/v1/people/00000000-0000-7000-8000-000000000000/cadence", headers=auth
    )
    assert missing.status_code == 404
