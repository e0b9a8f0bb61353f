"""Cadence SLA: how long an active employee may go without a completed conversation of a
kind (the tenant's ``cadence_days``, e.g. ``{"career": 90}``).

A person's due date for a kind is their last completed conversation of that kind (as the
employee) plus the kind's days, or their creation plus the days when they have none. The
scheduler fires ``cadence.due_soon`` (``cadence_warning_days`` before it, while still ahead)
and ``cadence.breached`` (once it passed), each claimed on ``(type:kind, person, due date)``:
once per due date, however many schedulers run; a completion moves the due date, which
re-arms both. Only active, not erased people are scanned; each person costs one probe of
``ix_conversations_completed_by_employee``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, get_args

import sqlalchemy as sa
from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.rows import Record, Shape, json_response
from app.models.base import sql_value, utcnow
from app.models.conversation import ConversationStatus
from app.models.person import Person, PersonStatus
from app.schemas.cadence import CadenceRead, CadenceState, PersonCadenceRead
from app.schemas.conversations import ConversationKind
from app.services import visibility
from app.services.common import Reader
from app.services.scheduling import Rule

KINDS: tuple[str, ...] = get_args(ConversationKind)
_COMPLETED = sql_value(ConversationStatus, "completed")
_ACTIVE = sql_value(PersonStatus, "active")


def state_at(due_at: datetime, warning_days: int, now: datetime) -> CadenceState:
    if due_at <= now:
        return "breached"
    if due_at - timedelta(days=warning_days) <= now:
        return "due_soon"
    return "ok"


# Per kind the tenant configures, as a row array in the person's one statement: (kind,
# days, last completed id, its completed_at, due_at, warning days).
_KINDS = (
    # B608: constants of ours (the status is a checked literal)
    ", ARRAY(SELECT ROW(k.key, k.value::int, lc.id, lc.completed_at, "  # nosec B608
    "COALESCE(lc.completed_at, t.created_at) + make_interval(days => k.value::int), "
    "tn.cadence_warning_days) FROM tenants tn CROSS JOIN LATERAL "
    "jsonb_each_text(tn.cadence_days) k LEFT JOIN LATERAL (SELECT c.id, c.completed_at "
    "FROM conversations c WHERE c.tenant_id = t.tenant_id AND c.employee_id = t.id "
    f"AND c.kind = k.key AND c.status = {_COMPLETED} "
    "ORDER BY c.completed_at DESC, c.id DESC LIMIT 1) lc ON TRUE "
    "WHERE tn.id = t.tenant_id ORDER BY k.key) AS kinds"
)


def _entry(person_id: str, item: tuple[Any, ...], now: datetime) -> dict[str, Any]:
    kind, days, last_id, last_at, due_at, warning = item
    return {
        "person_id": person_id,
        "kind": kind,
        "cadence_days": days,
        "last_completed_conversation_id": None if last_id is None else str(last_id),
        "last_completed_at": last_at,
        "due_at": due_at,
        "state": state_at(due_at, warning, now),
    }


def _kinds(row: Record) -> list[dict[str, Any]]:
    now, person_id = utcnow(), str(row["id"])
    return [_entry(person_id, item, now) for item in row["kinds"] or ()]


READER = Reader(
    Person,
    Shape(PersonCadenceRead, person_id=lambda row: str(row["id"]), kinds=_kinds),
    extra=_KINDS,
    visible=visibility.CADENCE,
)


async def get(db: RequestDb, principal: Principal, person_id: uuid.UUID) -> Response:
    """The person's cadence per configured kind, in one statement; 404 unless the acting
    person is that person or one of their managers (per setting)."""
    row = await READER.one(db, principal, person_id)
    return json_response(READER.shape(row))


# Time-driven events ----------------------------------------------------------------------


def _due(kind: str) -> str:
    """SQL: person ``p``'s due date for ``kind`` under tenant ``tn`` (one index probe)."""
    # B608: the kind is one of ConversationKind's literals; the status a checked literal
    return (
        "COALESCE((SELECT max(c.completed_at) FROM conversations c "  # nosec B608
        f"WHERE c.tenant_id = p.tenant_id AND c.employee_id = p.id AND c.kind = '{kind}' "
        f"AND c.status = {_COMPLETED}), p.created_at) "
        f"+ make_interval(days => (tn.cadence_days ->> '{kind}')::int)"
    )


def _candidates(kind: str, claim: str, window: str) -> str:
    # B608: built from constants (kinds, claims and windows of this module)
    return (
        "SELECT p.tenant_id, p.id, d.due_at FROM tenants tn "  # nosec B608
        "JOIN people p ON p.tenant_id = tn.id "
        # OFFSET 0: the due date is computed once per person (one index probe), not
        # inlined into each condition that reads it.
        f"CROSS JOIN LATERAL (SELECT {_due(kind)} AS due_at OFFSET 0) d "
        f"WHERE tn.cadence_days ->> '{kind}' IS NOT NULL "
        f"AND p.status = {_ACTIVE} AND p.erased_at IS NULL AND {window} "
        "AND NOT EXISTS (SELECT 1 FROM scheduled_firings s "
        f"WHERE s.type = '{claim}' AND s.subject_id = p.id AND s.due_at = d.due_at) "
        "ORDER BY d.due_at LIMIT :limit"
    )


_ONE = sa.text(
    # B608: constants of ours
    "SELECT p.created_at, (tn.cadence_days ->> :kind)::int AS days, lc.id AS last_id, "  # nosec B608
    "lc.completed_at FROM people p JOIN tenants tn ON tn.id = p.tenant_id "
    "LEFT JOIN LATERAL (SELECT c.id, c.completed_at FROM conversations c "
    "WHERE c.tenant_id = p.tenant_id AND c.employee_id = p.id AND c.kind = :kind "
    f"AND c.status = {_COMPLETED} ORDER BY c.completed_at DESC, c.id DESC LIMIT 1) lc "
    "ON TRUE WHERE p.id = :id"
)


def _snapshot(kind: str, state: CadenceState) -> Any:
    async def snapshot(session: AsyncSession, person_id: uuid.UUID) -> dict[str, Any]:
        """The kind's cadence as the event announces it (``state``: what fired)."""
        row = (await session.execute(_ONE, {"kind": kind, "id": person_id})).one()
        start = row.completed_at or row.created_at
        return CadenceRead(
            person_id=person_id,
            kind=kind,
            cadence_days=row.days,
            last_completed_conversation_id=row.last_id,
            last_completed_at=row.completed_at,
            due_at=start + timedelta(days=row.days),
            state=state,
        ).model_dump(mode="json")

    return snapshot


def _rules(kind: str) -> tuple[Rule, Rule]:
    soon, breached = f"cadence.due_soon:{kind}", f"cadence.breached:{kind}"
    return (
        Rule(
            "cadence.due_soon",
            "cadence",
            _candidates(
                kind,
                soon,
                "d.due_at > :now "
                "AND d.due_at - make_interval(days => tn.cadence_warning_days) <= :now",
            ),
            _snapshot(kind, "due_soon"),
            claim=soon,
        ),
        Rule(
            "cadence.breached",
            "cadence",
            _candidates(kind, breached, "d.due_at <= :now"),
            _snapshot(kind, "breached"),
            claim=breached,
        ),
    )


SCHEDULED: tuple[Rule, ...] = tuple(rule for kind in KINDS for rule in _rules(kind))
