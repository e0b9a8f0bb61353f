from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from app.models.base import TimestampField, uuid7


class ApiKey(SQLModel, table=True):
    """A tenant's API key. Only the SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.Index("ix_api_keys_tenant_created", "tenant_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=32)
    secret_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(sa_type=ARRAY(sa.Text()), nullable=False)
    created_at: datetime = TimestampField()
    last_used_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
    )
    revoked_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
    )
