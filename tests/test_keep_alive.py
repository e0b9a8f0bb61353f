"""Over a real server and one raw keep-alive connection: refusals (4xx) never close it,
so a client's next request on the same connection is answered (the 500 case is in
tests/test_errors.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from tests.conftest import TenantKey, steady_keys
from tests.live_server import serving

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def connection(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Connection]:
    app = steady_keys(create_app(settings, engine=engine, sessionmaker=sessionmaker))
    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        yield reader, writer
        writer.close()


async def exchange(
    connection: Connection,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str]]:
    """One HTTP/1.1 request on the open connection: the status and headers (body read)."""
    reader, writer = connection
    lines = [f"{method} {path} HTTP/1.1", "Host: test", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    answer = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    await reader.readexactly(int(answer.get("content-length", "0")))
    return int(status_line.split()[1]), answer


async def test_refusals_keep_the_connection_open(
    connection: Connection, settings: Settings, tenant: TenantKey
) -> None:
    auth = tenant.headers
    json = {**auth, "Content-Type": "application/json"}
    too_big = b'{"name": "' + b"x" * settings.max_body_bytes + b'"}'
    refusals = [
        ("GET", "/v1/people", {}, b"", 401),
        ("GET", "/v1/people", {"Authorization": "Bearer cck_live_nope"}, b"", 401),
        ("GET", "/v1/no-such-route", auth, b"", 404),
        ("GET", "/v1/people/00000000-0000-0000-0000-000000000000", auth, b"", 404),
        ("PUT", "/v1/people", auth, b"", 405),
        ("POST", "/v1/people", json, b"{not json", 422),
        ("POST", "/v1/people", json, b'{"name": ""}', 422),
        ("GET", "/v1/people", {**auth, "X": "y"}, b"", 200),
        ("POST", "/v1/people", json, too_big, 413),
        ("POST", "/v1/people", {**json, "Content-Type": "text/plain"}, b"name", 415),
    ]
    for method, path, headers, body, expected in refusals:
        status, answer = await exchange(connection, method, path, headers, body)
        assert (method, path, status) == (method, path, expected)
        assert answer.get("connection") != "close", (method, path, status)
        assert (await exchange(connection, "GET", "/healthz"))[0] == 200
