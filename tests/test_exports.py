"""Per-person exports: who may ask, the worker, the document (against its published JSON
Schema), the download, and the expiry."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.background import scheduler
from app.models.base import utcnow
from app.services import exports, retention
from tests.conftest import TenantKey, make_tenant
from tests.factories import create_person
from tests.factories_conversations import (
    create_agenda_item,
    create_conversation,
    create_note,
    create_team,
)
from tests.factories_feedback import (
    create_feedback,
    create_feedback_request,
    create_follow_up,
    create_mentorship,
)
from tests.factories_goals import create_goal, create_item, create_plan


async def _request(
    client: httpx.AsyncClient, person_id: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"/v1/people/{person_id}/exports", headers=headers)


async def test_who_may_export_whom(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    team = await create_team(client, auth)
    ada = team.ids["ada"]
    as_platform = await _request(client, ada, auth)
    assert as_platform.status_code == 202, as_platform.text
    job = as_platform.json()
    assert as_platform.headers["Location"] == f"/v1/exports/{job['id']}"
    assert job["status"] == "pending"
    assert job["person_id"] == ada
    assert job["requested_by_person_id"] is None
    assert [job[k] for k in ("started_at", "completed_at", "expires_at", "size_bytes")] == [
        None
    ] * 4
    # One at a time per person: the next waits until this one is written.
    again = await _request(client, ada, team.as_("ada"))
    assert again.status_code == 409, again.text
    assert (again.json()["code"], again.json()["export_id"]) == ("export_in_progress", job["id"])
    assert await exports.run_one(sessionmaker)
    themself = await _request(client, ada, team.as_("ada"))
    assert themself.status_code == 202, themself.text
    assert themself.json()["requested_by_person_id"] == ada
    # Her manager (who sees her) may not: the right is hers.
    manager = await _request(client, ada, team.as_("grace"))
    assert manager.status_code == 403, manager.text
    assert manager.json()["code"] == "not_permitted"
    missing = await _request(client, "0193a1e5-2222-7ccc-8ddd-000000000042", auth)
    assert missing.status_code == 404
    # The job: the platform and Ada see it; her manager does not (404, like a missing one).
    path = f"/v1/exports/{themself.json()['id']}"
    assert (await client.get(path, headers=auth)).json() == themself.json()
    assert (await client.get(path, headers=team.as_("ada"))).status_code == 200
    assert (await client.get(path, headers=team.as_("grace"))).status_code == 404
    early = await client.get(path + "/download", headers=team.as_("ada"))
    assert early.status_code == 409
    assert early.headers["content-type"] == "application/problem+json"
    assert early.json()["code"] == "export_not_ready"
    assert early.json()["current_status"] == "pending"


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [value] if isinstance(value, str) else []


async def test_the_document_holds_every_source_and_validates(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    team = await create_team(client, auth)
    ada, grace, colleague = team.ids["ada"], team.ids["grace"], team.ids["colleague"]
    conversation = (
        await client.post(
            "/v1/conversations",
            json={"employee_id": ada, "facilitator_id": grace, "summary": "S-summary"},
            headers=auth,
        )
    ).json()
    await create_agenda_item(client, auth, conversation, topic="S-agenda")
    await create_agenda_item(
        client, auth, conversation, author_id=grace, topic="X-grace-sealed", visibility="sealed"
    )
    await create_note(client, auth, conversation, author_id=grace, body="S-shared-note")
    await create_note(client, auth, conversation, body="S-own-private", visibility="private")
    await create_note(
        client, auth, conversation, author_id=grace, body="X-grace-private", visibility="private"
    )
    # A conversation Ada has no part in, with another person's notes.
    other = (
        await client.post(
            "/v1/conversations",
            json={"employee_id": colleague, "facilitator_id": grace},
            headers=auth,
        )
    ).json()
    await create_note(client, auth, other, body="X-other-conversation")
    goal = await create_goal(client, auth, ada, title="S-goal")
    plan = await create_plan(client, auth, ada, title="S-plan", goal_id=goal["id"])
    await create_item(client, auth, plan["id"], ada, title="S-item")
    await create_feedback(client, auth, grace, ada, body="S-feedback-received")
    await create_feedback(client, auth, ada, colleague, body="S-feedback-given")
    await create_feedback(client, auth, grace, colleague, body="X-not-hers")
    await create_feedback_request(client, auth, ada, grace, prompt="S-request")
    await create_follow_up(client, auth, conversation["id"], ada, note="S-follow-up")
    await create_mentorship(client, auth, colleague, ada, focus="S-mentorship")

    job = (await _request(client, ada, team.as_("ada"))).json()
    assert await exports.run_one(sessionmaker) is True
    assert await exports.run_one(sessionmaker) is False  # nothing else queued
    done = (await client.get(f"/v1/exports/{job['id']}", headers=auth)).json()
    assert done["status"] == "completed"
    completed_at = datetime.fromisoformat(done["completed_at"])
    assert datetime.fromisoformat(done["expires_at"]) - completed_at == timedelta(hours=24)

    # The platform sees the job but reads the document (her private notes) only as her.
    refused = await client.get(f"/v1/exports/{job['id']}/download", headers=auth)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_permitted")
    download = await client.get(f"/v1/exports/{job['id']}/download", headers=team.as_("ada"))
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "application/json"
    assert len(download.content) == done["size_bytes"]
    bundle = orjson.loads(download.content)
    schema = (await client.get("/v1/exports/schema.json", headers=auth)).json()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(bundle, schema, cls=jsonschema.Draft202012Validator)

    texts = set(_texts(bundle))
    for sentinel in (
        "S-summary",
        "S-agenda",
        "S-shared-note",
        "S-own-private",
        "S-goal",
        "S-plan",
        "S-item",
        "S-feedback-received",
        "S-feedback-given",
        "S-request",
        "S-follow-up",
        "S-mentorship",
    ):
        assert sentinel in texts, sentinel
    assert not [t for t in texts if t.startswith("X-")]
    assert bundle["export_id"] == job["id"]
    assert bundle["person"]["id"] == ada
    assert [c["id"] for c in bundle["conversations"]] == [conversation["id"]]
    assert [(n["body"], n["visibility"]) for n in bundle["conversations"][0]["notes"]] == [
        ("S-shared-note", "shared"),
        ("S-own-private", "private"),
    ]
    # Events that name her: her own person.created, the conversation (she is its employee),
    # the goal, ...; never an event about a private note or the export itself.
    types = [e["type"] for e in bundle["events"]]
    assert types[0] == "person.created" and bundle["events"][0]["subject_id"] == ada
    assert "conversation.created" in types
    assert "goal.created" in types
    assert "feedback.created" in types
    assert "person.exported" not in types
    assert all(e["data"].get("body") != "X-grace-private" for e in bundle["events"])

    # person.exported: the platform's audit event (not the directory's).
    platform_events = await client.get(
        "/v1/events", params={"type": "person.exported"}, headers=auth
    )
    [event] = platform_events.json()["data"]
    assert event["subject_type"] == "export"
    assert event["subject_id"] == job["id"]
    assert event["data"]["person_id"] == ada
    assert event["data"]["status"] == "completed"
    as_ada = await client.get(
        "/v1/events", params={"type": "person.exported"}, headers=team.as_("ada")
    )
    assert as_ada.json()["data"] == []


async def test_the_document_expires_after_24_hours(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    team = await create_team(client, auth)
    job = (await _request(client, team.ids["ada"], auth)).json()
    assert await exports.run_one(sessionmaker)
    path = f"/v1/exports/{job['id']}/download"
    assert (await client.get(path, headers=team.as_("ada"))).status_code == 200
    async with sessionmaker() as session:
        chunks = await session.scalar(
            text("SELECT count(*) FROM export_chunks WHERE job_id = :id"), {"id": job["id"]}
        )
        assert chunks == 1
        await session.execute(
            text("UPDATE export_jobs SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": job["id"]},
        )
        await session.commit()
    gone = await client.get(path, headers=team.as_("ada"))
    assert gone.status_code == 410
    assert gone.json()["code"] == "gone"
    purged = await retention.purge(sessionmaker, utcnow())
    assert purged["export_chunk"] == 1
    async with sessionmaker() as session:
        left = await session.scalar(
            text("SELECT count(*) FROM export_chunks WHERE job_id = :id"), {"id": job["id"]}
        )
    assert left == 0
    assert (await client.get(f"/v1/exports/{job['id']}", headers=auth)).json()["status"] == (
        "completed"
    )


async def test_a_lapsed_lease_is_taken_again(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    team = await create_team(client, auth)
    job = (await _request(client, team.ids["ada"], auth)).json()
    async with sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE export_jobs SET status = 'running', lease_expires_at = now() "
                "- interval '1 minute' WHERE id = :id"
            ),
            {"id": job["id"]},
        )
        await session.execute(
            text("INSERT INTO export_chunks (job_id, seq, data) VALUES (:id, 0, 'half')"),
            {"id": job["id"]},
        )
        await session.commit()
    assert await exports.run_one(sessionmaker)
    download = await client.get(f"/v1/exports/{job['id']}/download", headers=team.as_("ada"))
    assert orjson.loads(download.content)["person"]["id"] == team.ids["ada"]


async def _job_state(
    sessionmaker: async_sessionmaker[AsyncSession], job_id: str
) -> tuple[Any, ...]:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT status, size_bytes, completed_at, error, "
                    "(SELECT count(*) FROM export_chunks c WHERE c.job_id = j.id), "
                    "(SELECT count(*) FROM events e WHERE e.subject_id = j.id "
                    "AND e.type = 'person.exported') FROM export_jobs j WHERE j.id = :id"
                ),
                {"id": job_id},
            )
        ).one()
    return tuple(row)


async def test_a_worker_whose_lease_lapsed_changes_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Worker A's lease lapses and worker B takes the job again: whatever A does later
    (complete, fail, renew) leaves B's outcome as it is, and no chunk twice."""
    team = await create_team(client, auth)
    lapsed = utcnow() - exports.LEASE - timedelta(minutes=1)

    # B completes, then A completes late, then A fails late: B's document stands.
    job = (await _request(client, team.ids["ada"], auth)).json()
    a = await exports.claim(sessionmaker, lapsed)
    b = await exports.claim(sessionmaker)
    assert a is not None and b is not None
    assert a.job_id == b.job_id == uuid.UUID(job["id"]) and a.lease != b.lease
    await exports.process(sessionmaker, b)
    done = await _job_state(sessionmaker, job["id"])
    assert done[0] == "completed" and done[3] is None and done[4:] == (1, 1)
    await exports.process(sessionmaker, a)
    assert await _job_state(sessionmaker, job["id"]) == done
    assert await exports.fail(sessionmaker, a.job_id, a.lease) is False
    assert await _job_state(sessionmaker, job["id"]) == done

    # B fails, then A completes late: the job stays failed, A's chunks are rolled back.
    job = (await _request(client, team.ids["grace"], auth)).json()
    a = await exports.claim(sessionmaker, lapsed)
    b = await exports.claim(sessionmaker)
    assert a is not None and b is not None and a.job_id == b.job_id
    assert await exports.fail(sessionmaker, b.job_id, b.lease) is True
    await exports.process(sessionmaker, a)
    assert await _job_state(sessionmaker, job["id"]) == (
        "failed",
        None,
        None,
        "The export could not be written; request a new one.",
        0,
        0,
    )

    # Renewing at each chunk: A finds its lease gone at its first chunk and stops; B renews
    # as it writes (the token moves on) and completes.
    monkeypatch.setattr(exports, "RENEW_EVERY", timedelta(0))
    job = (await _request(client, team.ids["skip"], auth)).json()
    a = await exports.claim(sessionmaker, lapsed)
    b = await exports.claim(sessionmaker)
    assert a is not None and b is not None and a.job_id == b.job_id
    await exports.process(sessionmaker, a)
    async with sessionmaker() as session:
        running = (
            await session.execute(
                text("SELECT status, lease_expires_at FROM export_jobs WHERE id = :id"),
                {"id": job["id"]},
            )
        ).one()
    assert tuple(running) == ("running", b.lease)
    await exports.process(sessionmaker, b)
    state = await _job_state(sessionmaker, job["id"])
    assert state[0] == "completed" and state[4:] == (1, 1)


