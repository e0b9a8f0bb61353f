"""Database faults, really caused: PostgreSQL killed (SIGKILL of the postmaster) and frozen
(SIGSTOP of every process of the server, then SIGCONT), and a crash that leaves stale ids in
the embedded server's handle file.

Each test runs its own embedded PostgreSQL in a data folder of its own, never the session's
shared test database. With ``DATABASE_URL`` set the suite does not control the server, so
these tests are skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from fastapi import FastAPI

from app.core import migrations
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.embedded import EmbeddedPostgres, process_alive
from app.main import create_app
from tests.conftest import ADMIN_TOKEN, TEST_SECRET_KEY, TenantKey, make_tenant
from tests.factories import create_person
from tests.factories_conversations import create_conversation
from tests.webhook_receiver import create_endpoint, running_receiver

needs_server = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="needs control of the PostgreSQL server (embedded only)",
)

RESTART_WITHIN = 30.0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ccapi-faults-"))
    try:
        yield path
    finally:
        _kill_leftovers(path / "pg")
        shutil.rmtree(path, ignore_errors=True)


def fault_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": None,
        "data_dir": data_dir,
        "admin_token": ADMIN_TOKEN,
        "secret_key": TEST_SECRET_KEY,
        "rate_limit_per_minute": 100_000,
        "db_pool_size": 3,
        "db_connect_timeout": 1.0,
        "db_statement_timeout": 1.5,
        "db_pool_timeout": 1.0,
        "webhook_allow_http": True,
        "webhook_allowed_networks": "127.0.0.0/8",
        "webhook_retry_schedule": "1,1,1",
        "webhook_timeout": 2.0,
        "worker_poll_interval": 0.2,
        "scheduler_interval": 0.2,
        **overrides,
    }
    return Settings(**values)


def server_processes(pgdata: Path) -> list[psutil.Process]:
    """The postmaster of ``pgdata`` and all its children."""
    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    postmaster = psutil.Process(pid)
    return [postmaster, *postmaster.children(recursive=True)]


def live_postgres(pgdata: Path) -> list[int]:
    """Live (not zombie) postgres processes serving ``pgdata``: the postmaster names it."""
    found = []
    for process in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = " ".join(process.info["cmdline"] or ())
        named = process.info["name"] == "postgres" and str(pgdata) in cmdline
        if named and process_alive(process.pid):
            found.append(process.pid)
    return found


def _kill_leftovers(pgdata: Path) -> None:
    for pid in live_postgres(pgdata):
        for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            process.send_signal(signal.SIGCONT)
            process.kill()


async def wait_dead(processes: list[psutil.Process], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while any(process_alive(p.pid) for p in processes):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["status"] == 503
    assert body["title"] == "Database unavailable"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app as ``ccapi serve`` runs it: its lifespan starts the embedded server (and
    supervises it), migrates, and runs the webhook worker and the scheduler."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@needs_server
async def test_killed_postgres_answers_503_then_restarts_and_everything_resumes(
    data_dir: Path,
) -> None:
    app = create_app(fault_settings(data_dir), run_worker=True)
    pgdata = data_dir / "pg"
    async with served(app) as client:
        await _kill_and_heal(app, client, pgdata)
    # The clean stop after the restart stops the restarted server.
    assert live_postgres(pgdata) == []


async def _kill_and_heal(app: FastAPI, client: httpx.AsyncClient, pgdata: Path) -> None:
    tenant: TenantKey = await make_tenant(app.state.sessionmaker)
    auth = tenant.headers
    async with running_receiver() as receiver:
        await create_endpoint(client, auth, receiver.url("/hook"))
        person = await create_person(client, auth, name="Ada Lovelace")
        await receiver.wait_for(lambda: len(receiver.at("/hook")) == 1)
        before = (await client.get(f"/v1/people/{person['id']}", headers=auth)).json()

        processes = server_processes(pgdata)
        os.kill(processes[0].pid, signal.SIGKILL)
        await wait_dead(processes)

        response, took = await timed(client.get(f"/v1/people/{person['id']}", headers=auth))
        assert_unavailable(response)
        assert took < 1.0
        response, took = await timed(
            client.post("/v1/people", json={"name": "Grace Hopper"}, headers=auth)
        )
        assert_unavailable(response)
        assert took < 1.0
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "not_ready"
        # Metrics need no database: the queue figures keep their last values.
        assert (await client.get("/metrics")).status_code == 200

        # The supervisor starts the server again; the pool replaces its dead connections.
        async with asyncio.timeout(RESTART_WITHIN):
            while True:
                response = await client.get(f"/v1/people/{person['id']}", headers=auth)
                if response.status_code == 200:
                    break
                assert_unavailable(response)
                await asyncio.sleep(0.2)
        assert response.json() == before
        assert (await client.get("/readyz")).status_code == 200
        assert processes[0].pid not in [p.pid for p in server_processes(pgdata)]

        # Nothing lost, nothing half-written: the one person, not the refused one.
        listing = await client.get("/v1/people", headers=auth)
        assert [p["name"] for p in listing.json()["data"]] == ["Ada Lovelace"]

        # The worker delivers again, and the scheduler fires again.
        second = await create_person(client, auth, name="Katherine Johnson")
        await receiver.wait_for(lambda: len(receiver.at("/hook")) == 2)
        delivered = json.loads(receiver.at("/hook")[1].body)
        assert delivered["type"] == "person.created"
        assert delivered["data"]["id"] == second["id"]
        conversation = await create_conversation(client, auth)
        follow_up = await client.post(
            "/v1/follow-ups",
            json={
                "conversation_id": conversation["id"],
                "assignee_id": conversation["facilitator_id"],
                "due_at": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
            },
            headers=auth,
        )
        assert follow_up.status_code == 201, follow_up.text
        async with asyncio.timeout(20):
            while True:
                events = await client.get(
                    "/v1/events", params={"type": "follow_up.due"}, headers=auth
                )
                assert events.status_code == 200
                if events.json()["data"]:
                    break
                await asyncio.sleep(0.2)
        assert [e["subject_id"] for e in events.json()["data"]] == [follow_up.json()["id"]]

    # The key cache listens again (revocations reach this process at once).
    async with asyncio.timeout(10):
        while not app.state.key_cache.listening:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@needs_server
async def test_frozen_postgres_answers_503_within_the_timeouts_and_the_pool_recovers(
    data_dir: Path,
) -> None:
    settings = fault_settings(data_dir, db_pool_size=2)
    embedded = EmbeddedPostgres(data_dir)
    url = await asyncio.to_thread(embedded.start)
    engine = None
    frozen: list[psutil.Process] = []
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        engine = create_engine(url, settings)
        app = create_app(settings, engine=engine)
        tenant = await make_tenant(create_sessionmaker(engine))
        auth = tenant.headers
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            person = await create_person(client, auth, name="Ada Lovelace")
            path = f"/v1/people/{person['id']}"
            # Both pooled connections open, so the freeze catches requests mid-statement
            # on an established connection as well as ones opening a new connection.
            await asyncio.gather(*(client.get(path, headers=auth) for _ in range(2)))

            frozen = server_processes(data_dir / "pg")
            for process in frozen:
                process.send_signal(signal.SIGSTOP)
            # More requests at once than the pool holds: a statement that never answers,
            # a connection that never opens, a checkout that waits for either.
            calls = [
                timed(client.get(path, headers=auth)),
                timed(client.get(path, headers=auth)),
                timed(client.post("/v1/people", json={"name": "Grace Hopper"}, headers=auth)),
                timed(client.get("/v1/people", headers=auth)),
            ]
            results = await asyncio.gather(*calls)
            for response, took in results:
                assert_unavailable(response)
                assert took < 8.0  # bounded by the timeouts (1 - 1.5 s each), not a hang
            ready, took = await timed(client.get("/readyz"))
            assert ready.status_code == 503
            assert took < 8.0

            for process in frozen:
                process.send_signal(signal.SIGCONT)
            frozen = []
            async with asyncio.timeout(20):
                while (await client.get(path, headers=auth)).status_code != 200:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            # Recovered for good: connections that failed were discarded, not reused.
            for _ in range(6):
                response = await client.get(path, headers=auth)
                assert response.status_code == 200, response.text
            assert (await client.get("/readyz")).status_code == 200
            listing = await client.get("/v1/people", headers=auth)
            assert [p["name"] for p in listing.json()["data"]] == ["Ada Lovelace"]
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        for process in frozen:
            process.send_signal(signal.SIGCONT)
        if engine is not None:
            await engine.dispose()
        await asyncio.to_thread(embedded.stop)
    assert live_postgres(data_dir / "pg") == []


OWNER = """
import sys, time
from pathlib import Path
from app.core.embedded import EmbeddedPostgres
EmbeddedPostgres(Path(sys.argv[1])).start()
print("ready", flush=True)
time.sleep(600)
"""


@needs_server
def test_a_clean_stop_after_a_crash_leaves_no_postgres_behind(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline() == "ready\n"
    finally:
        owner.kill()  # a crash: no cleanup runs
        owner.wait()
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == [owner.pid]
    assert live_postgres(pgdata) != []

    embedded = EmbeddedPostgres(data_dir)
    embedded.start()
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == [os.getpid()]
    embedded.stop()
    assert live_postgres(pgdata) == []
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == []


@needs_server
def test_a_start_after_the_server_and_its_owner_crashed_starts_a_fresh_server(
    data_dir: Path,
) -> None:
    pgdata = data_dir / "pg"
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline() == "ready\n"
        processes = server_processes(pgdata)
    finally:
        owner.kill()
        owner.wait()
    processes[0].kill()
    asyncio.run(wait_dead(processes))

    embedded = EmbeddedPostgres(data_dir)
    embedded.start()
    try:
        assert len(live_postgres(pgdata)) == 1
        assert processes[0].pid not in live_postgres(pgdata)
    finally:
        embedded.stop()
    assert live_postgres(pgdata) == []


async def test_no_free_pooled_connection_answers_503_after_the_pool_timeout(
    settings: Settings, database_url: str, tenant_c: TenantKey
) -> None:
    """Every pooled connection busy (held here) for longer than the pool timeout."""
    tight = settings.model_copy(update={"db_pool_size": 1, "db_pool_timeout": 0.5})
    engine = create_engine(database_url, tight)
    try:
        app = create_app(tight, engine=engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/v1/tenant", headers=tenant_c.headers)).status_code == 200
            async with engine.connect():
                response, took = await timed(client.get("/v1/tenant", headers=tenant_c.headers))
                assert_unavailable(response)
                assert took < 5.0
                ready = await client.get("/readyz")
                assert ready.status_code == 503
            assert (await client.get("/v1/tenant", headers=tenant_c.headers)).status_code == 200
    finally:
        await engine.dispose()
