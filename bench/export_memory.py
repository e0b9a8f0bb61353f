"""A person's export with 5,000 conversations, measured: the worker's memory stays bounded.

    .venv/bin/python bench/export_memory.py [--conversations 5000] [--database-url …]

Drops, creates and migrates the database (its name must contain ``bench``; default
``postgresql://postgres@127.0.0.1:5432/ccapi_bench_export``), seeds one tenant where Ada
took part in ``--conversations`` conversations (each with a 1 KB summary, two agenda items
and two notes) and their ``conversation.created`` events, queues an export of Ada and runs
the worker's ``exports.run_one`` once under ``tracemalloc``. Reports the document's size,
its chunks, the Python heap's peak during the run and the process RSS before and after, and
exits 1 if the peak reaches a quarter of the document (the document is not held in memory:
the sections are read through server-side cursors and written out in 256 KB chunks).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import asyncpg
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.core.config import Settings  # noqa: E402
from app.core.db import create_engine, create_sessionmaker  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.services import exports  # noqa: E402

SEED = """
WITH c AS (
    INSERT INTO conversations (id, tenant_id, employee_id, facilitator_id, kind, status,
        duration_minutes, timezone, summary, reschedule_count, metadata, created_at, updated_at)
    SELECT gen_random_uuid(), $1, $2, $3, 'career', 'completed', 30, 'UTC',
        repeat('Talked about the next role. ', 37), 0, '{}',
        now() - make_interval(days => g), now()
    FROM generate_series(1, $4) g
    RETURNING id
), a AS (
    INSERT INTO agenda_items (id, tenant_id, conversation_id, author_id, topic, category,
        position, discussed, visibility, metadata, created_at, updated_at)
    SELECT gen_random_uuid(), $1, c.id, $2, 'Growth ' || p, 'other', p, true, 'shared', '{}',
        now(), now()
    FROM c, generate_series(0, 1) p
), n AS (
    INSERT INTO conversation_notes (id, tenant_id, conversation_id, author_id, visibility,
        body, metadata, created_at, updated_at)
    SELECT gen_random_uuid(), $1, c.id, CASE p WHEN 0 THEN $2 ELSE $3 END,
        CASE p WHEN 0 THEN 'private' ELSE 'shared' END, repeat('A note. ', 30), '{}', now(),
        now()
    FROM c, generate_series(0, 1) p
)
INSERT INTO events (id, tenant_id, type, occurred_at, subject_type, subject_id, data)
SELECT gen_random_uuid(), $1, 'conversation.created', now(), 'conversation', c.id,
    jsonb_build_object('id', c.id, 'employee_id', $2::uuid, 'facilitator_id', $3::uuid)
FROM c
"""


async def seed(url: str, conversations: int) -> tuple[uuid.UUID, uuid.UUID]:
    conn = await asyncpg.connect(url)
    tenant, ada, grace = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO tenants (id, name, metadata, created_at, updated_at) "
        "VALUES ($1, 'Bench', '{}', now(), now())",
        tenant,
    )
    for ident, name in ((grace, "Grace Hopper"), (ada, "Ada Lovelace")):
        await conn.execute(
            "INSERT INTO people (id, tenant_id, name, timezone, status, metadata, created_at, "
            "updated_at, manager_id) VALUES ($1, $2, $3, 'UTC', 'active', '{}', now(), now(), "
            "$4)",
            ident,
            tenant,
            name,
            grace if ident == ada else None,
        )
    await conn.execute(SEED, tenant, ada, grace, conversations)
    job = uuid.uuid4()
    await conn.execute(
        "INSERT INTO export_jobs (id, tenant_id, person_id, status, created_at, updated_at) "
        "VALUES ($1, $2, $3, 'pending', now(), now())",
        job,
        tenant,
        ada,
    )
    await conn.close()
    return job, ada


async def measure(url: str, conversations: int) -> int:
    job, _ = await seed(url, conversations)
    settings = Settings(database_url=url)
    engine = create_engine(url, settings)
    sessionmaker = create_sessionmaker(engine)
    process = psutil.Process(os.getpid())
    rss_before = process.memory_info().rss
    tracemalloc.start()
    started = time.perf_counter()
    assert await exports.run_one(sessionmaker)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = process.memory_info().rss
    conn = await asyncpg.connect(url)
    row = await conn.fetchrow(
        "SELECT j.status, j.size_bytes, (SELECT count(*) FROM export_chunks c "
        "WHERE c.job_id = j.id) AS chunks FROM export_jobs j WHERE j.id = $1",
        job,
    )
    await conn.close()
    await engine.dispose()
    assert row is not None and row["status"] == "completed", row
    size = int(row["size_bytes"])
    print(f"conversations:         {conversations}")
    print(f"document:              {size / 2**20:.1f} MiB in {row['chunks']} chunks")
    print(f"worker run:            {elapsed:.2f} s")
    print(f"python heap peak:      {peak / 2**20:.1f} MiB (tracemalloc)")
    print(f"process RSS:           {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB")
    if peak >= size / 4:
        print("FAIL: the peak is not small beside the document")
        return 1
    return 0


async def recreate(url: str) -> None:
    base, _, name = url.rpartition("/")
    if "bench" not in name:
        raise SystemExit("the database's name must contain 'bench' (it is dropped)")
    admin = await asyncpg.connect(base + "/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/ccapi_bench_export"
    )
    args = parser.parse_args()
    asyncio.run(recreate(args.database_url))
    upgrade(args.database_url)
    return asyncio.run(measure(args.database_url, args.conversations))


if __name__ == "__main__":
    raise SystemExit(main())
