"""Sending deliveries: lease, send, record — each step in its own short transaction.

1. ``claim`` leases due rows with ``FOR UPDATE SKIP LOCKED``: each gets a fresh
   ``lease_token`` and its ``next_attempt_at`` moves to the lease's expiry, so if the
   worker dies the row simply becomes due again and another worker takes it.
2. ``send`` makes the HTTP request outside any transaction.
3. ``record`` writes the attempt and the delivery's new state, but only while the row
   still carries our token: a worker whose lease lapsed cannot overwrite a newer result.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.core.config import Settings
from app.core.metrics import (
    WEBHOOK_DELIVERIES,
    WEBHOOK_DUE,
    WEBHOOK_LATENCY,
    WEBHOOK_OLDEST_PENDING,
    WEBHOOK_QUEUE_DEPTH,
)
from app.core.sealing import Keyring, SealError
from app.models.base import utcnow, uuid7
from app.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.services import ssrf
from app.services import webhooks as service

log = logging.getLogger(__name__)

USER_AGENT = "CareerConversationsAPI-Webhooks/1.0 (+https://ccapi.dev/docs/webhooks)"
RESPONSE_BODY_LIMIT = 4096
ERROR_LIMIT = 500


@dataclass(frozen=True)
class Claimed:
    """A leased delivery, with what is needed to send it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    payload: bytes
    lease_token: uuid.UUID
    attempt_count: int
    cycle_attempts: int
    created_at: datetime
    url: str
    enabled: bool
    secrets: tuple[str, ...]
    # time.monotonic() by which the lease has surely lapsed (measured from before the claim).
    lease_deadline: float = float("inf")


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt produced."""

    result: str  # succeeded | http_error | timeout | connection_error | refused
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.result == "succeeded"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix(service.SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers_for(claimed: Claimed, timestamp: int) -> dict[str, str]:
    msg_id = str(claimed.event_id)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            sign(secret, msg_id, timestamp, claimed.payload) for secret in claimed.secrets
        ),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def retry_delay(
    settings: Settings, attempts_in_cycle: int, outcome: Outcome, rng: random.Random
) -> float | None:
    """Seconds until the next attempt after ``attempts_in_cycle`` failed ones; None: give up.

    The schedule's entry with ±20 % jitter; a ``Retry-After`` is honoured within
    [entry, 2 x entry]; a 429 or a timeout waits at least the retry floor (60 s).
    """
    schedule = settings.webhook_retry_schedule
    if attempts_in_cycle > len(schedule):
        return None
    base = schedule[attempts_in_cycle - 1]
    delay = base * rng.uniform(0.8, 1.2)
    if outcome.retry_after is not None:
        delay = min(max(outcome.retry_after, base), 2 * base)
    if outcome.status_code == 429 or outcome.result == "timeout":
        delay = max(delay, settings.webhook_retry_floor_seconds)
    return delay


def _trim(text: str, limit: int = ERROR_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(exc: BaseException) -> str:
    detail = str(exc).strip()
    return _trim(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)


def _body_text(raw: bytes) -> str:
    # PostgreSQL text cannot hold NUL characters.
    return raw[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


async def send(client: httpx.AsyncClient, claimed: Claimed, settings: Settings) -> Outcome:
    """POST the delivery once; never raises for network or HTTP trouble."""
    started_at = utcnow()
    clock = time.perf_counter()

    def done(result: str, **fields: object) -> Outcome:
        elapsed = int((time.perf_counter() - clock) * 1000)
        return Outcome(result, started_at, elapsed, **fields)  # type: ignore[arg-type]

    try:
        async with asyncio.timeout(settings.webhook_timeout):
            ssrf.parse_url(claimed.url, settings)
            headers = headers_for(claimed, int(time.time()))
            async with client.stream(
                "POST", claimed.url, content=claimed.payload, headers=headers
            ) as response:
                raw = bytearray()
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) >= RESPONSE_BODY_LIMIT:
                        break
    except ssrf.UnsafeUrl as exc:
        return done("refused", error=_trim(exc.message))
    except (TimeoutError, httpx.TimeoutException):
        return done("timeout", error=f"No answer within {settings.webhook_timeout:g} s.")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        return done("connection_error", error=_error_text(exc))
    status = response.status_code
    body = _body_text(bytes(raw))
    if 200 <= status < 300:
        return done("succeeded", status_code=status, response_body=body)
    error = f"HTTP {status}"
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        error = _trim(f"HTTP {status}: redirects are not followed (Location: {location}).")
    return done(
        "http_error",
        status_code=status,
        response_body=body,
        error=error,
        retry_after=parse_retry_after(response.headers.get("retry-after"), utcnow()),
    )


async def _autocommit(session: AsyncSession) -> AsyncConnection:
    """The session's connection in autocommit mode: one statement, one transaction, no
    BEGIN/COMMIT round trips."""
    return await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    limit: int,
    lease_seconds: float,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries: one statement, so one short transaction.

    The endpoints' secrets are opened here to sign. A delivery whose secret does not open
    (sealed under a key ``CCAPI_SECRET_KEY`` no longer holds) is logged and left leased:
    it comes due again when the lease lapses, without spending an attempt, and goes out
    once the key is back."""
    due = (
        select(col(WebhookDelivery.id))
        .where(
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) <= sa.func.now(),
        )
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    leased = (
        sa.update(WebhookDelivery)
        .where(col(WebhookDelivery.id) == due.c.id)
        .values(
            lease_token=sa.func.gen_random_uuid(),
            next_attempt_at=sa.func.now() + timedelta(seconds=lease_seconds),
        )
        .returning(
            col(WebhookDelivery.id),
            col(WebhookDelivery.tenant_id),
            col(WebhookDelivery.endpoint_id),
            col(WebhookDelivery.event_id),
            col(WebhookDelivery.payload),
            col(WebhookDelivery.lease_token),
            col(WebhookDelivery.attempt_count),
            col(WebhookDelivery.cycle_attempts),
            col(WebhookDelivery.created_at),
        )
        .cte("leased")
    )
    stmt = sa.select(
        leased,
        col(WebhookEndpoint.url),
        col(WebhookEndpoint.enabled),
        col(WebhookEndpoint.secret_sealed),
        col(WebhookEndpoint.previous_secret_sealed),
        col(WebhookEndpoint.previous_secret_expires_at),
    ).join(WebhookEndpoint, col(WebhookEndpoint.id) == leased.c.endpoint_id)
    # A delivery whose endpoint is being deleted goes with it (the join drops it).
    deadline = time.monotonic() + lease_seconds
    async with sessionmaker() as session:
        conn = await _autocommit(session)
        rows = (await conn.execute(stmt)).all()
    now = utcnow()
    claimed: list[Claimed] = []
    for row in rows:
        try:
            secrets = service.signing_secrets(
                keyring,
                row.tenant_id,
                row.endpoint_id,
                row.secret_sealed,
                row.previous_secret_sealed,
                row.previous_secret_expires_at,
                now,
            )
        except SealError as exc:
            log.error(
                "webhook secret does not open; delivery postponed",
                extra={
                    "delivery_id": str(row.id),
                    "endpoint_id": str(row.endpoint_id),
                    "reason": str(exc),
                },
            )
            continue
        claimed.append(
            Claimed(
                id=row.id,
                tenant_id=row.tenant_id,
                endpoint_id=row.endpoint_id,
                event_id=row.event_id,
                payload=row.payload,
                lease_token=row.lease_token,
                attempt_count=row.attempt_count,
                cycle_attempts=row.cycle_attempts,
                created_at=row.created_at,
                url=row.url,
                enabled=row.enabled,
                secrets=tuple(secrets),
                lease_deadline=deadline,
            )
        )
    return claimed


