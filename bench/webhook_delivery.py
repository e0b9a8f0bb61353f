"""Webhook delivery benchmark: throughput of one worker, and due-to-delivered latency.

    .venv/bin/python bench/webhook_delivery.py [--deliveries 2000] [--endpoints 10]

Uses a fresh database on ``DATABASE_URL``'s server (dropped afterwards) or, when unset, an
embedded PostgreSQL in a temporary folder. A receiver answering 200 at once runs on
127.0.0.1 in its own process, so it does not compete with the worker for the GIL.

1. Throughput: ``--deliveries`` deliveries are queued (spread over ``--endpoints``
   endpoints), then one worker (``BackgroundWorkers``, default settings) is started; the
   figure is deliveries recorded as succeeded per second, from start to the last.
2. Latency: with the worker idle, single events are committed one at a time; the figure
   is the time from the commit (the delivery is due) to its arrival at the receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import make_url

from app.background.worker import BackgroundWorkers
from app.core import migrations
from app.core.config import Settings, to_asyncpg_url
from app.core.db import create_engine, create_sessionmaker
from app.core.sealing import generate_key
from app.models.base import uuid7
from app.models.webhook import WebhookDelivery, WebhookEndpoint
from app.services import events, tenants, webhooks
from app.services.webhooks import new_secret, seal_secret


def _receiver_main(port_out: Connection, arrivals_out: Connection) -> None:
    """The receiver process: answers 200 at once and reports each arrival to the parent."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        msg_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
        arrivals_out.send((f"{scope['path']}:{msg_id}", time.time()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port_out.send(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


class Receiver:
    """A local receiver in its own process (so it does not compete with the worker for the
    GIL); a thread here collects when each webhook-id first arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.port = 0
        self.process: BaseProcess | None = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        port_in, port_out = context.Pipe(duplex=False)
        arrivals_in, arrivals_out = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_receiver_main, args=(port_out, arrivals_out), daemon=True
        )
        self.process.start()
        arrivals_out.close()
        self.port = port_in.recv()
        threading.Thread(target=self._collect, args=(arrivals_in,), daemon=True).start()

    def _collect(self, arrivals_in: Connection) -> None:
        while True:
            try:
                key, when = arrivals_in.recv()
            except (EOFError, OSError):
                return
            self.count += 1
            self.arrivals.setdefault(key, when)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.join(timeout=10)


@contextmanager
def database() -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        import asyncpg

        url = make_url(to_asyncpg_url(external))
        name = f"ccapi_bench_{uuid.uuid4().hex[:8]}"

        async def admin(sql: str) -> None:
            conn = await asyncpg.connect(
                user=url.username,
                password=url.password,
                host=url.host,
                port=url.port,
                database=url.database,
            )
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    from app.core.embedded import EmbeddedPostgres

    folder = Path(tempfile.mkdtemp(prefix="ccapi-bench-"))
    embedded = EmbeddedPostgres(folder)
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(url: str, deliveries: int, endpoint_count: int, samples: int) -> None:
    settings = Settings(
        env="development",
        database_url=url,
        webhook_allow_http=True,
        webhook_allowed_networks="127.0.0.0/8",  # type: ignore[arg-type]
        secret_key=generate_key(),
    )
    engine = create_engine(url, settings)
    sessionmaker = create_sessionmaker(engine)
    receiver = Receiver()
    receiver.start()
    try:
        async with sessionmaker() as session:
            tenant = await tenants.create(session, "Bench")
            endpoints = []
            for i in range(endpoint_count):
                endpoint_id = uuid7()
                sealed = seal_secret(settings.keyring, tenant.id, endpoint_id, new_secret())
                endpoints.append(
                    WebhookEndpoint(
                        id=endpoint_id,
                        tenant_id=tenant.id,
                        url=f"http://127.0.0.1:{receiver.port}/e{i}",
                        secret_sealed=sealed,
                    )
                )
            session.add_all(endpoints)
            await session.commit()

        events_needed = -(-deliveries // endpoint_count)
        total = events_needed * endpoint_count
        webhooks.register_hooks()  # the events below queue deliveries, as the app's do
        queued_at = time.perf_counter()
        async with sessionmaker() as session:
            for i in range(events_needed):
                await events.record(
                    session,
                    tenant_id=tenant.id,
                    type="person.updated",
                    subject_type="person",
                    subject_id=uuid7(),
                    data={"n": i, "name": "Ada Lovelace", "title": "Engineer"},
                )
            await session.commit()
        queue_seconds = time.perf_counter() - queued_at

        workers = BackgroundWorkers(engine, sessionmaker, settings)
        started = time.perf_counter()
        await workers.start()
        while True:
            async with sessionmaker() as session:
                pending = await session.scalar(
                    sa.select(sa.func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.status == "pending")  # type: ignore[arg-type]
                )
            if not pending:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        received = receiver.count

        # Latency: one endpoint subscribed, one event at a time, worker idle in between.
        async with sessionmaker() as session:
            await session.execute(
                sa.update(WebhookEndpoint)
                .where(WebhookEndpoint.url != endpoints[0].url)  # type: ignore[arg-type]
                .values(enabled=False)
            )
            await session.commit()
        latencies = []
        for i in range(samples):
            await asyncio.sleep(0.05)
            async with sessionmaker() as session:
                event = await events.record(
                    session,
                    tenant_id=tenant.id,
                    type="person.updated",
                    subject_type="person",
                    subject_id=uuid7(),
                    data={"n": i},
                )
                await session.commit()
            committed = time.time()
            key = f"/e0:{event.id}"
            while key not in receiver.arrivals:  # noqa: ASYNC110 (set by another thread)
                await asyncio.sleep(0.001)
            latencies.append((receiver.arrivals[key] - committed) * 1000)
        await workers.stop()
    finally:
        receiver.stop()
        await engine.dispose()

    print("webhook delivery benchmark")
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
    print(f"  database            {where}")
    print(
        f"  worker settings     concurrency={settings.worker_concurrency} "
        f"batch={settings.worker_batch_size} (defaults), one worker"
    )
    print(
        f"  queued              {total} deliveries to {endpoint_count} endpoints "
        f"in {queue_seconds:.2f} s"
    )
    print(
        f"  throughput          {total / elapsed:.0f} deliveries/s "
        f"({total} in {elapsed:.2f} s; {received} requests received)"
    )
    print(
        f"  due-to-delivered    p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms "
        f"({samples} single events, worker idle, woken by NOTIFY)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--latency-samples", type=int, default=50)
    args = parser.parse_args()
    with database() as url:
        migrations.upgrade(url)
        asyncio.run(run(url, args.deliveries, args.endpoints, args.latency_samples))


if __name__ == "__main__":
    main()
