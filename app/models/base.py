"""Shared column sets and the metadata naming convention."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any, get_args

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def values_of(literal: Any) -> tuple[str, ...]:
    """The values of a ``Literal[...]`` type (a status set), in order."""
    values: tuple[str, ...] = get_args(literal)
    return values


def sql_in(column: str, literal: Any, *values: str) -> str:
    """``column IN ('a', 'b')`` over the given values of a status set (all of them when
    none is given); a value outside the set is refused when the module is imported."""
    known = values_of(literal)
    chosen = values or known
    unknown = [value for value in chosen if value not in known]
    assert not unknown, f"{unknown} not in {known}"
    return f"{column} IN ({', '.join(repr(value) for value in chosen)})"


def sql_value(literal: Any, value: str) -> str:
    """``'value'``, a SQL literal for one value of a status set (checked like ``sql_in``)."""
    assert value in values_of(literal), f"{value!r} not in {values_of(literal)}"
    return repr(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


_last_uuid7 = 0
_uuid7_lock = threading.Lock()


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): ids sort by creation time.

    Monotonic within the process: two ids made in the same millisecond still sort in the
    order they were made (the random tail of the later one is the earlier one's plus one).
    """
    global _last_uuid7
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    with _uuid7_lock:
        if value <= _last_uuid7:
            value = _last_uuid7 + 1
        _last_uuid7 = value
    return uuid.UUID(int=value)


def TimestampField() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        nullable=False,
    )


def CompetencyIds() -> Any:
    """``competency_ids uuid[]``: the competencies a row is about (goals, feedback)."""
    return Field(
        default_factory=list,
        sa_type=ARRAY(sa.Uuid()),
        sa_column_kwargs={"server_default": sa.text("'{}'::uuid[]")},
        nullable=False,
    )


def MetadataField() -> Any:
    return Field(
        default_factory=dict,
        sa_type=JSONB,
        sa_column_kwargs={"name": "metadata", "server_default": sa.text("'{}'::jsonb")},
        nullable=False,
    )


class TenantResource(SQLModel):
    """Columns every tenant-owned resource carries."""

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    external_id: str | None = Field(default=None, max_length=255)
    metadata_: dict[str, Any] = MetadataField()
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()


def resource_table_args(table: str, *extra: Any) -> tuple[Any, ...]:
    """Unique external ids per tenant and the keyset-pagination index, plus ``extra``."""
    return (
        sa.Index(
            f"uq_{table}_tenant_external_id",
            "tenant_id",
            "external_id",
            unique=True,
            postgresql_where=sa.text("external_id IS NOT NULL"),
        ),
        sa.Index(f"ix_{table}_tenant_created", "tenant_id", "created_at", "id"),
        *extra,
    )
