"""The insights call, timed: ``GET /v1/insights/career-conversations`` over 10,000 people,
100,000 conversations, 50,000 goals, 200,000 action items (and 30,000 follow-ups, 30,000
feedback, 20,000 feedback requests), and the plan PostgreSQL runs it with.

    .venv/bin/python bench/insights.py [--runs 20] [--database-url …] [--keep-db]

The database (default ``postgresql://postgres@127.0.0.1:5432/bench_insights``; its name must
contain ``bench``) is dropped, created, migrated and seeded with set-based ``INSERT …
SELECT generate_series`` (a few seconds); ``--keep-db`` reuses a seeded one. One tenant:
person 1 heads it, persons 2-100 report to person 1, every other person to one of them
(95 % active); facts spread over the last 400 days. The call goes through the ASGI app
(httpx, the app's own engine) ``--runs`` times after one warm-up, for ``group_by`` none,
manager, month, kind and competency (the default 90-day window), then with ``manager_id``
(a manager's subtree) and as an acting person (a manager); median and p95 ms. Then
``EXPLAIN (ANALYZE, BUFFERS)`` of the statement for each ``group_by``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core import migrations
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.main import create_app
from app.services import insights, tenants

SECRET_KEY = "YmVuY2gtc2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZGU="
URL = "/v1/insights/career-conversations"


def uid(kind: int, expr: str) -> str:
    """SQL: a deterministic uuid for row ``expr`` of table number ``kind``."""
    return (
        f"(lpad(to_hex({kind}), 8, '0') || '-0000-4000-8000-' || "
        f"lpad(to_hex({expr}), 12, '0'))::uuid"
    )


PERSON, CONV, GOAL, PLAN, ITEM, FOLLOW, FEEDBACK, REQUEST, COMPETENCY = range(1, 10)
# The manager of employee ``e`` (101..10000): one of persons 2..100.
MANAGER_OF = "(2 + ({e}) % 99)"


def seed_sql(tenant: uuid.UUID) -> list[str]:
    t = f"'{tenant}'::uuid"
    emp = "(101 + (i % 9900))"  # an employee for row i
    mgr = MANAGER_OF.format(e=emp)
    now = "now()"
    return [
        # people: 1 heads; 2..100 report to 1; 101..10000 to one of 2..100
        "INSERT INTO people (id, tenant_id, name, manager_id, timezone, status, created_at, "
        f"updated_at) SELECT {uid(PERSON, 'i')}, {t}, 'Person ' || i, CASE WHEN i = 1 THEN "
        f"NULL WHEN i <= 100 THEN {uid(PERSON, '1')} ELSE {uid(PERSON, MANAGER_OF.format(e='i'))} "
        "END, 'UTC', CASE WHEN i % 20 = 0 THEN 'inactive' ELSE 'active' END, "
        f"{now} - interval '3 years', {now} FROM generate_series(1, 100) i",
        "INSERT INTO people (id, tenant_id, name, manager_id, timezone, status, created_at, "
        f"updated_at) SELECT {uid(PERSON, 'i')}, {t}, 'Person ' || i, "
        f"{uid(PERSON, MANAGER_OF.format(e='i'))}, 'UTC', CASE WHEN i % 20 = 0 THEN "
        f"'inactive' ELSE 'active' END, {now} - interval '3 years', {now} "
        "FROM generate_series(101, 10000) i",
        # conversations: 60 % completed, 15 % canceled, 15 % scheduled, 10 % draft
        "INSERT INTO conversations (id, tenant_id, employee_id, facilitator_id, kind, status, "
        "scheduled_start, scheduled_at, duration_minutes, timezone, reschedule_count, "
        "employee_prepared_at, facilitator_prepared_at, completed_at, canceled_at, created_at, "
        f"updated_at) SELECT {uid(CONV, 'i')}, {t}, {uid(PERSON, emp)}, {uid(PERSON, mgr)}, "
        "(ARRAY['career','career','career','career','career','career','mentorship',"
        "'skip_level','stay','career'])[1 + i % 10], st, start, "
        "CASE WHEN st <> 'draft' THEN start - (i % 21) * interval '1 day' END, 30, 'UTC', "
        "CASE WHEN i % 7 = 0 THEN 1 ELSE 0 END, "
        "CASE WHEN i % 3 <> 0 THEN start - interval '1 day' END, "
        "CASE WHEN i % 4 <> 0 THEN start - interval '2 hours' END, "
        "CASE WHEN st = 'completed' THEN start + interval '30 minutes' END, "
        "CASE WHEN st = 'canceled' THEN start - interval '1 day' END, "
        f"start - interval '30 days', {now} FROM (SELECT i, "
        "(ARRAY['completed','completed','completed','completed','completed','completed',"
        "'canceled','scheduled','draft','canceled','completed','completed','scheduled',"
        "'scheduled','draft','completed','completed','completed','completed','completed'])"
        f"[1 + i % 20] AS st, {now} - (i % 400) * interval '1 day' + (i % 24) * interval "
        "'1 hour' AS start FROM generate_series(1, 100000) i) s",
        # competencies: 40
        "INSERT INTO competencies (id, tenant_id, name, metadata, created_at, updated_at) "
        f"SELECT {uid(COMPETENCY, 'i')}, {t}, 'Competency ' || i, '{{}}'::jsonb, {now}, {now} "
        "FROM generate_series(1, 40) i",
        # goals: created over 500 days; 60 % agreed after 0-19 days; 20 % achieved; 3 in 4
        # name two competencies, the rest none
        "INSERT INTO goals (id, tenant_id, owner_id, title, category, progress, status, "
        "employee_agreed_at, facilitator_agreed_at, achieved_at, created_at, updated_at, "
        "competency_ids) "
        f"SELECT {uid(GOAL, 'i')}, {t}, {uid(PERSON, emp)}, 'Goal', 'skill', 0, "
        "CASE WHEN i % 5 = 0 THEN 'achieved' WHEN i % 5 IN (1, 2) THEN 'agreed' "
        "ELSE 'proposed' END, "
        "CASE WHEN i % 5 IN (0, 1, 2) THEN c + (i % 20) * interval '1 day' END, "
        "CASE WHEN i % 5 IN (0, 1, 2) THEN c + (i % 20) * interval '1 day' END, "
        "CASE WHEN i % 5 = 0 THEN c + interval '60 days' END, c, c, "
        f"CASE WHEN i % 4 = 0 THEN '{{}}'::uuid[] ELSE ARRAY[{uid(COMPETENCY, '1 + i % 40')}, "
        f"{uid(COMPETENCY, '1 + (i % 40 + 1 + i % 3) % 40')}] END FROM (SELECT i, "
        f"{now} - (i % 500) * interval '1 day' AS c FROM generate_series(1, 50000) i) s",
        # action plans: 25,000 (one per 4th conversation), 8 items each
        "INSERT INTO action_plans (id, tenant_id, title, owner_id, conversation_id, status, "
        f"created_at, updated_at) SELECT {uid(PLAN, 'i')}, {t}, 'Plan', {uid(PERSON, emp)}, "
        f"{uid(CONV, 'i')}, 'active', {now}, {now} FROM generate_series(1, 25000) i",
        "INSERT INTO action_items (id, tenant_id, plan_id, title, assignee_id, due_date, status, "
        "position, completed_at, created_at, updated_at) SELECT "
        f"{uid(ITEM, 'j')}, {t}, {uid(PLAN, 'i')}, 'Step', CASE WHEN j % 3 = 0 THEN "
        f"{uid(PERSON, mgr)} ELSE {uid(PERSON, emp)} END, d, "
        "CASE WHEN j % 5 < 3 THEN 'done' ELSE 'todo' END, j % 8, "
        "CASE WHEN j % 5 < 3 THEN (d + (j % 3 - 1))::timestamp AT TIME ZONE 'UTC' END, "
        f"{now}, {now} FROM (SELECT i, (i - 1) * 8 + k AS j, (current_date - ((i * 8 + k) "
        "% 400))::date AS d FROM generate_series(1, 25000) i, generate_series(1, 8) k) s",
        # follow-ups: 30,000 on conversations
        "INSERT INTO follow_ups (id, tenant_id, conversation_id, assignee_id, due_at, status, "
        f"completed_at, created_at, updated_at) SELECT {uid(FOLLOW, 'i')}, {t}, "
        f"{uid(CONV, 'i')}, {uid(PERSON, emp)}, due, "
        "CASE WHEN i % 4 = 0 THEN 'pending' WHEN i % 4 = 1 THEN 'canceled' ELSE 'completed' END, "
        "CASE WHEN i % 4 >= 2 THEN due + (i % 5 - 2) * interval '1 day' END, due, due FROM "
        f"(SELECT i, {now} - (i % 400) * interval '1 day' AS due "
        "FROM generate_series(1, 30000) i) s",
        # feedback: 30,000 from the manager, half naming one competency
        "INSERT INTO feedback (id, tenant_id, giver_id, recipient_id, kind, body, visibility, "
        f"created_at, updated_at, competency_ids) SELECT {uid(FEEDBACK, 'i')}, {t}, "
        f"{uid(PERSON, mgr)}, {uid(PERSON, emp)}, 'guidance', 'Body', 'recipient', "
        f"{now} - (i % 400) * interval '1 day', {now}, CASE WHEN i % 2 = 0 THEN '{{}}'::uuid[] "
        f"ELSE ARRAY[{uid(COMPETENCY, '1 + i % 40')}] END FROM generate_series(1, 30000) i",
        # feedback requests: 20,000 to the manager, half answered after 0-9 days
        "INSERT INTO feedback_requests (id, tenant_id, requester_id, responder_id, prompt, "
        "due_at, status, answered_at, created_at, updated_at) SELECT "
        f"{uid(REQUEST, 'i')}, {t}, {uid(PERSON, emp)}, {uid(PERSON, mgr)}, '?', "
        "c + interval '14 days', CASE WHEN i % 2 = 0 THEN 'answered' ELSE 'open' END, "
        "CASE WHEN i % 2 = 0 THEN c + (i % 10) * interval '1 day' END, c, c FROM "
        f"(SELECT i, {now} - (i % 400) * interval '1 day' AS c "
        "FROM generate_series(1, 20000) i) s",
        "VACUUM ANALYZE",
    ]


def settings(url: str) -> Settings:
    return Settings(
        env="test",
        database_url=url,
        admin_token="bench-admin-token-0123456789",
        secret_key=SECRET_KEY,
        rate_limit_per_minute=1_000_000,
    )


async def prepare(url: str, keep: bool) -> tuple[uuid.UUID, str]:
    """A seeded database; the tenant and a fresh API key's secret."""
    name = url.rsplit("/", 1)[1]
    if "bench" not in name:
        raise SystemExit("the database name must contain 'bench' (it is dropped)")
    admin = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if exists and not keep:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        exists = None
    if not exists:
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await asyncio.to_thread(migrations.upgrade, url, settings(url))
    engine = create_engine(url, settings(url))
    maker = create_sessionmaker(engine)
    async with maker() as session:
        tenant_id = await session.scalar(sa.text("SELECT id FROM tenants WHERE name = 'Bench'"))
        fresh = tenant_id is None
        if tenant_id is None:
            tenant_id = (await tenants.create(session, "Bench")).id
        _, secret = await tenants.create_api_key(session, tenant_id, "bench", ["read"])
        await session.commit()
    if fresh:
        conn = await asyncpg.connect(url)
        started = time.perf_counter()
        for statement in seed_sql(tenant_id):
            await conn.execute(statement)
        await conn.close()
        print(f"seeded in {time.perf_counter() - started:.1f} s")
    await engine.dispose()
    return tenant_id, secret


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    tenant_id, secret = await prepare(args.database_url, args.keep_db)
    cfg = settings(args.database_url)
    engine = create_engine(args.database_url, cfg)
    app = create_app(cfg, engine=engine, sessionmaker=create_sessionmaker(engine))
    headers = {"Authorization": f"Bearer {secret}"}
    manager = uuid.UUID(f"00000001-0000-4000-8000-{2:012x}")
    cases: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("group_by=none", {"group_by": "none"}, {}),
        ("group_by=manager", {"group_by": "manager"}, {}),
        ("group_by=month", {"group_by": "month"}, {}),
        ("group_by=kind", {"group_by": "kind"}, {}),
        ("group_by=competency", {"group_by": "competency"}, {}),
        ("manager_id (person 2's subtree)", {"manager_id": str(manager)}, {}),
        ("Acting-Person: person 1 (sees all)", {}, {"Acting-Person": str(uuid.UUID(
            f"00000001-0000-4000-8000-{1:012x}"))}),
    ]  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    print(f"\n{args.runs} runs after one warm-up, ms per request through the ASGI app\n")
    print("| call | groups | employees (first group) | median ms | p95 ms |")
    print("|---|---:|---:|---:|---:|")
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for label, params, extra in cases:
            response = await client.get(URL, params=params, headers={**headers, **extra})
            assert response.status_code == 200, response.text
            body = response.json()
            timings = []
            for _ in range(args.runs):
                started = time.perf_counter()
                response = await client.get(URL, params=params, headers={**headers, **extra})
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            print(
                f"| {label} | {len(body['groups'])} | {body['groups'][0]['employees']} | "
                f"{statistics.median(timings):.1f} | {percentile(timings, 0.95):.1f} |"
            )
    await engine.dispose()
    conn = await asyncpg.connect(args.database_url)
    await conn.execute("SET jit = off")  # as the app's engine
    stop = datetime.now(UTC)
    start = stop - timedelta(days=insights.DEFAULT_DAYS)
    # The statement alone on one connection: wall time and the backend's CPU time
    # (utime + stime from /proc, when PostgreSQL runs on this machine), which a busy shared
    # machine inflates far less than wall time.
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    stat = Path(f"/proc/{pid}/stat")
    tick = 1000 / os.sysconf("SC_CLK_TCK")

    def cpu_ms() -> float | None:
        if not stat.exists():
            return None
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * tick

    print("\nThe statement alone (asyncpg, JIT off), ms\n")
    print("| group_by | wall median | wall p95 | backend CPU median |")
    print("|---|---:|---:|---:|")
    for group_by in ("none", "manager", "month", "kind", "competency"):
        sql = insights.statement(group_by, subtree=False, scope_condition=None)
        await conn.fetch(sql, tenant_id, start, stop)
        walls, cpus = [], []
        for _ in range(args.runs):
            before, started = cpu_ms(), time.perf_counter()
            await conn.fetch(sql, tenant_id, start, stop)
            walls.append((time.perf_counter() - started) * 1000)
            after = cpu_ms()
            if before is not None and after is not None:
                cpus.append(after - before)
        cpu = f"{statistics.median(cpus):.0f}" if cpus else "n/a"
        print(
            f"| {group_by} | {statistics.median(walls):.1f} | {percentile(walls, 0.95):.1f} "
            f"| {cpu} |"
        )
    for group_by in ("none", "manager", "month", "competency"):
        sql = insights.statement(group_by, subtree=False, scope_condition=None)
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, tenant_id, start, stop)
        print(f"\nEXPLAIN (ANALYZE, BUFFERS), group_by={group_by}:\n")
        print("\n".join("    " + row[0] for row in rows))
    await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_insights"
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep-db", action="store_true")
    asyncio.run(main(parser.parse_args()))
