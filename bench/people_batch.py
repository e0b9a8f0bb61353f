"""The people batch sync, timed: 10,000 people in 10 batches of 1,000 through the ASGI app
(``POST /v1/people/batch``), against a scratch database, then the same 10,000 again with
every name changed (the update path) and once more unchanged.

    .venv/bin/python bench/people_batch.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates the database ``ccapi_bench_people_batch`` on that server (dropped first if it
exists), migrates it (``alembic upgrade head``), creates a tenant and a key, and posts the
batches in order. In each batch the managers come after their reports (10 managers per
batch, each report naming one by ``manager_external_id``), and each batch's managers report
to a manager of the batch before it. Prints the seconds per pass; exits 1 if the create pass
took 10 s or more. The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from app.core.config import Settings  # noqa: E402
from app.core.db import JSON_CODECS, to_asyncpg_url  # noqa: E402
from app.main import create_app  # noqa: E402
from app.services import tenants  # noqa: E402

DB = "ccapi_bench_people_batch"
BATCHES, SIZE, MANAGERS = 10, 1000, 10


def batch(number: int, suffix: str = "") -> list[dict[str, Any]]:
    managers = [f"M-{number}-{n}" for n in range(MANAGERS)]
    people: list[dict[str, Any]] = [
        {
            "external_id": f"P-{number}-{n}",
            "name": f"Person {number}-{n}{suffix}",
            "email": f"p{number}-{n}@example.com",
            "manager_external_id": managers[n % MANAGERS],
        }
        for n in range(SIZE - MANAGERS)
    ]
    for n, manager in enumerate(managers):
        people.append(
            {
                "external_id": manager,
                "name": f"Manager {number}-{n}{suffix}",
                "manager_external_id": f"M-{number - 1}-{n}" if number else None,
            }
        )
    return people


async def run(args: argparse.Namespace) -> int:
    server = args.database_url
    admin = await asyncpg.connect(server)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB}"')
    await admin.execute(f'CREATE DATABASE "{DB}"')
    await admin.close()
    url = server.rsplit("/", 1)[0] + "/" + DB
    migrate = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "alembic"),
        "upgrade",
        "head",
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await migrate.wait() != 0:
        return 1
    settings = Settings(
        env="test",
        database_url=url,
        admin_token="bench-admin-token-0123456789abcdef",
        secret_key="bench-secret-key-0123456789abcdef0123456789",  # type: ignore[arg-type]
        rate_limit_per_minute=1_000_000,
    )
    engine = create_async_engine(to_asyncpg_url(url), pool_size=5, **JSON_CODECS)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    async with sessionmaker() as session:
        tenant = await tenants.create(session, "Bench")
        _, secret = await tenants.create_api_key(session, tenant.id, "bench", ["read", "write"])
        await session.commit()
    app = create_app(settings, engine=engine, sessionmaker=sessionmaker)
    headers = {"Authorization": f"Bearer {secret}"}
    failed = 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", timeout=60
    ) as client:
        for label, suffix in (
            ("create", ""),
            ("update", " (renamed)"),
            ("unchanged", " (renamed)"),
        ):
            bodies = [{"people": batch(n, suffix), "atomic": True} for n in range(BATCHES)]
            started = time.perf_counter()
            for body in bodies:
                response = await client.post("/v1/people/batch", json=body, headers=headers)
                if response.status_code != 200:
                    print(response.status_code, response.text[:500])
                    return 1
            took = time.perf_counter() - started
            results = {r["result"] for r in response.json()["results"]}
            print(f"{label}: {BATCHES * SIZE} people in {BATCHES} batches: {took:.2f} s {results}")
            if label == "create" and took >= 10:
                failed = 1
    async with engine.connect() as conn:
        count = (await conn.exec_driver_sql("SELECT count(*) FROM people")).scalar()
        events = (await conn.exec_driver_sql("SELECT count(*) FROM events")).scalar()
    print(f"people: {count}, events: {events}")
    await engine.dispose()
    if not args.keep:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE "{DB}"')
        await admin.close()
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
