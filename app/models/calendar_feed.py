"""Calendar feeds: a person's secret subscription URL (``ccf_…`` token) that calendar apps
poll without credentials. One per person; only the SHA-256 of the token is stored."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import TimestampField, uuid7


class CalendarFeed(SQLModel, table=True):
    __tablename__ = "calendar_feeds"
    # ``not_history``: a feed is not part of its person's history, so it does not stop the
    # person's deletion (``has_references``); it goes with them (ON DELETE CASCADE).
    __table_args__ = (
        sa.Index("ix_calendar_feeds_tenant_created", "tenant_id", "created_at", "id"),
        {"info": {"not_history": True}},
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    # One feed per person: creating it again rotates the token (a new row id too).
    person_id: uuid.UUID = Field(
        foreign_key="people.id", nullable=False, ondelete="CASCADE", unique=True
    )
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()
