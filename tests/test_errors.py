"""Every error is RFC 9457 problem+json; request ids; body size and rate limits."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from tests.conftest import TenantKey
from tests.live_server import serving

PROBLEM_KEYS = {"type", "title", "status", "code", "instance", "request_id"}
GENERATED_ID = re.compile(r"^req_[0-9a-f]{32}$")
MIB = 1024 * 1024


def assert_problem(
    response: httpx.Response, status: int, code: str, instance: str
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == "https://ccapi.dev/problems/" + code.replace("_", "-")
    assert body["instance"] == instance
    assert isinstance(body["title"], str)
    assert body["title"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


async def test_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/people")
    body = assert_problem(response, 401, "unauthorized", "/v1/people")
    assert body["title"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ccapi"'


async def test_403(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from tests.conftest import make_tenant

    hooks = await make_tenant(sessionmaker, "Hooks", scopes=("webhooks",))
    response = await client.get("/v1/people", headers=hooks.headers)
    body = assert_problem(response, 403, "forbidden", "/v1/people")
    assert body["title"] == "Forbidden"


async def test_404_for_unknown_route(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get("/v1/nope", headers=auth)
    body = assert_problem(response, 404, "not_found", "/v1/nope")
    assert body["title"] == "Not found"
    assert body["detail"] == "No route matches GET /v1/nope."

    anonymous = await client.get("/nothing/here")
    assert_problem(anonymous, 404, "not_found", "/nothing/here")


async def test_404_for_unknown_id(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    path = "/v1/people/00000000-0000-7000-8000-000000000000"
    response = await client.get(path, headers=auth)
    assert_problem(response, 404, "not_found", path)


async def test_405(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.put("/v1/tenant", json={}, headers=auth)
    body = assert_problem(response, 405, "method_not_allowed", "/v1/tenant")
    assert body["title"] == "Method not allowed"
    # Every method the path allows, not only the first route's (GET and PATCH here).
    assert response.headers["Allow"] == "GET, PATCH"
    assert body["detail"] == "PUT is not allowed here; use GET, PATCH."
    person = "/v1/people/0190e3c4-0000-7000-8000-000000000000"
    for method, path, allowed in (
        ("DELETE", "/v1/people", "GET, POST"),
        ("PUT", person, "DELETE, GET, PATCH"),
        ("GET", f"{person.replace('people', 'conversations')}/schedule", "POST"),
        ("POST", "/healthz", "GET"),
    ):
        refused = await client.request(method, path, headers=auth)
        assert (refused.status_code, refused.headers["Allow"]) == (405, allowed), path


async def test_413_by_content_length(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    payload = json.dumps({"name": "Ada", "metadata": {"blob": "x" * MIB}}).encode()
    response = await client.post(
        "/v1/people",
        content=payload,
        headers={**auth, "Content-Type": "application/json"},
    )
    body = assert_problem(response, 413, "payload_too_large", "/v1/people")
    assert body["detail"] == f"The request body exceeds {MIB} bytes."
    listed = await client.get("/v1/people", headers=auth)
    assert listed.json()["data"] == []


async def test_413_for_a_streamed_body(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "Ada", "metadata": {"blob": "'
        for _ in range(20):
            yield b"x" * 64 * 1024
        yield b'"}}'

    request = client.build_request(
        "POST",
        "/v1/people",
        content=chunks(),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert "Content-Length" not in request.headers
    assert request.headers["Transfer-Encoding"] == "chunked"
    response = await client.send(request)
    body = assert_problem(response, 413, "payload_too_large", "/v1/people")
    assert body["detail"] == f"The request body exceeds {MIB} bytes."
    listed = await client.get("/v1/people", headers=auth)
    assert listed.json()["data"] == []


async def test_body_just_under_the_limit_is_accepted(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # Not too large, but the metadata is over its own 8 KiB bound: a 422, not a 413.
    payload = json.dumps({"name": "Ada", "metadata": {"blob": "x" * (MIB - 100)}}).encode()
    assert len(payload) <= MIB
    response = await client.post(
        "/v1/people", content=payload, headers={**auth, "Content-Type": "application/json"}
    )
    body = assert_problem(response, 422, "validation_failed", "/v1/people")
    assert [e["pointer"] for e in body["errors"]] == ["/body/metadata"]


async def test_422_lists_json_pointers(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/people",
        json={"name": "", "email": "nope", "manager_id": "not-a-uuid", "extra": 1},
        headers=auth,
    )
    body = assert_problem(response, 422, "validation_failed", "/v1/people")
    assert body["title"] == "Validation failed"
    assert sorted(e["pointer"] for e in body["errors"]) == [
        "/body/email",
        "/body/extra",
        "/body/manager_id",
        "/body/name",
    ]
    assert body["detail"] == "4 field(s) failed validation."
    for error in body["errors"]:
        assert set(error) == {"pointer", "detail", "code"}
    codes = {e["pointer"]: e["code"] for e in body["errors"]}
    assert codes["/body/extra"] == "extra_forbidden"
    assert codes["/body/name"] == "string_too_short"


async def test_422_for_malformed_json_and_wrong_types(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    broken = await client.post(
        "/v1/people", content=b'{"name": ', headers={**auth, "Content-Type": "application/json"}
    )
    body = assert_problem(broken, 422, "validation_failed", "/v1/people")
    assert [e["code"] for e in body["errors"]] == ["json_invalid"]

    not_object = await client.post("/v1/people", json=["Ada"], headers=auth)
    assert_problem(not_object, 422, "validation_failed", "/v1/people")

    query = await client.get("/v1/people?limit=abc", headers=auth)
    body = assert_problem(query, 422, "validation_failed", "/v1/people")
    assert [e["pointer"] for e in body["errors"]] == ["/query/limit"]

    path = await client.get("/v1/people/not-a-uuid", headers=auth)
    body = assert_problem(path, 422, "validation_failed", "/v1/people/not-a-uuid")
    assert [e["pointer"] for e in body["errors"]] == ["/path/person_id"]


def _app_with_crashing_route(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> FastAPI:
    app = create_app(settings, engine=engine, sessionmaker=sessionmaker)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail")

    return app


async def test_500_reveals_no_internals(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = _app_with_crashing_route(settings, engine, sessionmaker)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["X-Request-ID"] == "trace-500"
    body = response.json()
    assert body == {
        "type": "https://ccapi.dev/problems/internal-error",
        "title": "Internal server error",
        "status": 500,
        "code": "internal_error",
        "detail": "An unexpected error occurred; it has been logged with the request id.",
        "instance": "/boom",
        "request_id": "trace-500",
    }
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


async def test_429_with_retry_after(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant: TenantKey,
    other_tenant: TenantKey,
) -> None:
    limited = settings.model_copy(update={"rate_limit_per_minute": 2})
    app = create_app(limited, engine=engine, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.get("/v1/tenant", headers=tenant.headers)
        second = await client.get("/v1/tenant", headers=tenant.headers)
        third = await client.get("/v1/tenant", headers=tenant.headers)
        # The limit is per key: another key still has its own budget.
        other = await client.get("/v1/tenant", headers=other_tenant.headers)
    assert (first.status_code, second.status_code, other.status_code) == (200, 200, 200)
    body = assert_problem(third, 429, "rate_limited", "/v1/tenant")
    assert body["title"] == "Too many requests"
    # A fixed window of a minute, shared by every process: the wait is until it ends.
    retry_after = int(third.headers["Retry-After"])
    assert 55 <= retry_after <= 60
    assert body["detail"] == f"Rate limit exceeded; retry after {retry_after} seconds."
    assert third.headers["RateLimit-Policy"] == '"default";q=2;w=60'
    assert third.headers["RateLimit"] == f'"default";r=0;t={retry_after}'


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    ok = await client.get("/healthz")
    assert GENERATED_ID.match(ok.headers["X-Request-ID"])

    problem = await client.get("/v1/tenant")
    assert GENERATED_ID.match(problem.headers["X-Request-ID"])
    assert problem.json()["request_id"] == problem.headers["X-Request-ID"]
    assert problem.headers["X-Request-ID"] != ok.headers["X-Request-ID"]


async def test_sane_request_id_is_echoed(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    ok = await client.get("/v1/tenant", headers={**auth, "X-Request-ID": "abc-123.x:y_z"})
    assert ok.status_code == 200
    assert ok.headers["X-Request-ID"] == "abc-123.x:y_z"

    problem = await client.get("/v1/nope", headers={"X-Request-ID": "trace-42"})
    assert problem.headers["X-Request-ID"] == "trace-42"
    assert problem.json()["request_id"] == "trace-42"


async def test_garbage_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    for garbage in ("x" * 300, "has spaces in it", "semi;colon", ""):
        response = await client.get("/v1/tenant", headers={"X-Request-ID": garbage})
        assert response.headers["X-Request-ID"] != garbage
        assert GENERATED_ID.match(response.headers["X-Request-ID"])
        assert response.json()["request_id"] == response.headers["X-Request-ID"]


async def test_out_of_range_datetime_is_422_not_500(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # Valid RFC 3339, but its UTC instant is before year 1: PostgreSQL cannot compare it.
    response = await client.get(
        "/v1/people", params={"updated_since": "0001-01-01T00:00:00+23:59"}, headers=auth
    )
    body = assert_problem(response, 422, "validation_failed", "/v1/people")
    assert body["detail"] == "A value is outside the range the service can store or compare."


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, dict[str, str]]:
    """One HTTP/1.1 request on an open connection: the status and headers (body read)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers


