"""Background loops run beside the API (``ccapi serve``) or alone (``ccapi worker``):
webhook delivery and the scheduler of time-driven events (app/background/scheduler.py).

The webhook delivery loop leases due deliveries from PostgreSQL, sends them concurrently
and records each result (see ``app/background/webhook_delivery.py``). Any number of these
loops, in any number of processes, share one queue. A dedicated connection LISTENs for
new deliveries to wake the loop at once; polling stays the source of truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import datetime
from typing import Any

import asyncpg
import httpx
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.background import scheduler
from app.background import webhook_delivery as delivery
from app.core import ssrf
from app.core.config import Settings
from app.core.errors import database_unavailable
from app.core.metrics import WEBHOOK_ATTEMPTS
from app.services import webhooks

log = logging.getLogger(__name__)

MIN_IDLE_SLEEP = 0.05
LISTENER_PING_INTERVAL = 30.0
METRICS_REFRESH_INTERVAL = 10.0
SHUTDOWN_GRACE_EXTRA = 5.0


def asyncpg_connect_kwargs(engine: AsyncEngine, timeout: float = 5.0) -> dict[str, Any]:
    """asyncpg.connect() arguments for the engine's database (for a LISTEN connection)."""
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    for key in ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback"):
        kwargs.pop(key, None)
    kwargs["server_settings"] = {"application_name": "ccapi-listener"}
    kwargs["timeout"] = timeout
    return dict(kwargs)


