"""Retention: the scheduler purges what a tenant no longer keeps, in batches, by index."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.background import scheduler
from app.models.base import utcnow
from app.services import retention
from tests.conftest import TenantKey, make_tenant
from tests.factories import create_person
from tests.factories_conversations import create_conversation, create_note
from tests.webhook_receiver import create_endpoint


def purged(kind: str) -> float:
    return REGISTRY.get_sample_value("ccapi_retention_purged_total", {"kind": kind}) or 0.0


async def test_retention_settings_default_validate_and_update(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    before = (await client.get("/v1/tenant", headers=auth)).json()["settings"]["retention"]
    assert before == {"private_notes_days": None, "webhook_deliveries_days": 30, "events_days": 400}
    changed = await client.patch(
        "/v1/tenant", json={"settings": {"retention": {"private_notes_days": 90}}}, headers=auth
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["retention"] == {
        "private_notes_days": 90,
        "webhook_deliveries_days": 30,
        "events_days": 400,
    }
    back = await client.patch(
        "/v1/tenant",
        json={"settings": {"retention": {"private_notes_days": None, "events_days": 3650}}},
        headers=auth,
    )
    assert back.json()["settings"]["retention"] == {
        "private_notes_days": None,
        "webhook_deliveries_days": 30,
        "events_days": 3650,
    }
    for body, pointer in (
        ({"events_days": 0}, "/body/settings/retention/events_days"),
        ({"webhook_deliveries_days": 3651}, "/body/settings/retention/webhook_deliveries_days"),
        ({"events_days": None}, "/body/settings/retention/events_days"),
        ({"private_notes_days": "x"}, "/body/settings/retention/private_notes_days"),
        ({"forever": True}, "/body/settings/retention/forever"),
    ):
        refused = await client.patch(
            "/v1/tenant", json={"settings": {"retention": body}}, headers=auth
        )
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["pointer"] == pointer, refused.text


async def _backdate(
    session: AsyncSession, table: str, column: str, ids: list[Any], days: int
) -> None:
    await session.execute(
        # B608: test constants
        text(
            f"UPDATE {table} SET {column} = now() - make_interval(days => :d) "  # nosec B608
            "WHERE id = ANY(:ids)"
        ),
        {"d": days, "ids": ids},
    )


async def test_the_scheduler_purges_exactly_what_is_older(
    client: httpx.AsyncClient,
    tenant: TenantKey,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    auth = tenant.headers
    other = await make_tenant(sessionmaker, "Other Corp")  # keeps forever: nothing of it goes
    await client.patch(
        "/v1/tenant", json={"settings": {"retention": {"private_notes_days": 90}}}, headers=auth
    )
    conversation = await create_conversation(client, auth)
    old_private = await create_note(client, auth, conversation, visibility="private", body="p1")
    new_private = await create_note(client, auth, conversation, visibility="private", body="p2")
    old_shared = await create_note(client, auth, conversation, body="s1")
    other_conversation = await create_conversation(client, other.headers)
    other_private = await create_note(
        client, other.headers, other_conversation, visibility="private", body="o1"
    )

    endpoint = await create_endpoint(client, auth, "http://127.0.0.1:9/hook")
    people = [await create_person(client, auth, name=f"P{i}") for i in range(4)]
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT d.id, e.id FROM webhook_deliveries d "
                    "JOIN events e ON e.id = d.event_id "
                    "WHERE d.endpoint_id = :ep AND e.subject_id = ANY(:ids) ORDER BY e.occurred_at"
                ),
                {"ep": endpoint["id"], "ids": [p["id"] for p in people]},
            )
        ).all()
        assert len(rows) == 4
        (d_old_ok, e_old_ok), (d_pending, e_pending), (d_failed, e_failed), (d_new, e_new) = rows
        await session.execute(
            text(
                "UPDATE webhook_deliveries SET status = 'succeeded', completed_at = now() "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": [d_old_ok, d_new]},
        )
        await session.execute(
            text("UPDATE webhook_deliveries SET status = 'failed' WHERE id = :id"),
            {"id": d_failed},
        )
        await _backdate(
            session,
            "conversation_notes",
            "created_at",
            [old_private["id"], old_shared["id"], other_private["id"]],
            91,
        )
        await _backdate(session, "conversation_notes", "created_at", [new_private["id"]], 89)
        await _backdate(
            session, "webhook_deliveries", "created_at", [d_old_ok, d_pending, d_failed], 31
        )
        await _backdate(session, "webhook_deliveries", "created_at", [d_new], 29)
        await _backdate(session, "events", "occurred_at", [e_old_ok, e_pending, e_failed], 401)
        await _backdate(session, "events", "occurred_at", [e_new], 399)
        await session.commit()

    counts = {kind: purged(kind) for kind in retention.KINDS}
    await scheduler.run_once(sessionmaker, now=utcnow())

    async with sessionmaker() as session:
        notes = set((await session.scalars(text("SELECT body FROM conversation_notes"))).all())
        deliveries = set(
            (
                await session.scalars(
                    text("SELECT id FROM webhook_deliveries WHERE endpoint_id = :ep"),
                    {"ep": endpoint["id"]},
                )
            ).all()
        )
        kept_events = set(
            (
                await session.scalars(
                    text("SELECT id FROM events WHERE id = ANY(:ids)"),
                    {"ids": [e_old_ok, e_pending, e_failed, e_new]},
                )
            ).all()
        )
    # Only the tenant's old private note goes (shared notes and the other tenant's stay).
    assert notes == {"p2", "s1", "o1"}
    # The old delivered one goes; pending and failed stay whatever their age.
    assert deliveries == {d_pending, d_failed, d_new}
    # The old event goes unless an undelivered delivery still carries it.
    assert kept_events == {e_pending, e_failed, e_new}
    assert {kind: purged(kind) - counts[kind] for kind in retention.KINDS} == {
        "private_note": 1,
        "webhook_delivery": 1,
        "event": 1,
        "export_chunk": 0,
    }
    # A second pass finds nothing more.
    assert await retention.purge(sessionmaker, utcnow()) == {
        "private_note": 0,
        "webhook_delivery": 0,
        "event": 0,
        "export_chunk": 0,
    }


async def test_purges_go_in_batches(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    people = [await create_person(client, auth, name=f"P{i}") for i in range(5)]
    async with sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE events SET occurred_at = now() - interval '500 days' "
                "WHERE subject_id = ANY(:ids)"
            ),
            {"ids": [p["id"] for p in people]},
        )
        await session.commit()
        assert await retention.purge_batch(session, "event", utcnow(), limit=2) == 2
        await session.commit()
    assert await retention.purge(sessionmaker, utcnow(), limit=2) == {
        "private_note": 0,
        "webhook_delivery": 0,
        "event": 3,
        "export_chunk": 0,
    }


async def test_each_purge_reads_its_index(
    tenant: TenantKey, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """EXPLAIN of each purge: per tenant, a range scan of its index on the row's age. Most
    test tables hold a handful of rows, on which the planner rightly prefers a sequential
    scan, so ``enable_seqscan`` is off: what is asserted is that an index serving the age
    range exists and is the one chosen (without one the plan would still be a Seq Scan, at a
    disabled cost). Events get 20,000 rows and fresh statistics, so that their purge picks
    the age index over the tenant's other event indexes on the merits."""
    expected = {
        "private_note": ("ix_conversation_notes_tenant_private_created", "created_at <"),
        "webhook_delivery": ("ix_webhook_deliveries_tenant_succeeded_created", "created_at <"),
        "event": ("ix_events_tenant_occurred", "occurred_at <"),
        "export_chunk": ("ix_export_jobs_expires", "expires_at <"),
    }
    async with sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO events (id, tenant_id, type, occurred_at, subject_type, subject_id, "
                "data) SELECT gen_random_uuid(), :tenant, 'person.updated', "
                "now() - make_interval(secs => g), 'person', gen_random_uuid(), '{}' "
                "FROM generate_series(1, 20000) g"
            ),
            {"tenant": tenant.tenant_id},
        )
        await session.execute(text("ANALYZE events"))
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        for kind, (index, age) in expected.items():
            plan = (
                await session.scalars(
                    text("EXPLAIN " + retention.delete_sql(kind)),
                    {"now": utcnow(), "limit": 1000},
                )
            ).all()
            # The index serves the age range itself (an Index Cond, not a Filter after it) ...
            lines = [
                i for i, line in enumerate(plan) if "Scan" in line and f" {index} " in line + " "
            ]
            assert lines, "\n".join(plan)
            cond = plan[lines[0] + 1]
            assert "Index Cond" in cond and age in cond, "\n".join(plan)
            # ... and the rows go by their ids (a Tid Scan, no second search of the table).
            assert any("Tid Scan" in line for line in plan), "\n".join(plan)
        await session.rollback()