def _guarded(claimed: Claimed) -> sa.Update:
    return (
        sa.update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == claimed.id,
            col(WebhookDelivery.lease_token) == claimed.lease_token,
            col(WebhookDelivery.status) == "pending",
        )
        .returning(col(WebhookDelivery.id))
        .execution_options(synchronize_session=False)
    )


async def give_up_unsent(
    sessionmaker: async_sessionmaker[AsyncSession], claimed: Claimed, reason: str
) -> bool:
    """Fail a leased delivery without sending it (its endpoint was disabled meanwhile)."""
    async with sessionmaker() as session, session.begin():
        now = utcnow()
        done = await session.scalar(
            _guarded(claimed).values(
                status="failed",
                last_error=reason,
                completed_at=now,
                next_attempt_at=None,
                lease_token=None,
                updated_at=now,
            )
        )
    if done is not None:
        WEBHOOK_DELIVERIES.labels("failed").inc()
    return done is not None


async def record(
    sessionmaker: async_sessionmaker[AsyncSession],
    claimed: Claimed,
    outcome: Outcome,
    settings: Settings,
    rng: random.Random,
) -> str | None:
    """Store the attempt and the delivery's next state. Returns the new status, or None if
    the lease was lost (another worker, a retry or a delete got there first)."""
    try:
        if outcome.succeeded:
            status = await _record_success(sessionmaker, claimed, outcome)
        else:
            status = await _record(sessionmaker, claimed, outcome, settings, rng)
    except _LeaseLost:
        return None
    if status != "pending":
        WEBHOOK_DELIVERIES.labels(status).inc()
    if status == "succeeded":
        WEBHOOK_LATENCY.observe(max(0.0, (utcnow() - claimed.created_at).total_seconds()))
    return status


