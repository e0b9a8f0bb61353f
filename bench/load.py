"""Load benchmark for the conversations API.

Against a running server (``ccapi serve --no-worker``), it provisions a tenant through the
admin API, seeds people and N conversations straight into the database (fast), then
measures GET one, GET a page of 50 (first page and deep pages) and POST, each with a
fixed number of requests at a fixed concurrency, and prints requests/s, p50 and p99.

    python bench/load.py --base-url http://127.0.0.1:8000 --admin-token change-me

The database is ``--database-url`` / ``DATABASE_URL``, else the embedded server under
``CCAPI_DATA_DIR`` (the one ``ccapi serve`` started). ``--baseline-url`` also runs the same
requests against bench/baseline_app.py for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from app.core.pagination import encode_cursor


def database_url(explicit: str | None) -> str:
    url = explicit or os.environ.get("DATABASE_URL")
    if url:
        return url.replace("postgresql+asyncpg://", "postgresql://")
    from app.core.embedded import EmbeddedPostgres

    return EmbeddedPostgres(Path(os.environ.get("CCAPI_DATA_DIR", ".ccapi"))).start()


async def seed(db_url: str, tenant_id: uuid.UUID, conversations: int) -> dict[str, Any]:
    """200 people and ``conversations`` conversations spread over two years, in SQL."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO people (id, tenant_id, metadata, created_at, updated_at, name, "
            "timezone, status) SELECT gen_random_uuid(), $1, '{}', now(), now(), "
            "'Person ' || g, 'UTC', 'active' FROM generate_series(1, 200) g",
            tenant_id,
        )
        people = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM people WHERE tenant_id = $1", tenant_id)
        ]
        await conn.execute(
            "INSERT INTO conversations (id, tenant_id, metadata, created_at, updated_at, "
            "employee_id, facilitator_id, kind, status, duration_minutes, timezone, "
            "reschedule_count) "
            "SELECT gen_random_uuid(), $1, '{}', now() - make_interval(secs => g * 600), now(), "
            "($2::uuid[])[1 + g % 100], ($2::uuid[])[101 + g % 100], 'career', 'draft', 30, "
            "'UTC', 0 FROM generate_series(1, $3) g",
            tenant_id,
            people,
            conversations,
        )
        await conn.execute("ANALYZE conversations; ANALYZE people;")
        sample = await conn.fetch(
            "SELECT id, created_at FROM conversations WHERE tenant_id = $1 "
            "ORDER BY random() LIMIT 2000",
            tenant_id,
        )
    finally:
        await conn.close()
    return {"people": people, "sample": [(r["id"], r["created_at"]) for r in sample]}


def server_process(base_url: str) -> psutil.Process | None:
    """The process listening on the server's port (to read its CPU time), if visible."""
    port = httpx.URL(base_url).port
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return psutil.Process(conn.pid)
    except psutil.AccessDenied:
        pass
    return None


def cpu_seconds(process: psutil.Process | None) -> float:
    if process is None:
        return float("nan")
    times = process.cpu_times()
    return float(times.user + times.system)


async def measure(
    name: str,
    requests: int,
    concurrency: int,
    call: Callable[[int], Awaitable[httpx.Response]],
    server: psutil.Process | None = None,
    warmup: int = 200,
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            started = time.perf_counter()
            response = await call(i)
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 400:
                errors += 1

    for i in range(warmup):  # caches, prepared statements, pools: measure the steady state
        await call(requests + i)
    cpu_before = cpu_seconds(server)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu_used = cpu_seconds(server) - cpu_before
    latencies.sort()
    return {
        "scenario": name,
        "requests": requests,
        "errors": errors,
        "rps": round(requests / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        # Server CPU per request: steadier than req/s when the load generator shares the CPU.
        "server_cpu_ms": round(cpu_used / requests * 1000, 3),
    }


async def run_scenarios(
    base_url: str,
    key: str,
    data: dict[str, Any],
    requests: int,
    concurrency: int,
    cursor_style: str,
) -> list[dict[str, Any]]:
    sample = data["sample"]
    people = data["people"]
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    def cursor(created: datetime, ident: uuid.UUID) -> str:
        if cursor_style == "api":
            return encode_cursor([created, ident])
        return f"{created.isoformat()}|{ident}"

    server = server_process(base_url)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as client:
        await client.get("/v1/conversations?limit=1")  # warm up connections and caches
        results = [
            await measure(
                "GET one conversation",
                requests,
                concurrency,
                lambda i: client.get(f"/v1/conversations/{sample[i % len(sample)][0]}"),
                server,
            ),
            await measure(
                "GET page of 50 (first page)",
                requests,
                concurrency,
                lambda i: client.get("/v1/conversations?limit=50"),
                server,
            ),
            await measure(
                "GET page of 50 (deep cursor)",
                requests,
                concurrency,
                lambda i: client.get(
                    "/v1/conversations",
                    params={"limit": 50, "cursor": cursor(*sample[i % len(sample)][::-1])},
                ),
                server,
            ),
            await measure(
                "POST conversation",
                requests,
                concurrency,
                lambda i: client.post(
                    "/v1/conversations",
                    json={
                        "employee_id": str(people[i % 100]),
                        "facilitator_id": str(people[100 + i % 100]),
                        "kind": "career",
                    },
                ),
                server,
            ),
        ]
    return results


def print_table(title: str, results: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(
        f"{'scenario':32} {'req':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu ms/req':>10}"
    )
    for r in results:
        print(
            f"{r['scenario']:32} {r['requests']:>6} {r['errors']:>4} {r['rps']:>8} "
            f"{r['p50_ms']:>8} {r['p99_ms']:>8} {r['server_cpu_ms']:>10}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--baseline-url", help="also measure bench/baseline_app.py here")
    parser.add_argument("--admin-token", default=os.environ.get("CCAPI_ADMIN_TOKEN", "change-me"))
    parser.add_argument("--database-url")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()

    async with httpx.AsyncClient(base_url=args.base_url, timeout=30) as admin:
        created = await admin.post(
            "/v1/admin/tenants",
            json={"name": f"bench-{datetime.now(UTC):%Y%m%d%H%M%S}"},
            headers={"Authorization": f"Bearer {args.admin_token}"},
        )
        created.raise_for_status()
    tenant = created.json()
    key = tenant["api_key"]["secret"]
    db_url = database_url(args.database_url)
    started = time.perf_counter()
    data = await seed(db_url, uuid.UUID(tenant["id"]), args.conversations)
    print(f"seeded {args.conversations} conversations in {time.perf_counter() - started:.1f} s")

    report: dict[str, Any] = {
        "conversations": args.conversations,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "api": await run_scenarios(
            args.base_url, key, data, args.requests, args.concurrency, "api"
        ),
    }
    print_table(f"API at {args.base_url}", report["api"])
    if args.baseline_url:
        report["baseline"] = await run_scenarios(
            args.baseline_url, key, data, args.requests, args.concurrency, "baseline"
        )
        print_table(f"bare Starlette + asyncpg at {args.baseline_url}", report["baseline"])
        print("\nAPI cost relative to the bare app (req/s ratio; server CPU per request ratio):")
        for api, base in zip(report["api"], report["baseline"], strict=True):
            cpu = api["server_cpu_ms"] / base["server_cpu_ms"]
            print(f"  {api['scenario']:32} {base['rps'] / api['rps']:.2f}x   {cpu:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))  # noqa: ASYNC240


if __name__ == "__main__":
    asyncio.run(main())
