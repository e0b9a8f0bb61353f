"""Worker processes: crash safety (SIGKILL mid-batch) and two workers sharing one queue.

Workers run as real `ccapi worker` subprocesses against the test database; the receiver
runs in the test process on loopback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.models.webhook import WebhookDelivery
from tests.conftest import ADMIN_TOKEN, TEST_SECRET_KEY, make_tenant
from tests.webhook_receiver import Reply, create_endpoint, enqueue, eventually, running_receiver

Sessionmaker = async_sessionmaker[AsyncSession]
CCAPI = Path(sys.executable).parent / "ccapi"


def _log_file(path: Path) -> BinaryIO:
    return path.open("wb")


@asynccontextmanager
async def worker_process(
    database_url: str, workdir: Path, name: str, **settings: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`ccapi worker` with quick polling and a short lease; stopped (SIGTERM) on exit."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CCAPI_ENV": "test",
        "CCAPI_ADMIN_TOKEN": ADMIN_TOKEN,
        "CCAPI_SECRET_KEY": TEST_SECRET_KEY,
        "CCAPI_DATA_DIR": str(workdir),
        "CCAPI_LOG_LEVEL": "WARNING",
        "CCAPI_WEBHOOK_ALLOW_HTTP": "true",
        "CCAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CCAPI_WEBHOOK_TIMEOUT": "2",
        "CCAPI_WORKER_LEASE_SECONDS": "3",
        "CCAPI_WORKER_POLL_INTERVAL": "0.2",
        **{f"CCAPI_{key.upper()}": value for key, value in settings.items()},
    }
    with _log_file(workdir / f"{name}.log") as log:
        process = await asyncio.create_subprocess_exec(
            str(CCAPI), "worker", env=env, cwd=workdir, stdout=log, stderr=log
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(20):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def status_counts(sessionmaker: Sessionmaker) -> dict[str, int]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(col(WebhookDelivery.status), sa.func.count()).group_by(
                col(WebhookDelivery.status)
            )
        )
        return {status: count for status, count in rows.all()}


async def test_a_killed_worker_loses_nothing(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: Sessionmaker,
    database_url: str,
    tmp_path: Path,
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker, "Crashco")
    async with running_receiver() as rx:
        rx.reply("/slow", Reply(200, delay=0.5))
        await create_endpoint(committed_client, tenant.headers, rx.url("/slow"))
        event_ids = await enqueue(committed_app_sessionmaker, tenant.tenant_id, 40)

        async with worker_process(
            database_url, tmp_path, "first", worker_concurrency="10"
        ) as first:
            await rx.wait_for(lambda: len(rx.requests) >= 12, within=60)
            first.kill()  # SIGKILL, mid-batch: sends are in flight
            await first.wait()
        assert first.returncode == -signal.SIGKILL

        async with committed_app_sessionmaker() as session:
            leased = await session.scalar(
                select(sa.func.count()).where(
                    col(WebhookDelivery.status) == "pending",
                    col(WebhookDelivery.lease_token).is_not(None),
                )
            )
        assert (leased or 0) > 0  # the kill left leased, unfinished deliveries behind
        assert (await status_counts(committed_app_sessionmaker)).get("pending", 0) > 0

        async with worker_process(database_url, tmp_path, "second") as second:

            async def drained() -> bool:
                return "pending" not in await status_counts(committed_app_sessionmaker)

            await eventually(drained, within=60, interval=0.2)
        assert second.returncode == 0  # SIGTERM: a graceful stop

    assert await status_counts(committed_app_sessionmaker) == {"succeeded": 40}
    arrived = {r.webhook_id for r in rx.requests}
    assert arrived == set(event_ids)  # every delivery arrived at least once
    assert len(rx.requests) >= 40


async def test_two_workers_share_a_queue_without_sending_anything_twice_at_once(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: Sessionmaker,
    database_url: str,
    tmp_path: Path,
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker, "Scaleco")
    async with running_receiver() as rx:
        paths = [f"/e{i}" for i in range(10)]
        for path in paths:
            rx.reply(path, Reply(200, delay=0.002))
            await create_endpoint(committed_client, tenant.headers, rx.url(path))
        event_ids = await enqueue(committed_app_sessionmaker, tenant.tenant_id, 100)
        assert await status_counts(committed_app_sessionmaker) == {"pending": 1000}

        async with (
            worker_process(database_url, tmp_path, "a") as a,
            worker_process(database_url, tmp_path, "b") as b,
        ):

            async def drained() -> bool:
                return "pending" not in await status_counts(committed_app_sessionmaker)

            await eventually(drained, within=90, interval=0.2)
        assert (a.returncode, b.returncode) == (0, 0)

    assert await status_counts(committed_app_sessionmaker) == {"succeeded": 1000}
    assert rx.overlaps == []  # no delivery was ever in flight twice at the same time
    keys = [(r.path, r.webhook_id) for r in rx.requests]
    assert len(keys) == 1000
    assert set(keys) == {(p, e) for p in paths for e in event_ids}
    async with committed_app_sessionmaker() as session:
        attempts = await session.scalars(select(col(WebhookDelivery.attempt_count)).distinct())
        assert attempts.all() == [1]


async def test_two_workers_together_keep_each_endpoint_under_its_cap(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: Sessionmaker,
    database_url: str,
    tmp_path: Path,
) -> None:
    """Each worker could send eight at once; the receiver never sees more than the cap
    (3) in flight to one endpoint, whichever worker sent them."""
    tenant = await make_tenant(committed_app_sessionmaker, "Capco")
    async with running_receiver() as rx:
        for path in ("/capped", "/other"):
            rx.reply(path, Reply(200, delay=0.3))
            await create_endpoint(committed_client, tenant.headers, rx.url(path))
        event_ids = await enqueue(committed_app_sessionmaker, tenant.tenant_id, 30)
        capped = {"worker_concurrency": "8", "webhook_endpoint_concurrency": "3"}

        async with (
            worker_process(database_url, tmp_path, "a", **capped) as a,
            worker_process(database_url, tmp_path, "b", **capped) as b,
        ):

            async def drained() -> bool:
                return "pending" not in await status_counts(committed_app_sessionmaker)

            await eventually(drained, within=90, interval=0.2)
        assert (a.returncode, b.returncode) == (0, 0)

    assert await status_counts(committed_app_sessionmaker) == {"succeeded": 60}
    assert rx.peak == {"/capped": 3, "/other": 3}
    assert rx.overlaps == []
    assert sorted(r.webhook_id for r in rx.at("/capped")) == sorted(event_ids)


def test_the_delivery_hook_is_registered_by_the_builders_not_by_an_import() -> None:
    """Importing the webhooks service registers nothing; create_app and BackgroundWorkers
    register the hook (once, however many times they run)."""
    code = """
import asyncio
from app.core.config import Settings
from app.services import events, webhooks
assert events._hooks == [] and events._fan_outs == [], (events._hooks, events._fan_outs)
from app.main import create_app
assert events._hooks == [], events._hooks
create_app(Settings(env="development"))
create_app(Settings(env="development"))
assert events._hooks == [webhooks.enqueue_deliveries], events._hooks
assert events._fan_outs == [webhooks.enqueue_deliveries_sql], events._fan_outs
events._hooks.clear()
events._fan_outs.clear()
from app.background.worker import BackgroundWorkers
from app.core.db import create_engine, create_sessionmaker
engine = create_engine("postgresql://nobody@127.0.0.1:1/none", Settings(env="development"))
BackgroundWorkers(engine, create_sessionmaker(engine), Settings(env="development"))
assert events._hooks == [webhooks.enqueue_deliveries], events._hooks
assert events._fan_outs == [webhooks.enqueue_deliveries_sql], events._fan_outs
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stdout, done.stderr[-2000:]) == (0, "ok\n", "")