class _LeaseLost(Exception):
    pass


# The common case in one statement (built once): mark the delivery succeeded if the lease
# still holds, add the attempt, and end the endpoint's failing streak. Losing this commit
# in a database crash only lets the lease lapse and the delivery be sent again
# (at-least-once), so it need not wait for the WAL flush.
_RECORD_SUCCESS = sa.text(
    """
    WITH done AS (
        UPDATE webhook_deliveries
        SET status = 'succeeded',
            attempt_count = attempt_count + 1,
            cycle_attempts = cycle_attempts + 1,
            next_attempt_at = NULL,
            lease_token = NULL,
            last_attempt_at = :started_at,
            last_status_code = :status_code,
            last_error = NULL,
            completed_at = :now,
            updated_at = :now
        WHERE id = :delivery_id AND lease_token = :lease_token AND status = 'pending'
        RETURNING id, tenant_id, attempt_count
    ), added AS (
        INSERT INTO webhook_attempts (id, tenant_id, delivery_id, attempt, url, started_at,
                                      duration_ms, result, status_code, response_body)
        SELECT CAST(:attempt_id AS uuid), tenant_id, id, attempt_count, CAST(:url AS varchar),
               CAST(:started_at AS timestamptz), CAST(:duration_ms AS integer), 'succeeded',
               CAST(:status_code AS integer), CAST(:response_body AS varchar)
        FROM done
        RETURNING id
    ), healed AS (
        UPDATE webhook_endpoints SET failing_since = NULL
        WHERE id = :endpoint_id AND failing_since IS NOT NULL AND EXISTS (SELECT 1 FROM done)
    )
    SELECT (SELECT count(*) FROM added), set_config('synchronous_commit', 'off', true)
    """
)


