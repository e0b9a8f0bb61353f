"""Webhook endpoints and their deliveries: registration, secrets, replays, and the hook that
queues one delivery per (event, subscribed endpoint) in the event's own transaction.

Importing this module registers the hook; the API (through the webhooks router) and the
worker both import it.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core import ssrf
from app.core.auth import Principal
from app.core.config import Settings
from app.core.errors import Conflict, ValidationFailed
from app.core.metrics import WEBHOOK_DELIVERIES
from app.core.pagination import PageParams, keyset
from app.core.rows import dumps
from app.core.sealing import Keyring, webhook_secret_context
from app.models.base import utcnow, uuid7
from app.models.event import Event
from app.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.schemas.webhooks import (
    WebhookAttemptRead,
    WebhookDeliveryDetail,
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
    WebhookSecret,
)
from app.services import events
from app.services.common import (
    apply_changes,
    check_external_id_free,
    check_if_match,
    get_owned,
    reject_nulls,
    touch,
)

NOTIFY_CHANNEL = "ccapi_deliveries"
# B105: the prefix of generated secrets, not a secret
SECRET_PREFIX = "whsec_"  # nosec B105
SECRET_BYTES = 32
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS_PER_TENANT = 50
MAX_ATTEMPTS_SHOWN = 100
TEST_EVENT = "webhook.test"
DISABLED_EVENT = "webhook_endpoint.disabled"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def seal_secret(keyring: Keyring, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, secret: str) -> str:
    """The secret as stored: sealed, and bound to its endpoint."""
    return keyring.seal_text(secret, webhook_secret_context(tenant_id, endpoint_id))


def open_secret(keyring: Keyring, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, sealed: str) -> str:
    return keyring.open_text(sealed, webhook_secret_context(tenant_id, endpoint_id))


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _envelope(type: str, occurred_at: datetime, data: bytes) -> bytes:
    return b'{"type":%b,"timestamp":%b,"data":%b}' % (
        dumps(type),
        dumps(rfc3339(occurred_at)),
        data,
    )


def build_body(event: Event | events.EventSql, style: str) -> bytes:
    """The delivery body, serialised once: these exact bytes are signed and sent."""
    if style == "thin":
        data = dumps({"object": event.subject_type, "id": str(event.subject_id)})
    else:
        data = event.data if isinstance(event.data, bytes) else dumps(event.data)
    return _envelope(event.type, event.occurred_at, data)


async def notify_workers(session: AsyncSession) -> None:
    """Wake the delivery workers when this transaction commits (LISTEN/NOTIFY)."""
    await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))


async def _enqueue(
    session: AsyncSession, event: Event, endpoints: Sequence[tuple[uuid.UUID, str]]
) -> list[uuid.UUID]:
    if not endpoints:
        return []
    bodies: dict[str, bytes] = {}
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for endpoint_id, style in endpoints:
        if style not in bodies:
            bodies[style] = build_body(event, style)
        rows.append(
            {
                "id": uuid7(),
                "tenant_id": event.tenant_id,
                "endpoint_id": endpoint_id,
                "event_id": event.id,
                "event_type": event.type,
                "payload": bodies[style],
                "status": "pending",
                "attempt_count": 0,
                "cycle_attempts": 0,
                "next_attempt_at": sa.func.now(),
                "created_at": now,
                "updated_at": now,
            }
        )
    await session.execute(sa.insert(WebhookDelivery).values(rows))
    await notify_workers(session)
    return [row["id"] for row in rows]


async def rewrite_payloads(session: AsyncSession, event_ids: Sequence[uuid.UUID]) -> None:
    """Rebuild the stored bodies of these events' deliveries from the events' current data
    (after a person's erasure rewrote it, so no queued or stored body keeps their data)."""
    if not event_ids:
        return
    rows = await session.execute(
        select(WebhookDelivery, Event, col(WebhookEndpoint.payload))
        .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(col(WebhookDelivery.event_id).in_(event_ids))
    )
    for delivery, event, style in rows.all():
        delivery.payload = build_body(event, style)
    await session.flush()


async def enqueue_deliveries(session: AsyncSession, event: Event) -> None:
    """One delivery per enabled endpoint of the tenant subscribed to the event's type."""
    if event.type == TEST_EVENT:
        return  # sent only to the endpoint under test, by send_test()
    subscribed = sa.or_(
        sa.func.cardinality(col(WebhookEndpoint.event_types)) == 0,
        sa.literal(event.type) == sa.any_(col(WebhookEndpoint.event_types)),
    )
    rows = await session.execute(
        select(col(WebhookEndpoint.id), col(WebhookEndpoint.payload)).where(
            WebhookEndpoint.tenant_id == event.tenant_id,
            col(WebhookEndpoint.enabled).is_(True),
            subscribed,
        )
    )
    await _enqueue(session, event, [(r[0], r[1]) for r in rows.all()])


# A v7 UUID made by PostgreSQL (48-bit millisecond clock, version 7, random rest), for
# rows fanned out inside one statement.
UUID7_SQL = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
    "substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) "
    "from 1 for 6), 52, 1), 53, 1), 'hex')::uuid"
)


