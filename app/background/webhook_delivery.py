"""Sending deliveries: lease, send, record — each step in its own short transaction.

1. ``claim`` leases due rows with ``FOR UPDATE SKIP LOCKED``: each gets a fresh
   ``lease_token`` and its ``next_attempt_at`` moves to the lease's expiry, so if the
   worker dies the row simply becomes due again and another worker takes it. Unexpired
   leases count against the endpoint's cap (``webhook_endpoint_concurrency``), and a
   claim deals due rows round-robin across tenants and, within one, across endpoints.
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
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlmodel import col

from app.core import ssrf
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


@dataclass(frozen=True)
class NextStep:
    """What a failed attempt leads to: another attempt in ``retry_in`` seconds (status
    pending), or none (failed), and whether the endpoint is disabled for it."""

    status: str  # pending | failed
    retry_in: float | None = None
    disable_reason: str | None = None


def after_failure(
    settings: Settings,
    outcome: Outcome,
    *,
    attempts_in_cycle: int,
    endpoint_enabled: bool,
    failing_since: datetime,
    now: datetime,
    rng: random.Random,
) -> NextStep:
    """The decision after a failed attempt (``attempts_in_cycle`` counts it). A 410 Gone,
    or failures for ``webhook_disable_after_seconds`` since ``failing_since``, disable an
    enabled endpoint and fail the delivery; a disabled endpoint gets no retry; otherwise
    the retry schedule decides (``retry_delay``)."""
    if not endpoint_enabled:
        return NextStep("failed")
    if outcome.status_code == 410:
        return NextStep("failed", disable_reason="The endpoint answered 410 Gone.")
    if now - failing_since >= timedelta(seconds=settings.webhook_disable_after_seconds):
        return NextStep(
            "failed",
            disable_reason=f"Every delivery attempt failed since {service.rfc3339(failing_since)}.",
        )
    delay = retry_delay(settings, attempts_in_cycle, outcome, rng)
    return NextStep("failed") if delay is None else NextStep("pending", retry_in=delay)


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


# Claims from every worker process take turns (a transaction-level advisory lock), so
# each claim counts the leases committed by the one before it. Two claims at once mostly
# pick the same oldest rows and one skips what the other locked, but not always (a retry
# committed between their snapshots reorders the queue), and the cap is a promise. A
# claim is one short statement, so the turns stay brief; a claimer stuck behind a stalled
# one gives up after lock_timeout and tries again later. The commit stays synchronous: a
# lease lost in a database crash would make the delivery due again at once, and it may
# already be on its way (a durable lease keeps it back until the lease lapses).
CLAIM_LOCK_KEY = 0x63636170695F7764  # "ccapi_wd"

_CLAIM_TURN = sa.text(
    "SELECT set_config('lock_timeout', '5s', true), pg_advisory_xact_lock(:key), now()"
)

# Which due deliveries to lease, fairly:
# - ``busy``: the endpoints with pending deliveries, found by skipping through the index
#   one endpoint at a time (idle endpoints cost nothing, nor does the size of a backlog);
# - ``load``: each one's leases still in flight (unexpired), and its tenant's total;
# - ``candidates``: per endpoint, its oldest due deliveries, no more than its cap leaves
#   room for; within a tenant they are dealt round-robin across endpoints (the endpoint
#   with fewer in flight first), then across tenants the same way (the tenant with fewer
#   in flight first), so a large backlog in one tenant does not hold up another's first
#   delivery;
# - ``picked`` takes the first ``limit`` in that order; ``due`` locks them, skipping any
#   another transaction holds (a retry or a delete at that moment: the batch comes back
#   short and the next claim tries again), and ``leased`` leases them.
# Every step reads an index per endpoint (ix_webhook_deliveries_endpoint_leased, …_due),
# never the whole backlog.
_CLAIM = sa.text(
    """
    WITH RECURSIVE busy (endpoint_id) AS (
        (SELECT endpoint_id FROM webhook_deliveries
         WHERE status = 'pending' ORDER BY endpoint_id LIMIT 1)
        UNION ALL
        SELECT (SELECT d.endpoint_id FROM webhook_deliveries d
                WHERE d.status = 'pending' AND d.endpoint_id > busy.endpoint_id
                ORDER BY d.endpoint_id LIMIT 1)
        FROM busy
        WHERE busy.endpoint_id IS NOT NULL
    ), load AS (
        SELECT e.id AS endpoint_id, e.tenant_id, f.in_flight,
               sum(f.in_flight) OVER (PARTITION BY e.tenant_id) AS tenant_in_flight
        FROM busy
        JOIN webhook_endpoints e ON e.id = busy.endpoint_id
        CROSS JOIN LATERAL (
            SELECT count(*) AS in_flight
            FROM webhook_deliveries l
            WHERE l.endpoint_id = e.id AND l.status = 'pending'
              AND l.lease_token IS NOT NULL AND l.next_attempt_at > now()
        ) f
    ), candidates AS (
        SELECT d.id, d.next_attempt_at,
               load.tenant_in_flight + row_number() OVER (
                   PARTITION BY load.tenant_id
                   ORDER BY load.in_flight + d.endpoint_turn, d.next_attempt_at, d.id
               ) AS turn
        FROM load
        CROSS JOIN LATERAL (
            SELECT c.id, c.next_attempt_at,
                   row_number() OVER (ORDER BY c.next_attempt_at, c.id) AS endpoint_turn
            FROM webhook_deliveries c
            WHERE c.endpoint_id = load.endpoint_id AND c.status = 'pending'
              AND c.next_attempt_at <= now()
            ORDER BY c.next_attempt_at, c.id
            LIMIT greatest(CAST(:cap AS bigint) - load.in_flight, 0)
        ) d
        WHERE load.in_flight < CAST(:cap AS bigint)
    ), picked AS (
        SELECT id, turn, next_attempt_at
        FROM candidates
        ORDER BY turn, next_attempt_at, id
        LIMIT :limit
    ), due AS (
        SELECT w.id, p.turn, p.next_attempt_at
        FROM picked p
        JOIN webhook_deliveries w ON w.id = p.id
        WHERE w.status = 'pending' AND w.next_attempt_at <= now()
        FOR UPDATE OF w SKIP LOCKED
    ), leased AS (
        UPDATE webhook_deliveries w
        SET lease_token = gen_random_uuid(),
            next_attempt_at = now() + make_interval(secs => CAST(:lease_seconds AS float8))
        FROM due
        WHERE w.id = due.id
        RETURNING w.id, w.tenant_id, w.endpoint_id, w.event_id, w.payload, w.lease_token,
                  w.attempt_count, w.cycle_attempts, w.created_at,
                  due.turn, due.next_attempt_at AS due_at
    )
    SELECT leased.id, leased.tenant_id, leased.endpoint_id, leased.event_id, leased.payload,
           leased.lease_token, leased.attempt_count, leased.cycle_attempts,
           leased.created_at, e.url, e.enabled, e.secret_sealed, e.previous_secret_sealed,
           e.previous_secret_expires_at
    FROM leased
    JOIN webhook_endpoints e ON e.id = leased.endpoint_id
    ORDER BY leased.turn, leased.due_at, leased.id
    """
)


class Batch(list[Claimed]):
    """The deliveries one claim leased, in the order it dealt them, and the database time
    the claim looked at: what was due by then and is not here was held back (its endpoint
    at its cap, or its row locked)."""

    def __init__(self, claimed: list[Claimed], as_of: datetime) -> None:
        super().__init__(claimed)
        self.as_of = as_of


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    limit: int,
    lease_seconds: float,
    endpoint_cap: int = 4,
) -> Batch:
    """Lease up to ``limit`` due deliveries, round-robin across tenants and their endpoints,
    never leaving more than ``endpoint_cap`` leases in flight to one endpoint.

    The endpoints' secrets are opened here to sign. A delivery whose secret does not open
    (sealed under a key ``CCAPI_SECRET_KEY`` no longer holds) is logged and left leased:
    it comes due again when the lease lapses, without spending an attempt, and goes out
    once the key is back (its lease counts against the cap meanwhile)."""
    params = {
        "cap": max(1, endpoint_cap),
        "limit": limit,
        "lease_seconds": lease_seconds,
    }
    # A delivery whose endpoint is being deleted goes with it (the join drops it).
    deadline = time.monotonic() + lease_seconds
    async with sessionmaker() as session, session.begin():
        conn = await session.connection()
        as_of = (await conn.execute(_CLAIM_TURN, {"key": CLAIM_LOCK_KEY})).one()[2]
        rows = (await conn.execute(_CLAIM, params)).all()
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
    return Batch(claimed, as_of)


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
            status = await _record_failure(sessionmaker, claimed, outcome, settings, rng)
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


async def _record_failure(
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
        # Lock the endpoint before the delivery, like a PATCH that disables it does.
        endpoint = await session.get(WebhookEndpoint, claimed.endpoint_id, with_for_update=True)
        if endpoint is None:
            raise _LeaseLost
        if endpoint.failing_since is None:
            endpoint.failing_since = now
        step = after_failure(
            settings,
            outcome,
            attempts_in_cycle=attempts_in_cycle,
            endpoint_enabled=endpoint.enabled,
            failing_since=endpoint.failing_since,
            now=now,
            rng=rng,
        )
        updated = await session.scalar(
            _guarded(claimed).values(
                status=step.status,
                attempt_count=claimed.attempt_count + 1,
                cycle_attempts=attempts_in_cycle,
                next_attempt_at=None
                if step.retry_in is None
                else sa.func.now() + timedelta(seconds=step.retry_in),
                lease_token=None,
                last_attempt_at=outcome.started_at,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
                completed_at=None if step.status == "pending" else now,
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
        if step.disable_reason is not None:
            await service.disable(session, endpoint, step.disable_reason)
            log.warning(
                "webhook endpoint disabled",
                extra={"endpoint_id": str(endpoint.id), "reason": step.disable_reason},
            )
    return step.status


_OUTLOOK = sa.text(
    """
    SELECT (SELECT extract(epoch FROM min(next_attempt_at) - now())
            FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at > :after),
           EXISTS (SELECT FROM webhook_deliveries
                   WHERE status = 'pending' AND next_attempt_at <= :after)
    """
)


async def seconds_until_next_due(
    sessionmaker: async_sessionmaker[AsyncSession], after: datetime | None = None
) -> tuple[float | None, bool]:
    """How long until the earliest pending delivery due after ``after`` (a claim's
    ``as_of``) is due (negative: overdue; None: none), and whether deliveries due by then
    are still waiting: the claim held them back (an endpoint at its cap, a locked row), so
    they wait for a send to finish rather than for the clock."""
    async with sessionmaker() as session:
        conn = await _autocommit(session)
        row = (
            await conn.execute(_OUTLOOK, {"after": after or datetime.min.replace(tzinfo=UTC)})
        ).one()
    return (None if row[0] is None else float(row[0])), bool(row[1])


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
