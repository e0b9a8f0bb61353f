"""Time-driven rules: each domain module defines the events its subjects fire when a
moment comes (``SCHEDULED`` in follow_ups.py, conversations.py, action_plans.py,
feedback_requests.py); the scheduler (app/background/scheduler.py) runs the ones it is
given, and claims each ``(type, subject, due time)`` once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

Snapshot = Callable[[AsyncSession, uuid.UUID], Awaitable[dict[str, Any]]]
Transition = Callable[[AsyncSession, uuid.UUID, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Rule:
    type: str
    subject_type: str
    # SQL returning (tenant_id, subject_id, due_at) for due candidates at :now (and before
    # :horizon, the longest lead time ahead), at most :limit.
    candidates: str
    snapshot: Snapshot
    # Optional state change made with the event (e.g. a feedback request expiring).
    transition: Transition | None = None
    # The claim's type in ``scheduled_firings`` when one event type has several rules over
    # the same subjects (cadence: one per conversation kind); default ``type``.
    claim: str | None = None

    @property
    def key(self) -> str:
        return self.claim or self.type


def not_fired(alias: str, due: str, type_: str) -> str:
    """SQL: the rule has not yet fired for ``alias``'s row at the moment ``due``."""
    return (
        # B608: alias, column and event type are constants of the domains' rules
        f"NOT EXISTS (SELECT 1 FROM scheduled_firings s WHERE s.type = '{type_}' "  # nosec B608
        f"AND s.subject_id = {alias}.id AND s.due_at = {due})"
    )
