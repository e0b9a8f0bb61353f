"""What both yardsticks (and bench/run.py) share: the statements on ``conversations``,
time-ordered ids and the API's cursor format. Standard library only, so the bare yardstick
stays free of the app and of any framework."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime

COLUMNS = (
    "id, tenant_id, external_id, metadata, created_at, updated_at, employee_id, facilitator_id, "
    "kind, status, scheduled_start, duration_minutes, timezone, location, meeting_url, "
    "employee_objectives, facilitator_objectives, summary, reschedule_count, "
    "employee_prepared_at, facilitator_prepared_at, completed_at, canceled_at, cancel_reason"
)
GET_ONE = f"SELECT {COLUMNS} FROM conversations WHERE id = $1 AND tenant_id = $2"
FIRST_PAGE = (
    f"SELECT {COLUMNS} FROM conversations WHERE tenant_id = $1 "
    "ORDER BY created_at DESC, id DESC LIMIT $2"
)
NEXT_PAGE = (
    f"SELECT {COLUMNS} FROM conversations WHERE tenant_id = $1 "
    "AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4"
)
INSERT = (
    "INSERT INTO conversations (id, tenant_id, metadata, created_at, updated_at, employee_id, "
    "facilitator_id, kind, status, duration_minutes, timezone, reschedule_count) "
    "VALUES ($1, $2, '{}', $3, $3, $4, $5, $6, 'draft', 30, 'UTC', 0) "
    f"RETURNING {COLUMNS}"
)

_last_uuid7 = 0
_uuid7_lock = threading.Lock()


def uuid7() -> uuid.UUID:
    """Time-ordered ids, like the API's (app/models/base.py), so inserts hit the same index
    pattern."""
    global _last_uuid7
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & ((1 << 62) - 1))
    with _uuid7_lock:
        if value <= _last_uuid7:
            value = _last_uuid7 + 1
        _last_uuid7 = value
    return uuid.UUID(int=value)


def encode_cursor(created_at: datetime, ident: object) -> str:
    """As app/core/pagination.py ``encode_cursor([created_at, id])``."""
    raw = json.dumps([created_at.isoformat(), str(ident)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The cursor's sort key; ``ValueError`` (or ``TypeError``) if it is malformed."""
    first, ident = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    created = datetime.fromisoformat(first)
    if created.tzinfo is None:
        raise ValueError("naive timestamp")
    return created.astimezone(UTC), uuid.UUID(ident)
