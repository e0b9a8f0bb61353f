"""Webhook endpoints, the deliveries queued for them, and every attempt to send one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from app.models.base import (
    TenantResource,
    TimestampField,
    resource_table_args,
    sql_in,
    sql_value,
    uuid7,
)

# The statuses a row may hold: the CHECK constraint, the API's schema and the SQL of
# the rules all read them from here.
DeliveryStatus = Literal["pending", "succeeded", "failed"]


class WebhookEndpoint(TenantResource, table=True):
    """A tenant's receiver URL, what it subscribes to, and its signing secrets."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = resource_table_args(
        "webhook_endpoints",
        sa.CheckConstraint("payload IN ('full', 'thin')", name="payload"),
    )

    url: str = Field(max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    # Empty means every event type.
    event_types: list[str] = Field(
        default_factory=list,
        sa_type=ARRAY(sa.Text()),
        sa_column_kwargs={"server_default": sa.text("'{}'::text[]")},
        nullable=False,
    )
    payload: str = Field(default="full", max_length=8)
    enabled: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, max_length=500)
    disabled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Start of the current run of failed attempts; cleared by any success.
    failing_since: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Signing needs the secret itself, so it is stored (unlike API keys, which are hashed),
    # sealed with AES-GCM under CCAPI_SECRET_KEY (app/core/sealing.py); never plain text.
    secret_sealed: str = Field(max_length=255)
    previous_secret_sealed: str | None = Field(default=None, max_length=255)
    previous_secret_expires_at: datetime | None = Field(
        default=None, sa_type=sa.DateTime(timezone=True)
    )


class WebhookDelivery(SQLModel, table=True):
    """One event to one endpoint: the exact body to sign and send, and where it stands.

    ``pending`` rows are the queue. A worker leases a row by setting ``lease_token`` and
    pushing ``next_attempt_at`` to the lease's expiry, so a lapsed lease simply makes the
    row due again; only the holder of the token may record the attempt's result.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id"),
        sa.Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=sa.text(f"status = {sql_value(DeliveryStatus, 'pending')}"),
        ),
        # The claim: each endpoint's due deliveries, oldest first ...
        sa.Index(
            "ix_webhook_deliveries_endpoint_due",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=sa.text(f"status = {sql_value(DeliveryStatus, 'pending')}"),
        ),
        # ... and its leases (in flight until they lapse), counted against its cap.
        sa.Index(
            "ix_webhook_deliveries_endpoint_leased",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=sa.text(
                f"status = {sql_value(DeliveryStatus, 'pending')} AND lease_token IS NOT NULL"
            ),
        ),
        sa.Index(
            "ix_webhook_deliveries_tenant_endpoint_created",
            "tenant_id",
            "endpoint_id",
            "created_at",
            "id",
        ),
        sa.Index(
            "ix_webhook_deliveries_tenant_endpoint_status_created",
            "tenant_id",
            "endpoint_id",
            "status",
            "created_at",
            "id",
        ),
        sa.Index("ix_webhook_deliveries_event", "event_id"),
        # Retention (app/services/retention.py): a tenant's delivered deliveries by age
        # (only succeeded ones are ever purged).
        sa.Index(
            "ix_webhook_deliveries_tenant_succeeded_created",
            "tenant_id",
            "created_at",
            postgresql_where=sa.text(f"status = {sql_value(DeliveryStatus, 'succeeded')}"),
        ),
        sa.CheckConstraint(sql_in("status", DeliveryStatus), name="status"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    endpoint_id: uuid.UUID = Field(
        foreign_key="webhook_endpoints.id", nullable=False, ondelete="CASCADE"
    )
    event_id: uuid.UUID = Field(foreign_key="events.id", nullable=False, ondelete="CASCADE")
    event_type: str = Field(max_length=100)
    payload: bytes = Field(sa_type=sa.LargeBinary)
    status: str = Field(default="pending", max_length=16)
    # Attempts ever made (numbers the attempts) and within the current retry cycle (a
    # manual retry or a recover starts a new cycle through the schedule).
    attempt_count: int = Field(default=0)
    cycle_attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    lease_token: uuid.UUID | None = Field(default=None)
    last_attempt_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    completed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()


class WebhookAttempt(SQLModel, table=True):
    """One HTTP request made for a delivery, and what came back."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        sa.UniqueConstraint("delivery_id", "attempt"),
        sa.CheckConstraint(
            "result IN ('succeeded', 'http_error', 'timeout', 'connection_error', 'refused')",
            name="result",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    delivery_id: uuid.UUID = Field(
        foreign_key="webhook_deliveries.id", nullable=False, ondelete="CASCADE"
    )
    attempt: int
    url: str = Field(max_length=2048)
    started_at: datetime = TimestampField()
    duration_ms: int
    result: str = Field(max_length=20)
    status_code: int | None = Field(default=None)
    response_body: str | None = Field(default=None, max_length=4096)
    error: str | None = Field(default=None, max_length=500)
