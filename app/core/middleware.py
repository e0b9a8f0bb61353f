"""The ASGI middleware: request id, body size limit, access log and metrics."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import problem_response, unhandled_response
from app.core.logging import access, request_id_var
from app.core.metrics import HTTP_LATENCY, HTTP_REQUESTS

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
