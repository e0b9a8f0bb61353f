"""A real HTTP receiver on 127.0.0.1 for webhook tests, and helpers to run workers.

The receiver is a small ASGI app served by uvicorn on a free port in the test's event
loop. It records every request as it arrives, answers as the test's handler says, and
tracks which deliveries are in flight, so a test can prove none was sent twice at once.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.background.worker import BackgroundWorkers
from app.core.config import Settings
from app.models.base import uuid7
from app.services import events, webhooks


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Handler = Callable[[Received], Reply | Awaitable[Reply]]


class Receiver:
    """Per-path handlers (default: 200 "ok"); every request is kept in ``requests``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.handlers: dict[str, Handler] = {}
        self.in_flight: Counter[tuple[str, str]] = Counter()
        self.overlaps: list[tuple[str, str]] = []
        # Requests being answered per path now, and the most there ever were at once.
        self.concurrent: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str, handler: Handler) -> None:
        self.handlers[path] = handler

    def reply(self, path: str, reply: Reply) -> None:
        self.handlers[path] = lambda _request: reply

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = Received(path=scope["path"], headers=headers, body=body)
        key = (request.path, request.webhook_id)
        if self.in_flight[key]:
            self.overlaps.append(key)
        self.in_flight[key] += 1
        self.concurrent[request.path] += 1
        self.peak[request.path] = max(self.peak[request.path], self.concurrent[request.path])
        self.requests.append(request)
        self._changed.set()
        try:
            handler = self.handlers.get(request.path)
            reply = Reply()
            if handler is not None:
                produced = handler(request)
                reply = await produced if isinstance(produced, Awaitable) else produced
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            self.in_flight[key] -= 1
            self.concurrent[request.path] -= 1
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self, log_level="error", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    async def wait_for(self, condition: Callable[[], bool], within: float = 20.0) -> None:
        """Wait until ``condition()`` holds, re-checking on every request (or 0.1 s)."""
        async with asyncio.timeout(within):
            while not condition():
                self._changed.clear()
                try:
                    async with asyncio.timeout(0.1):
                        await self._changed.wait()
                except TimeoutError:
                    pass


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connections are refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def worker_settings(settings: Settings, **overrides: Any) -> Settings:
    """The test settings with quick polling, a small pool footprint and ``overrides``."""
    values: dict[str, Any] = {
        "worker_poll_interval": 0.2,
        "worker_concurrency": 4,
        "worker_batch_size": 4,
        **overrides,
    }
    return settings.model_copy(update=values)


@asynccontextmanager
async def running_workers(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> AsyncIterator[BackgroundWorkers]:
    workers = BackgroundWorkers(engine, sessionmaker, settings)
    await workers.start()
    try:
        yield workers
    finally:
        await workers.stop()


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 20.0, interval: float = 0.1
) -> None:
    """Wait until the async ``check()`` holds (generous timeout; no timing asserted)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (polling the database)
            await asyncio.sleep(interval)


async def create_endpoint(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, **fields: Any
) -> dict[str, Any]:
    """Register a webhook endpoint through the API; returns it (with its secret)."""
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": url, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def enqueue(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, count: int
) -> list[str]:
    """``count`` person.updated events in one committed transaction; their ids."""
    webhooks.register_hooks()  # as the app and the workers do: the events queue deliveries
    ids = []
    async with sessionmaker() as session:
        for i in range(count):
            event = await events.record(
                session,
                tenant_id=tenant_id,
                type="person.updated",
                subject_type="person",
                subject_id=uuid7(),
                data={"n": i},
            )
            ids.append(str(event.id))
        await session.commit()
    return ids
