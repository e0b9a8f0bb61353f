"""The cadence breach scan, timed: the scheduler's own cadence rules over 10,000 people and
100,000 conversations, and the plan PostgreSQL runs them with.

    .venv/bin/python bench/cadence_scan.py [--runs 30] [--database-url …]

Uses the database ``bench/run.py --cadence`` seeds (the cadence tenant: 10,000 active
people, 100,000 conversations, 60 % completed at past dates, ``cadence_days``
``{"career": 90}``); when it is missing, seeds it the same way (a server is started for the
admin API, then stopped). Then, with the app's own engine settings (asyncpg, JIT off), it
runs each rule of ``app.services.cadence.SCHEDULED`` (the statements
``app/background/scheduler.py`` ``fire_rule`` runs, with its parameters: ``now``,
``horizon``, ``limit`` = the scheduler's ``BATCH``) ``--runs`` times after one warm-up
run, and reports median and p95 milliseconds per rule and per scheduler pass over all
cadence rules. It prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the career rules and exits 1 if
any plan reads ``conversations`` with a sequential scan (or reads it without an index).
Nothing is claimed or fired: the candidates are only selected.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import run  # bench/run.py: the seed, the server, the database helpers
import sqlalchemy as sa

sys.path.insert(0, str(run.REPO))

from app.background.scheduler import BATCH, MAX_LEAD
from app.core.config import Settings
from app.core.db import create_engine
from app.services.cadence import SCHEDULED
from app.services.scheduling import Rule

SEQ_ON_CONVERSATIONS = re.compile(r"Seq Scan on conversations\b")
INDEX_ON_CONVERSATIONS = re.compile(r"Index (Only )?Scan( Backward)? using \S+ on conversations\b")


def ensure_seeded(args: argparse.Namespace) -> dict[str, Any]:
    """bench/run.py's database with the cadence tenant (seeded when missing)."""
    run.DB_URL[0] = args.database_url
    state = asyncio.run(run.load_meta(args.database_url))
    if state is not None and "tenant_c" in state:
        return state
    admin_token = "bench-admin-" + secrets.token_hex(16)
    ours = run.make_ours(run.REPO, None, args.database_url, admin_token, False)
    seed_args = argparse.Namespace(
        database_url=args.database_url,
        keep_db=True,
        cadence=True,
        conversations=args.conversations,
        seed=args.seed,
        start_retries=3,
        retry_wait=60.0,
    )
    with tempfile.TemporaryDirectory(prefix="cadence-scan-") as tmp:
        try:
            state = run.prepare(seed_args, [ours], admin_token, Path(tmp))
        finally:
            run.CHILDREN.stop_all()
    return state


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def time_rules(conn: Any, params: dict[str, Any], runs: int) -> None:
    """Each cadence rule ``runs`` times after one warm-up; a table of median and p95 ms."""
    timings: dict[str, list[float]] = {rule.key: [] for rule in SCHEDULED}
    found = {
        rule.key: len((await conn.execute(sa.text(rule.candidates), params)).all())
        for rule in SCHEDULED
    }
    passes: list[float] = []
    for _ in range(runs):
        pass_start = time.perf_counter()
        for rule in SCHEDULED:
            started = time.perf_counter()
            (await conn.execute(sa.text(rule.candidates), params)).all()
            timings[rule.key].append((time.perf_counter() - started) * 1000)
        passes.append((time.perf_counter() - pass_start) * 1000)
    print(f"{runs} runs after one warm-up; ms per statement (client side)\n")
    print(f"| rule (claim) | candidates (at most {BATCH}) | median ms | p95 ms |")
    print("|---|---:|---:|---:|")
    for key, values in timings.items():
        print(
            f"| `{key}` | {found[key]} | {statistics.median(values):.1f} | "
            f"{percentile(values, 0.95):.1f} |"
        )
    print(
        f"| all {len(SCHEDULED)} cadence rules (one scheduler pass) | | "
        f"{statistics.median(passes):.1f} | {percentile(passes, 0.95):.1f} |"
    )