def enqueue_deliveries_sql(event: events.EventSql, arg: Callable[[Any], str]) -> tuple[str, str]:
    """``enqueue_deliveries`` inside the event's own statement: one delivery per enabled,
    subscribed endpoint, each with its body (full or thin) built here once; workers are
    woken only if there is one."""
    type_ = f"{arg(event.type)}::text"
    now = arg(event.occurred_at)
    insert = (
        # B608: only $n placeholders and constant SQL are interpolated
        "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, "  # nosec B608
        "event_type, payload, status, attempt_count, cycle_attempts, next_attempt_at, "
        f"created_at, updated_at) SELECT {UUID7_SQL}, w.tenant_id, w.id, {arg(event.id)}, "
        f"{type_}, CASE w.payload WHEN 'thin' THEN {arg(build_body(event, 'thin'))}::bytea "
        f"ELSE {arg(build_body(event, 'full'))}::bytea END, 'pending', 0, 0, now(), {now}, "
        f"{now} FROM webhook_endpoints w WHERE w.tenant_id = {arg(event.tenant_id)} "
        f"AND w.enabled AND (cardinality(w.event_types) = 0 OR {type_} = ANY(w.event_types)) "
        "RETURNING 1"
    )
    # B608: the channel is a constant; {cte} is our CTE's name
    wake = f"(SELECT pg_notify('{NOTIFY_CHANNEL}', '') WHERE EXISTS (SELECT FROM {{cte}}))"  # nosec B608
    return insert, wake


def register_hooks() -> None:
    """Queue webhook deliveries for every event, written by either path. Called where the
    app (``create_app``) and the background loops are built; registering twice is harmless."""
    events.on_event(enqueue_deliveries)
    events.on_event_sql(enqueue_deliveries_sql)


# Endpoints


async def _check_url(url: str, settings: Settings) -> None:
    try:
        await ssrf.check_url(url, settings)
    except ssrf.UnsafeUrl as exc:
        raise ValidationFailed.field("/body/url", exc.message, exc.code) from exc