async def test_a_500_keeps_the_connection_open(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Over a real server: after an unhandled error's 500, the same keep-alive connection
    answers the next request (it used to be closed, and the next request reset)."""
    app = _app_with_crashing_route(settings, engine, sessionmaker)
    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        status, headers = await _exchange(reader, writer, "/boom")
        assert status == 500
        assert headers["content-type"] == "application/problem+json"
        assert headers.get("connection") != "close"
        assert (await _exchange(reader, writer, "/healthz"))[0] == 200
        assert (await _exchange(reader, writer, "/boom"))[0] == 500
        assert (await _exchange(reader, writer, "/v1/no-such-route"))[0] == 404
        assert (await _exchange(reader, writer, "/healthz"))[0] == 200
        writer.close()


async def test_415_for_a_body_that_is_not_json(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = json.dumps({"name": "Ada"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = await client.post(
            "/v1/people", content=body, headers={**auth, "Content-Type": content_type}
        )
        problem = assert_problem(response, 415, "unsupported_media_type", "/v1/people")
        assert problem["detail"] == f"The body must be application/json, not {content_type}."
        assert response.headers["Accept"] == "application/json"
    response = await client.post("/v1/people", content=body, headers=auth)  # no Content-Type
    problem = assert_problem(response, 415, "unsupported_media_type", "/v1/people")
    assert problem["detail"] == ("The body must be application/json, and no Content-Type was sent.")
    assert (await client.get("/v1/people", headers=auth)).json()["data"] == []
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        headers = {**auth, "Content-Type": content_type}
        response = await client.post("/v1/people", content=body, headers=headers)
        assert response.status_code == 201, (content_type, response.text)


def test_a_driver_left_mid_operation_counts_as_a_lost_connection() -> None:
    """asyncpg's "cannot switch to state …" after the server died under a statement: the
    connection is unusable, so the request is a 503 and the connection is discarded."""
    import asyncpg

    from app.core.errors import database_unavailable

    broken = asyncpg.InternalClientError("cannot switch to state 11; another operation (2)")
    assert database_unavailable(broken)
    assert not database_unavailable(ValueError("not a connection problem"))