async def check_plans(conn: Any, params: dict[str, Any], phase: str) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the career rules, printed; what is wrong with them."""
    failures = []
    for rule in SCHEDULED:
        if not rule.key.endswith(":career"):
            continue
        plan = await explain(conn, rule, params)
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of `{rule.key}` ({phase}):\n")
        print("\n".join("    " + line for line in plan))
        text = "\n".join(plan)
        if SEQ_ON_CONVERSATIONS.search(text):
            failures.append(f"{rule.key} ({phase}): a Seq Scan on conversations")
        if not INDEX_ON_CONVERSATIONS.search(text):
            failures.append(f"{rule.key} ({phase}): conversations not read through an index")
    return failures


async def claim_everything(conn: Any, params: dict[str, Any]) -> int:
    """Claim every current candidate in ``scheduled_firings`` (what the scheduler's passes
    leave behind once they have caught up), committed; returns how many."""
    claimed = 0
    for rule in SCHEDULED:
        result = await conn.execute(
            sa.text(
                # B608: the rule's own statement and its claim key, constants of the app
                "INSERT INTO scheduled_firings (type, subject_id, due_at, tenant_id, fired_at) "  # nosec B608
                "SELECT CAST(:claim AS text), c.id, c.due_at, c.tenant_id, :now "
                f"FROM ({rule.candidates}) c ON CONFLICT DO NOTHING"
            ),
            {**params, "limit": 1_000_000, "claim": rule.key},
        )
        claimed += result.rowcount
    await conn.commit()
    await conn.execute(sa.text("ANALYZE scheduled_firings"))
    await conn.commit()
    return claimed


async def measure(args: argparse.Namespace, tenant_c: str) -> int:
    engine = create_engine(args.database_url, Settings(database_url=args.database_url))
    now = datetime.now(UTC)
    params = {"now": now, "horizon": now + MAX_LEAD, "limit": BATCH}
    tenant = uuid.UUID(tenant_c)
    failures: list[str] = []
    try:
        async with engine.connect() as conn:
            people = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FILTER (WHERE p.status = 'active') AS active, "
                        "count(*) AS people FROM people p WHERE p.tenant_id = :t"
                    ),
                    {"t": tenant},
                )
            ).one()
            convs = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*), count(*) FILTER (WHERE status = 'completed') "
                        "FROM conversations WHERE tenant_id = :t"
                    ),
                    {"t": tenant},
                )
            ).one()
            total = await conn.scalar(sa.text("SELECT count(*) FROM conversations"))
            print(
                f"cadence tenant: {people.people:,} people ({people.active:,} active), "
                f"{convs[0]:,} conversations ({convs[1]:,} completed), cadence_days "
                f'{{"career": 90}}; {total:,} conversations in the database; the '
                f"scheduler's parameters: limit {BATCH}, horizon now + {MAX_LEAD.days} days"
            )
            await conn.execute(
                sa.text("DELETE FROM scheduled_firings WHERE tenant_id = :t"), {"t": tenant}
            )
            await conn.commit()
            print("\n## Nothing fired yet (the first passes)\n")
            await time_rules(conn, params, args.runs)
            failures += await check_plans(conn, params, "nothing fired yet")
            await conn.rollback()
            try:
                claimed = await claim_everything(conn, params)
                print(
                    f"\n## Caught up: all {claimed:,} current candidates claimed in "
                    "scheduled_firings (every later pass)\n"
                )
                await time_rules(conn, params, args.runs)
                failures += await check_plans(conn, params, "caught up")
                await conn.rollback()
            finally:
                await conn.rollback()
                await conn.execute(
                    sa.text("DELETE FROM scheduled_firings WHERE tenant_id = :t"), {"t": tenant}
                )
                await conn.commit()
    finally:
        await engine.dispose()
    if failures:
        print("\nFAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("\nOK: every plan reads conversations through an index (no Seq Scan on conversations)")
    return 0


async def explain(conn: Any, rule: Rule, params: dict[str, Any]) -> list[str]:
    result = await conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + rule.candidates), params)
    return [row[0] for row in result]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=run.DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--conversations", type=int, default=100_000, help="tenants a and b")
    parser.add_argument("--seed", type=int, default=20251126)
    args = parser.parse_args()
    if "bench" not in run.db_name(args.database_url):
        parser.error("the database's name must contain 'bench'")
    state = ensure_seeded(args)
    return asyncio.run(measure(args, state["tenant_c"]))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"cadence_scan: {exc}", file=sys.stderr)
        sys.exit(2)
