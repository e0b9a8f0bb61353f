"""The ASGI middleware: request id, body size limit, access log and metrics; CORS."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import RequestDb
from app.core.errors import problem_response, unhandled_response
from app.core.keycache import KeyCache
from app.core.logging import access, request_id_var
from app.core.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger(__name__)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class _TooLarge(HTTPException):
    """Raised while the endpoint reads the body; the problem handler renders it as 413.

    An ``HTTPException`` because FastAPI re-raises those from body parsing (any other
    exception there becomes a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body exceeds {max_bytes} bytes.")


class RequestMiddleware:
    """One pure ASGI layer for every request: assigns ``X-Request-ID`` (or keeps a sane
    incoming one), refuses bodies over ``max_bytes`` with 413 (by Content-Length or while
    streaming), answers an unhandled error with a 500 problem, logs and measures the
    request."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else f"req_{uuid.uuid4().hex}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        max_bytes = self.max_bytes
        received = 0
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge(max_bytes)
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                headers.append(header)
                # RateLimit-Policy and RateLimit, set by authentication (app/core/auth.py),
                # on whatever answer the request gets, errors included.
                limit_headers = state.get("rate_limit_headers")
                if limit_headers:
                    headers.extend(limit_headers)
                message["headers"] = headers
            await send(message)

        try:
            if length is not None and length.isdigit() and int(length) > max_bytes:
                await self._reject(scope, receive, send_wrapper)
            else:
                try:
                    await self.app(scope, limited_receive, send_wrapper)
                except _TooLarge:
                    if response_started:
                        raise
                    await self._reject(scope, receive, send_wrapper)
                except Exception as exc:
                    # Answered here rather than by Starlette's outermost middleware, which
                    # re-raises after answering, so the server dropped the keep-alive
                    # connection: the client's next request on it was reset.
                    if response_started:
                        raise
                    response = await unhandled_response(Request(scope), exc)
                    await response(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            key = (method, template, status)
            metrics = self._metrics.get(key)
            if metrics is None:
                if len(self._metrics) > 10_000:
                    self._metrics.clear()
                metrics = self._metrics[key] = (
                    HTTP_REQUESTS.labels(method, template, str(status)),
                    HTTP_LATENCY.labels(method, template),
                )
            metrics[0].inc()
            metrics[1].observe(elapsed)
            access(method, scope["path"], status, round(elapsed * 1000, 2))
            request_id_var.reset(token)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            Request(scope),
            status=413,
            code="payload_too_large",
            title="Payload too large",
            detail=f"The request body exceeds {self.max_bytes} bytes.",
        )
        await response(scope, receive, send)


# CORS ----------------------------------------------------------------------------------

# Headers a page may send, and may read from an answer.
CORS_ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE"
CORS_ALLOW_HEADERS = b"Authorization, Content-Type, Idempotency-Key, If-Match, Acting-Person"
CORS_EXPOSE_HEADERS = (
    b"ETag, Location, Link, RateLimit, RateLimit-Policy, Retry-After, X-Request-ID, "
    b"Idempotent-Replayed"
)
CORS_MAX_AGE = b"600"
# Tenants' allow-lists, for preflights: this long while the key cache's LISTEN connection
# is up (a tenant's change sends the same NOTIFY and clears it), else this long.
ORIGINS_TTL = 30.0
ORIGINS_FALLBACK_TTL = 1.0
ORIGINS_SQL = "SELECT DISTINCT unnest(cors_origins) AS origin FROM tenants"


class AllowedOrigins:
    """Every origin some tenant allows (``cors_origins``), cached per process for preflights,
    which carry no credentials: whichever tenant's page asks, the preflight passes, and the
    request itself then gets CORS headers only for its own tenant's origins."""

    def __init__(self, key_cache: KeyCache) -> None:
        self.key_cache = key_cache
        self._origins: frozenset[str] = frozenset()
        self._expires = 0.0
        self._lock = asyncio.Lock()
        key_cache.on_clear.append(self.clear)

    def clear(self) -> None:
        self._expires = 0.0

    async def allows(self, origin: str, app: Any) -> bool:
        if self._expires < time.monotonic():
            async with self._lock:
                if self._expires < time.monotonic():
                    await self._load(app)
        return origin in self._origins

    async def _load(self, app: Any) -> None:
        """Read the allow-lists on a connection of the app's pool (the tests' shared one
        when the sessionmaker is bound to it). A database that does not answer leaves the
        last set in place for a second: a preflight never fails on it."""
        ttl = ORIGINS_TTL if self.key_cache.listening else ORIGINS_FALLBACK_TTL
        db = RequestDb(app.state.sessionmaker)
        try:
            rows = await (await db.raw()).fetch(ORIGINS_SQL)
            self._origins = frozenset(row["origin"] for row in rows)
        except Exception as exc:
            log.warning("CORS origins not loaded", extra={"error": repr(exc)[:200]})
            db.discard(exc)
            ttl = ORIGINS_FALLBACK_TTL
        finally:
            await db.close()
        self._expires = time.monotonic() + ttl


class CorsMiddleware:
    """CORS for browser front-ends using person session tokens (pure ASGI, one header scan
    for a request without ``Origin``).

    - A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) under
      ``/v1/`` (not ``/v1/admin/``) from an origin any tenant allows answers 204 with the
      allowed methods and headers; from any other origin it goes on to the app unchanged.
    - Any other request with ``Origin``: the answer gets ``Access-Control-Allow-Origin``
      (and ``Vary: Origin``, the exposed headers) only when the request authenticated with a
      person session token whose tenant allows that origin (``state.cors_origins``, set by
      ``app/core/auth.py``). An API key (``cck_live_…``) never gets them: it must not be in
      a browser."""

    def __init__(self, app: ASGIApp, origins: AllowedOrigins) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = b""
        preflight = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = True
        if not origin:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if (
            preflight
            and scope["method"] == "OPTIONS"
            and path.startswith("/v1/")
            and not path.startswith("/v1/admin")
            and await self.origins.allows(origin.decode("latin-1"), scope["app"])
        ):
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", origin),
                        (b"access-control-allow-methods", CORS_ALLOW_METHODS),
                        (b"access-control-allow-headers", CORS_ALLOW_HEADERS),
                        (b"access-control-max-age", CORS_MAX_AGE),
                        (b"vary", b"Origin"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        text = origin.decode("latin-1")
        state = scope.setdefault("state", {})

        async def send_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                allowed = state.get("cors_origins")
                if allowed and text in allowed:
                    headers = list(message.get("headers", ()))
                    headers.extend(
                        (
                            (b"access-control-allow-origin", origin),
                            (b"access-control-expose-headers", CORS_EXPOSE_HEADERS),
                            (b"vary", b"Origin"),
                        )
                    )
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_cors)