async def create(
    session: AsyncSession, principal: Principal, settings: Settings, body: WebhookEndpointCreate
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret (stored only sealed)."""
    tenant_id = principal.tenant_id
    await check_external_id_free(session, WebhookEndpoint, tenant_id, body.external_id)
    await _check_url(body.url, settings)
    count = await session.scalar(
        select(sa.func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == tenant_id)
    )
    if (count or 0) >= MAX_ENDPOINTS_PER_TENANT:
        raise Conflict(
            f"A tenant may have at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; "
            "delete one first."
        )
    endpoint_id = uuid7()
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        tenant_id=tenant_id,
        external_id=body.external_id,
        metadata_=body.metadata,
        url=body.url,
        description=body.description,
        event_types=body.event_types,
        payload=body.payload,
        enabled=body.enabled,
        disabled_at=None if body.enabled else utcnow(),
        secret_sealed=seal_secret(settings.keyring, tenant_id, endpoint_id, secret),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def get(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> WebhookEndpoint:
    """The endpoint (404 if missing or another tenant's); writes lock the row before their
    If-Match check, so of concurrent writers holding one ETag exactly one wins."""
    return await get_owned(session, WebhookEndpoint, tenant_id, endpoint_id, for_update=for_update)


async def get_for_write(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, if_match: str | None
) -> WebhookEndpoint:
    """The webhook endpoint for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE`` and checked
    against ``If-Match`` (412)."""
    return check_if_match(if_match, await get(session, tenant_id, endpoint_id, for_update=True))


async def list_endpoints(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    params: PageParams,
    *,
    enabled: bool | None = None,
    updated_since: datetime | None = None,
) -> Sequence[WebhookEndpoint]:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
    if enabled is not None:
        stmt = stmt.where(WebhookEndpoint.enabled == enabled)
    if updated_since is not None:
        stmt = stmt.where(WebhookEndpoint.updated_at >= updated_since)
    page = keyset(stmt, WebhookEndpoint.created_at, WebhookEndpoint.id, params)
    return (await session.scalars(page)).all()


async def fail_pending(session: AsyncSession, endpoint_id: uuid.UUID, reason: str) -> int:
    """Give up on the endpoint's queued deliveries; ones in flight finish on their own."""
    result = await session.execute(
        sa.update(WebhookDelivery)
        .where(
            col(WebhookDelivery.endpoint_id) == endpoint_id,
            col(WebhookDelivery.status) == "pending",
            sa.or_(
                col(WebhookDelivery.lease_token).is_(None),
                col(WebhookDelivery.next_attempt_at) <= sa.func.now(),
            ),
        )
        .values(
            status="failed",
            last_error=reason,
            completed_at=utcnow(),
            next_attempt_at=None,
            lease_token=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        WEBHOOK_DELIVERIES.labels("failed").inc(count)
    return count


async def update(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    endpoint: WebhookEndpoint,
    body: WebhookEndpointUpdate,
) -> WebhookEndpoint:
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, WebhookEndpointUpdate.non_null)
    if "external_id" in changes:
        await check_external_id_free(
            session,
            WebhookEndpoint,
            principal.tenant_id,
            changes["external_id"],
            exclude=endpoint.id,
        )
    if "url" in changes and changes["url"] != endpoint.url:
        await _check_url(changes["url"], settings)
    enabling = changes.get("enabled") is True and not endpoint.enabled
    disabling = changes.get("enabled") is False and endpoint.enabled
    if apply_changes(endpoint, changes):
        if enabling:
            endpoint.disabled_reason = None
            endpoint.disabled_at = None
            endpoint.failing_since = None
        if disabling:
            endpoint.disabled_reason = None
            endpoint.disabled_at = endpoint.updated_at
        await session.flush()
        if disabling:
            await fail_pending(session, endpoint.id, "The endpoint was disabled.")
    return endpoint


async def delete(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its deliveries and their attempts."""
    await session.delete(endpoint)
    await session.flush()


async def disable(session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
    """The system disables a failing endpoint and records ``webhook_endpoint.disabled``."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.disabled_at = utcnow()
    endpoint.updated_at = endpoint.disabled_at
    await session.flush()
    await fail_pending(session, endpoint.id, "The endpoint was disabled: " + reason)
    await events.record(
        session,
        tenant_id=endpoint.tenant_id,
        type=DISABLED_EVENT,
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        data=WebhookEndpointRead.model_validate(endpoint).model_dump(mode="json"),
    )


# Secrets


def _secret_view(endpoint: WebhookEndpoint, secret: str) -> WebhookSecret:
    expires = endpoint.previous_secret_expires_at
    if expires is not None and expires <= utcnow():
        expires = None
    return WebhookSecret(secret=secret, previous_secret_expires_at=expires)


def get_secret(keyring: Keyring, endpoint: WebhookEndpoint) -> WebhookSecret:
    secret = open_secret(keyring, endpoint.tenant_id, endpoint.id, endpoint.secret_sealed)
    return _secret_view(endpoint, secret)


async def rotate_secret(
    session: AsyncSession, keyring: Keyring, endpoint: WebhookEndpoint
) -> WebhookSecret:
    """A new secret; the current one keeps signing too for 24 hours (it moves, still
    sealed, to ``previous_secret_sealed``: both are bound to the endpoint alike)."""
    secret = new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    endpoint.secret_sealed = seal_secret(keyring, endpoint.tenant_id, endpoint.id, secret)
    touch(endpoint)
    await session.flush()
    return _secret_view(endpoint, secret)


def signing_secrets(
    keyring: Keyring,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    sealed: str,
    previous_sealed: str | None,
    previous_expires_at: datetime | None,
    now: datetime,
) -> list[str]:
    """The secrets a delivery is signed with now, opened: the current one, and the
    previous one while its overlap lasts."""
    found = [open_secret(keyring, tenant_id, endpoint_id, sealed)]
    if previous_sealed and previous_expires_at is not None and previous_expires_at > now:
        found.append(open_secret(keyring, tenant_id, endpoint_id, previous_sealed))
    return found


# Deliveries


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(
            "The endpoint is disabled; enable it first (PATCH with `enabled: true`).",
            extra={"disabled_reason": endpoint.disabled_reason},
        )


async def send_test(
    session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint
) -> WebhookDelivery:
    """Record a ``webhook.test`` event and queue it for this endpoint only."""
    _require_enabled(endpoint)
    event = await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=TEST_EVENT,
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        data=WebhookEndpointRead.model_validate(endpoint).model_dump(mode="json"),
        actor=principal,
    )
    [delivery_id] = await _enqueue(session, event, [(endpoint.id, endpoint.payload)])
    delivery = await session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    return delivery


async def get_delivery(
    session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID, *, for_update: bool = False
) -> WebhookDelivery:
    return await get_owned(session, WebhookDelivery, tenant_id, delivery_id, for_update=for_update)


async def list_attempts(session: AsyncSession, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    latest = (
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(col(WebhookAttempt.attempt).desc())
            .limit(MAX_ATTEMPTS_SHOWN)
        )
    ).all()
    return list(reversed(latest))


async def list_deliveries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    params: PageParams,
    *,
    status: str | None = None,
    event_type: str | None = None,
) -> Sequence[WebhookDelivery]:
    await get(session, tenant_id, endpoint_id)
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_type is not None:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    page = keyset(stmt, WebhookDelivery.created_at, WebhookDelivery.id, params)
    return (await session.scalars(page)).all()


def delivery_detail(
    delivery: WebhookDelivery, attempts: list[WebhookAttemptRead]
) -> WebhookDeliveryDetail:
    summary = WebhookDeliveryRead.model_validate(delivery).model_dump()
    return WebhookDeliveryDetail(**summary, payload=json.loads(delivery.payload), attempts=attempts)


def _in_flight(delivery: WebhookDelivery, now: datetime) -> bool:
    return (
        delivery.status == "pending"
        and delivery.lease_token is not None
        and delivery.next_attempt_at is not None
        and delivery.next_attempt_at > now
    )


def _rearm(delivery: WebhookDelivery, now: datetime) -> None:
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.lease_token = None
    delivery.cycle_attempts = 0
    delivery.completed_at = None
    delivery.updated_at = now


async def retry_delivery(
    session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send the delivery again now, with a fresh retry schedule, whatever its status."""
    delivery = await get_delivery(session, tenant_id, delivery_id, for_update=True)
    endpoint = await get(session, tenant_id, delivery.endpoint_id)
    _require_enabled(endpoint)
    now = utcnow()
    if _in_flight(delivery, now):
        raise Conflict("The delivery is being sent right now; retry after it finishes.")
    _rearm(delivery, now)
    await session.flush()
    await notify_workers(session)
    return delivery


async def recover(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, since: datetime
) -> int:
    """Queue again every failed delivery of the endpoint created at or after ``since``."""
    endpoint = await get(session, tenant_id, endpoint_id)
    _require_enabled(endpoint)
    now = utcnow()
    result = await session.execute(
        sa.update(WebhookDelivery)
        .where(
            col(WebhookDelivery.tenant_id) == tenant_id,
            col(WebhookDelivery.endpoint_id) == endpoint_id,
            col(WebhookDelivery.status) == "failed",
            col(WebhookDelivery.created_at) >= since,
        )
        .values(
            status="pending",
            next_attempt_at=now,
            lease_token=None,
            cycle_attempts=0,
            completed_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        await notify_workers(session)
    return count
