from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.models.base import TimestampField, uuid7

# xid8 of the writing transaction, as a bigint: lets pollers read events in an
# order no later commit can insert into (see services/events.py).
CURRENT_TXID = sa.text("(pg_current_xact_id()::text)::bigint")


class Event(SQLModel, table=True):
    """The transactional outbox: one row per state change, written with the change."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_tenant_txid", "tenant_id", "txid", "id"),
        sa.Index("ix_events_tenant_type_txid", "tenant_id", "type", "txid", "id"),
        # Retention (app/services/retention.py): a tenant's events by age.
        sa.Index("ix_events_tenant_occurred", "tenant_id", "occurred_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    type: str = Field(max_length=100)
    occurred_at: datetime = TimestampField()
    subject_type: str = Field(max_length=50)
    subject_id: uuid.UUID
    data: dict[str, Any] = Field(sa_type=JSONB)
    api_key_id: uuid.UUID | None = Field(default=None)
    # The person the key acted for (Acting-Person or a person session); None: the platform.
    person_id: uuid.UUID | None = Field(default=None)
    txid: int = Field(
        sa_type=sa.BigInteger,
        sa_column_kwargs={"server_default": CURRENT_TXID},
        nullable=False,
    )