async def test_with_real_commits_the_scheduler_writes_and_the_download_streams(
    committed_client: httpx.AsyncClient,
    tenant_c: TenantKey,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Outside the tests' outer transaction: the worker's cursors run in its own transaction
    (opened by the session), a scheduler pass runs the job, the download streams the chunks
    on a connection of its own, several chunks long."""
    team = await create_team(committed_client, tenant_c.headers)
    conversation = await create_conversation(
        committed_client,
        tenant_c.headers,
        employee_id=team.ids["ada"],
        facilitator_id=team.ids["grace"],
    )
    for i in range(12):  # ~ 12 x 40 KB of notes: the document spans several 256 KB chunks
        await create_note(
            committed_client, tenant_c.headers, conversation, body=chr(65 + i) * 40_000
        )
    job = (await _request(committed_client, team.ids["ada"], tenant_c.headers)).json()
    await scheduler.run_once(committed_app_sessionmaker)
    done = await committed_client.get(f"/v1/exports/{job['id']}", headers=tenant_c.headers)
    assert done.json()["status"] == "completed", done.text
    async with committed_app_sessionmaker() as session:
        chunks = await session.scalar(
            text("SELECT count(*) FROM export_chunks WHERE job_id = :id"), {"id": job["id"]}
        )
    size = done.json()["size_bytes"]
    # the notes twice: in the conversation and in their note.created events
    assert chunks == -(-size // exports.CHUNK_BYTES) == 4
    download = await committed_client.get(
        f"/v1/exports/{job['id']}/download", headers=team.as_("ada")
    )
    assert download.status_code == 200
    assert len(download.content) == done.json()["size_bytes"] > 12 * 40_000
    bundle = orjson.loads(download.content)
    assert [n["body"][:1] for n in bundle["conversations"][0]["notes"]] == [
        chr(65 + i) for i in range(12)
    ]


async def test_a_job_that_cannot_be_written_fails_and_the_worker_goes_on(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    team = await create_team(client, auth)
    broken = (await _request(client, team.ids["ada"], auth)).json()
    fine = (await _request(client, team.ids["grace"], auth)).json()
    other = await make_tenant(sessionmaker, "Other Corp")
    stranger = await create_person(client, other.headers, name="Stranger")
    async with sessionmaker() as session:  # a job naming a person outside its tenant
        await session.execute(
            text("UPDATE export_jobs SET person_id = :p WHERE id = :id"),
            {"p": stranger["id"], "id": broken["id"]},
        )
        await session.commit()
    assert await exports.run_one(sessionmaker)
    assert await exports.run_one(sessionmaker)
    failed = (await client.get(f"/v1/exports/{broken['id']}", headers=auth)).json()
    assert (failed["status"], failed["error"], failed["expires_at"]) == (
        "failed",
        "The export could not be written; request a new one.",
        None,
    )
    done = (await client.get(f"/v1/exports/{fine['id']}", headers=auth)).json()
    assert (done["status"], done["error"]) == ("completed", None)