async def _record_success(
    sessionmaker: async_sessionmaker[AsyncSession], claimed: Claimed, outcome: Outcome
) -> str:
    params = {
        "delivery_id": claimed.id,
        "lease_token": claimed.lease_token,
        "endpoint_id": claimed.endpoint_id,
        "attempt_id": uuid7(),
        "url": claimed.url,
        "started_at": outcome.started_at,
        "duration_ms": outcome.duration_ms,
        "status_code": outcome.status_code,
        "response_body": outcome.response_body,
        "now": utcnow(),
    }
    async with sessionmaker() as session:
        conn = await _autocommit(session)
        recorded = (await conn.execute(_RECORD_SUCCESS, params)).scalar_one()
    if not recorded:
        raise _LeaseLost
    return "succeeded"


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    claimed: Claimed,
    outcome: Outcome,
    settings: Settings,
    rng: random.Random,
) -> str:
    async with sessionmaker() as session, session.begin():
        # Losing this commit in a database crash only means the lease lapses and the
        # delivery is sent again (at-least-once), so it need not wait for the WAL flush.
        await session.execute(sa.text("SET LOCAL synchronous_commit TO off"))
        now = utcnow()
        attempts_in_cycle = claimed.cycle_attempts + 1
        disable_reason: str | None = None
        endpoint: WebhookEndpoint | None = None
        if outcome.succeeded:
            status = "succeeded"
            next_attempt_at = None
            await session.execute(
                sa.update(WebhookEndpoint)
                .where(
                    col(WebhookEndpoint.id) == claimed.endpoint_id,
                    col(WebhookEndpoint.failing_since).is_not(None),
                )
                .values(failing_since=None)
                .execution_options(synchronize_session=False)
            )
        else:
            # Lock the endpoint before the delivery, like a PATCH that disables it does.
            endpoint = await session.get(WebhookEndpoint, claimed.endpoint_id, with_for_update=True)
            if endpoint is None:
                raise _LeaseLost
            if endpoint.failing_since is None:
                endpoint.failing_since = now
            if endpoint.enabled and outcome.status_code == 410:
                disable_reason = "The endpoint answered 410 Gone."
            elif endpoint.enabled and (now - endpoint.failing_since) >= timedelta(
                seconds=settings.webhook_disable_after_seconds
            ):
                disable_reason = (
                    "Every delivery attempt failed since "
                    f"{service.rfc3339(endpoint.failing_since)}."
                )
            delay = None
            if endpoint.enabled and disable_reason is None:
                delay = retry_delay(settings, attempts_in_cycle, outcome, rng)
            status = "failed" if delay is None else "pending"
            next_attempt_at = None if delay is None else sa.func.now() + timedelta(seconds=delay)
        updated = await session.scalar(
            _guarded(claimed).values(
                status=status,
                attempt_count=claimed.attempt_count + 1,
                cycle_attempts=attempts_in_cycle,
                next_attempt_at=next_attempt_at,
                lease_token=None,
                last_attempt_at=outcome.started_at,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
                completed_at=None if status == "pending" else now,
                updated_at=now,
            )
        )
        if updated is None:
            raise _LeaseLost
        session.add(
            WebhookAttempt(
                tenant_id=claimed.tenant_id,
                delivery_id=claimed.id,
                attempt=claimed.attempt_count + 1,
                url=claimed.url,
                started_at=outcome.started_at,
                duration_ms=outcome.duration_ms,
                result=outcome.result,
                status_code=outcome.status_code,
                response_body=outcome.response_body,
                error=outcome.error,
            )
        )
        await session.flush()
        if endpoint is not None and disable_reason is not None:
            await service.disable(session, endpoint, disable_reason)
            log.warning(
                "webhook endpoint disabled",
                extra={"endpoint_id": str(endpoint.id), "reason": disable_reason},
            )
    return status


async def seconds_until_next_due(sessionmaker: async_sessionmaker[AsyncSession]) -> float | None:
    """How long until the earliest pending delivery is due (negative: overdue); None: none."""
    async with sessionmaker() as session:
        value = await session.scalar(
            select(
                sa.func.extract(
                    "epoch", sa.func.min(col(WebhookDelivery.next_attempt_at)) - sa.func.now()
                )
            ).where(col(WebhookDelivery.status) == "pending")
        )
    return None if value is None else float(value)


async def refresh_queue_metrics(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Queue depth, deliveries due now and the oldest pending delivery's age, for /metrics.
    Leaves the gauges as they were if the database does not answer."""
    try:
        async with sessionmaker() as session:
            row = await _queue_figures(session)
    except Exception:
        log.warning("reading the webhook queue figures failed", exc_info=True)
        return
    WEBHOOK_QUEUE_DEPTH.set(row[0])
    WEBHOOK_DUE.set(row[1])
    WEBHOOK_OLDEST_PENDING.set(row[2] or 0.0)


async def _queue_figures(session: AsyncSession) -> tuple[int, int, float | None]:
    row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(col(WebhookDelivery.next_attempt_at) <= sa.func.now()),
                sa.func.extract("epoch", sa.func.now() - sa.func.min(WebhookDelivery.created_at)),
            ).where(col(WebhookDelivery.status) == "pending")
        )
    ).one()
    return int(row[0]), int(row[1]), None if row[2] is None else float(row[2])
