"""Person sessions: short-lived bearer tokens (``ccs_…``) a platform mints so a browser
front-end acts for one person. Only the SHA-256 of the token is stored."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import TimestampField, uuid7


class PersonSession(SQLModel, table=True):
    __tablename__ = "person_sessions"
    # ``not_history``: a session is not part of its person's history, so it does not stop
    # the person's deletion (``has_references``); it goes with them (ON DELETE CASCADE).
    __table_args__ = (
        sa.Index("ix_person_sessions_tenant_created", "tenant_id", "created_at", "id"),
        {"info": {"not_history": True}},
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    person_id: uuid.UUID = Field(
        foreign_key="people.id", nullable=False, ondelete="CASCADE", index=True
    )
    # The key that minted it: its rate limit counts the session's requests, and revoking
    # (or deleting) the key ends the session.
    api_key_id: uuid.UUID = Field(
        foreign_key="api_keys.id", nullable=False, ondelete="CASCADE", index=True
    )
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()