class DeliveryWorker:
    """One delivery loop: at most ``worker_concurrency`` sends in flight."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.concurrency = max(1, settings.worker_concurrency)
        self.batch_size = max(1, settings.worker_batch_size)
        self.refill_at = max(1, min(self.batch_size, self.concurrency // 2))
        # A lease must outlive the send it covers (bounded by the timeout) and its recording.
        self.lease_seconds = max(settings.worker_lease_seconds, settings.webhook_timeout + 2.0)
        self.wake = asyncio.Event()
        # B311: retry jitter, not security
        self.rng = random.Random()  # nosec B311
        self._inflight: set[asyncio.Task[None]] = set()
        # The last claim left due deliveries behind (an endpoint at its cap): a send that
        # finishes frees a slot, so it wakes the loop.
        self._held_back = False
        self._stopping = False
        self._client: httpx.AsyncClient | None = None

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=ssrf.GuardedTransport(self.settings, max_connections=self.concurrency),
            timeout=httpx.Timeout(self.settings.webhook_timeout),
            follow_redirects=False,
            trust_env=False,
        )

    async def run(self) -> None:
        self._client = self._new_client()
        listener = asyncio.create_task(self._listen(), name="webhook-listener")
        backlog = False
        try:
            while not self._stopping:
                free = self.concurrency - len(self._inflight)
                # With a backlog, refill in batches rather than one slot at a time: one
                # claim transaction per few deliveries instead of one per delivery.
                if free <= 0 or (backlog and free < self.refill_at):
                    await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                wanted = min(free, self.batch_size)
                self.wake.clear()
                try:
                    batch = await delivery.claim(
                        self.sessionmaker,
                        self.settings.keyring,
                        wanted,
                        self.lease_seconds,
                        self.settings.webhook_endpoint_concurrency,
                    )
                except Exception as exc:
                    if database_unavailable(exc):  # it comes back: keep polling
                        log.warning("claiming webhook deliveries failed: database unavailable")
                    else:
                        log.exception("claiming webhook deliveries failed")
                    await self._idle(self.settings.worker_poll_interval)
                    continue
                for claimed in batch:
                    task = asyncio.create_task(self._process(claimed))
                    self._inflight.add(task)
                    task.add_done_callback(self._finished)
                backlog = len(batch) == wanted
                if not backlog and not self._stopping:
                    await self._idle(await self._idle_time(batch.as_of))
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self._drain()
            await self._client.aclose()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._held_back:
            self.wake.set()

    async def _idle_time(self, as_of: datetime) -> float:
        poll = self.settings.worker_poll_interval
        try:
            due_in, self._held_back = await delivery.seconds_until_next_due(
                self.sessionmaker, as_of
            )
        except Exception as exc:
            self._held_back = False
            if database_unavailable(exc):
                log.warning("reading the delivery queue failed: database unavailable")
            else:
                log.exception("reading the delivery queue failed")
            return poll
        if due_in is None:
            return poll
        return max(MIN_IDLE_SLEEP, min(poll, due_in))

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.wake.wait()

    async def _process(self, claimed: delivery.Claimed) -> None:
        assert self._client is not None
        try:
            if not claimed.enabled:
                await delivery.give_up_unsent(
                    self.sessionmaker, claimed, "The endpoint was disabled."
                )
                return
            if time.monotonic() + self.settings.webhook_timeout > claimed.lease_deadline:
                # Stalled since the claim: a full send might outlive the lease and overlap
                # another worker's. Let the lease lapse instead.
                log.warning(
                    "webhook lease too short to send", extra={"delivery_id": str(claimed.id)}
                )
                return
            outcome = await delivery.send(self._client, claimed, self.settings)
            WEBHOOK_ATTEMPTS.labels(outcome.result).inc()
            for attempt in range(3):
                try:
                    status = await delivery.record(
                        self.sessionmaker, claimed, outcome, self.settings, self.rng
                    )
                    break
                except Exception:
                    if attempt == 2:
                        raise
                    log.warning("recording a webhook attempt failed; retrying", exc_info=True)
                    await asyncio.sleep(0.5 * (attempt + 1))
            if status is None:
                log.warning(
                    "webhook lease lost before recording", extra={"delivery_id": str(claimed.id)}
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease lapses and another attempt follows: at-least-once.
            log.exception("webhook delivery failed", extra={"delivery_id": str(claimed.id)})

    async def _drain(self) -> None:
        """Let in-flight sends finish (bounded); the leases of any cut short lapse."""
        if not self._inflight:
            return
        grace = self.settings.webhook_timeout + SHUTDOWN_GRACE_EXTRA
        _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _listen(self) -> None:
        """Wake the loop on NOTIFY; reconnect with backoff if the connection drops."""
        backoff = 1.0
        while True:
            try:
                conn = await asyncpg.connect(
                    **asyncpg_connect_kwargs(self.engine, self.settings.db_connect_timeout)
                )
            except Exception:
                log.warning("webhook listener cannot connect; polling only", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            try:
                await self._listen_on(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("webhook listener lost its connection; reconnecting", exc_info=True)
            finally:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await conn.close()
                if not conn.is_closed():
                    conn.terminate()

    async def _listen_on(self, conn: asyncpg.Connection) -> None:
        closed = asyncio.Event()
        conn.add_termination_listener(lambda _conn: closed.set())
        await conn.add_listener(webhooks.NOTIFY_CHANNEL, lambda *_args: self.wake.set())
        self.wake.set()  # anything queued while we were not listening
        while not closed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LISTENER_PING_INTERVAL):
                    await closed.wait()
            if not closed.is_set():
                async with asyncio.timeout(5.0):
                    await conn.execute("SELECT 1")

    async def stop(self) -> None:
        self._stopping = True
        self.wake.set()


class BackgroundWorkers:
    """Starts and stops the delivery and scheduler loops."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.settings = settings
        # The scheduler's events queue webhook deliveries like a request's do.
        webhooks.register_hooks()
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self.delivery = DeliveryWorker(engine, sessionmaker, settings)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.delivery.run(), name="webhook-delivery"))
        self._tasks.append(
            asyncio.create_task(
                scheduler.run_forever(
                    self.sessionmaker, self.settings.scheduler_interval, self._stop
                ),
                name="scheduler",
            )
        )
        if self.settings.worker_metrics_port:
            start_http_server(self.settings.worker_metrics_port, addr=self.settings.host)
            self._tasks.append(asyncio.create_task(self._refresh_metrics(), name="metrics"))
        log.info("background workers started", extra={"loops": len(self._tasks)})

    async def _refresh_metrics(self) -> None:
        while not self._stop.is_set():
            try:
                await delivery.refresh_queue_metrics(self.sessionmaker)
            except Exception:
                log.warning("refreshing queue metrics failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(METRICS_REFRESH_INTERVAL):
                    await self._stop.wait()

    async def stop(self) -> None:
        """Stop claiming; in-flight sends finish (bounded by the timeout) or their leases lapse."""
        self._stop.set()
        await self.delivery.stop()
        _, pending = await asyncio.wait(
            self._tasks, timeout=self.settings.webhook_timeout + 2 * SHUTDOWN_GRACE_EXTRA
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
