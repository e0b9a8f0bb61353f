"""Expectations alignment: the employee's aspiration and a facilitator's assessment, each a
history of versions, and the alignment between their current versions.

A PUT writes a new version only when its content differs from the current one (same
content: the current version, unchanged). Every new version recomputes the person's
alignment (``compare``) in the same transaction, under a lock of the person's row in
``alignments`` (created on the first write): writers of one person queue there, so version
numbers never collide and a status change is recorded exactly once, whatever runs at the
same time. A change of status records ``alignment.changed``; entering ``gap`` also
``alignment.gap_detected``. ``gap`` to ``gap`` with other differences records neither (the
status did not change; ``GET …/alignment`` shows the new differences).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

import asyncpg
from fastapi import Response
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import NotFound, NotPermitted, PreconditionFailed, ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape, json_response
from app.models.alignment import (
    Alignment,
    AlignmentStatus,
    Aspiration,
    Assessment,
    Difference,
)
from app.models.base import utcnow, uuid7
from app.models.career_framework import CareerTrackLevel
from app.models.person import Person
from app.schemas.alignment import (
    AlignmentRead,
    AspirationPut,
    AspirationRead,
    AssessmentPut,
    AssessmentRead,
)
from app.services import events, visibility
from app.services.common import Reader, check_if_match, check_reference, get_owned

V = TypeVar("V", Aspiration, Assessment)

# The readiness each horizon must at least allow: ``ready_in_1_year`` needs a horizon of
# 12 months or more, ``ready_in_2_years`` 24; ``not_on_this_path`` is always a gap.
_HORIZON_NEEDED: dict[str, int | None] = {
    "ready_now": 0,
    "ready_in_1_year": 12,
    "ready_in_2_years": 24,
    "not_on_this_path": None,
}
DIFFERENCES: tuple[str, ...] = get_args(Difference)


def _norm(text: str | None) -> str | None:
    """Case- and space-insensitive form: every whitespace run removed, casefolded."""
    return None if text is None else "".join(text.split()).casefold()


def compare(
    aspiration: Mapping[str, Any] | None, assessment: Mapping[str, Any] | None
) -> tuple[AlignmentStatus, list[Difference]]:
    """The alignment of an aspiration and an assessment (their fields by name): ``unknown``
    when one is missing; else ``aligned``, or ``gap`` with the differing fields in the order
    ``role``, ``level``, ``horizon``.

    - role: ``target_role`` vs ``realistic_role``, ignoring case and whitespace;
    - level: when both sides name a career track level (``track_level_id``), the level ids
      decide alone: different ids are a ``level`` difference, the same id none, whatever
      the free-text levels say. Otherwise (one side or neither names a level id)
      ``target_level`` vs ``realistic_level``, ignoring case and whitespace, only when both
      are given;
    - horizon: ``readiness`` vs ``horizon_months`` (``_HORIZON_NEEDED``).
    """
    if aspiration is None or assessment is None:
        return "unknown", []
    found: list[Difference] = []
    if _norm(aspiration["target_role"]) != _norm(assessment["realistic_role"]):
        found.append("role")
    aimed, found_realistic = aspiration.get("track_level_id"), assessment.get("track_level_id")
    if aimed is not None and found_realistic is not None:
        if aimed != found_realistic:
            found.append("level")
    else:
        wanted, realistic = aspiration["target_level"], assessment["realistic_level"]
        if wanted is not None and realistic is not None and _norm(wanted) != _norm(realistic):
            found.append("level")
    needed = _HORIZON_NEEDED[assessment["readiness"]]
    if needed is None or aspiration["horizon_months"] < needed:
        found.append("horizon")
    return ("gap" if found else "aligned"), found


# Reads -------------------------------------------------------------------------------------


ASPIRATIONS = Reader(Aspiration, Shape(AspirationRead), visible=visibility.ASPIRATIONS)
ASSESSMENTS = Reader(Assessment, Shape(AssessmentRead), visible=visibility.ASSESSMENTS)
# The person, if the acting person sees their alignment (404 otherwise, like a missing one).
PERSON = Reader(Person, Shape(AlignmentRead), visible=visibility.EXPECTATIONS)
_ALIGNMENT_EXTRA = (
    ", (SELECT ROW(a.status, a.differences, a.aspiration_id, a.assessment_id, a.updated_at) "
    "FROM alignments a WHERE a.tenant_id = t.tenant_id AND a.person_id = t.id) AS al"
)


def _al(index: int, default: Any = None) -> Any:
    def build(row: Any) -> Any:
        al = row["al"]
        value = default if al is None else al[index]
        return str(value) if isinstance(value, uuid.UUID) else value

    return build


ALIGNMENT = Reader(
    Person,
    Shape(
        AlignmentRead,
        person_id=lambda row: str(row["id"]),
        status=_al(0, "unknown"),
        differences=_al(1, []),
        aspiration_id=_al(2),
        assessment_id=_al(3),
        computed_at=_al(4),
    ),
    extra=_ALIGNMENT_EXTRA,
    visible=visibility.EXPECTATIONS,
)


def reader(model: type[V]) -> Reader:
    """The reader of one side's versions."""
    return ASPIRATIONS if model is Aspiration else ASSESSMENTS


async def current(
    db: RequestDb, principal: Principal, model: type[V], person_id: uuid.UUID
) -> Response:
    """The person's current version (404 when none yet, or when the acting person may not
    see it: the same answer), with its ``ETag``."""
    versions = reader(model)
    where = versions.where(principal, one=True)
    where.add("t.person_id = {}", person_id)
    sql = versions.select + where.sql + " ORDER BY t.version DESC LIMIT 1"
    row = await (await db.raw()).fetchrow(sql, *where.params)
    if row is None:
        raise NotFound(f"No {versions.label} for person {person_id} yet.")
    return versions.answer(row)


async def history(
    db: RequestDb,
    principal: Principal,
    model: type[V],
    person_id: uuid.UUID,
    params: PageParams,
) -> list[asyncpg.Record]:
    """A page of the person's versions, newest first (404 if the person is missing or the
    acting person may not see their expectations)."""
    await PERSON.one(db, principal, person_id)
    versions = reader(model)
    where = versions.where(principal)
    where.add("t.person_id = {}", person_id)
    return await versions.page(db, where, params, principal)


async def get_alignment(db: RequestDb, principal: Principal, person_id: uuid.UUID) -> Response:
    """The person's alignment (``unknown`` before any write): one statement."""
    row = await ALIGNMENT.one(db, principal, person_id)
    return json_response(ALIGNMENT.shape(row))


# Writes ------------------------------------------------------------------------------------


@dataclass
class Slot:
    """A person's locked alignment row and the current version of one side."""

    person: Person
    alignment: Alignment
    current: Any


async def _lock(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Alignment:
    """The person's alignment row, created ``unknown`` if missing, locked ``FOR UPDATE``."""
    now = utcnow()
    await session.execute(
        insert(Alignment)
        .values(
            id=uuid7(),
            tenant_id=tenant_id,
            person_id=person_id,
            status="unknown",
            differences=[],
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["person_id"])
    )
    row = await session.scalar(
        select(Alignment)
        .where(col(Alignment.person_id) == person_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def _current(session: AsyncSession, model: type[V], person_id: uuid.UUID) -> V | None:
    table: Any = model
    return await session.scalar(
        select(model).where(table.person_id == person_id).order_by(table.version.desc()).limit(1)
    )


def _check_if_match(if_match: str | None, version: V | None) -> None:
    """``If-Match`` names the current version's ETag (``*``: any current version); with no
    version yet, any ``If-Match`` fails (412)."""
    if if_match is None:
        return
    if version is None:
        raise PreconditionFailed(
            "There is no current version yet: send the first one without If-Match."
        )
    check_if_match(if_match, version)


async def _slot(
    session: AsyncSession,
    principal: Principal,
    model: type[V],
    person_id: uuid.UUID,
    if_match: str | None,
) -> Slot:
    person = await get_owned(session, Person, principal.tenant_id, person_id)
    alignment = await _lock(session, principal.tenant_id, person.id)
    version = await _current(session, model, person.id)
    _check_if_match(if_match, version)
    return Slot(person, alignment, version)


async def get_aspiration_for_write(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, if_match: str | None
) -> Slot:
    """The person (404), written only by themselves or the platform (403), their alignment
    row locked and the current aspiration checked against ``If-Match`` (412)."""
    person = await get_owned(session, Person, principal.tenant_id, person_id)
    visibility.permit(principal, [person.id], "Only the person themselves writes their aspiration.")
    return await _slot(session, principal, Aspiration, person_id, if_match)


async def get_assessment_for_write(
    session: AsyncSession,
    principal: Principal,
    person_id: uuid.UUID,
    assessed_by: uuid.UUID,
    if_match: str | None,
) -> Slot:
    """The person (404); a person writes as themselves (``assessed_by``, 403) and must be
    a manager or an active mentor of theirs (403; for the platform, 422 on ``assessed_by``);
    their alignment row locked and the current assessment checked against ``If-Match``."""
    tenant_id = principal.tenant_id
    person = await get_owned(session, Person, tenant_id, person_id)
    acting = principal.person_id
    if acting is not None and acting != assessed_by:
        raise NotPermitted("A person writes an assessment as themselves (`assessed_by`).")
    await check_reference(session, Person, tenant_id, assessed_by, "/body/assessed_by")
    if not await visibility.may_assess(session, tenant_id, person.id, assessed_by):
        if acting is not None:
            raise NotPermitted(
                "Only a manager of the person or their mentor (active mentorship) assesses them."
            )
        raise ValidationFailed.field(
            "/body/assessed_by",
            f"Person {assessed_by} is neither a manager of person {person.id} nor their "
            "mentor in an active mentorship.",
            "not_a_facilitator",
        )
    return await _slot(session, principal, Assessment, person_id, if_match)


_ASPIRATION_FIELDS = tuple(AspirationPut.model_fields)
_ASSESSMENT_FIELDS = tuple(AssessmentPut.model_fields)


def _content(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields}


async def _write(
    session: AsyncSession,
    principal: Principal,
    slot: Slot,
    model: type[V],
    fields: dict[str, Any],
) -> tuple[V, bool]:
    names = _ASPIRATION_FIELDS if model is Aspiration else _ASSESSMENT_FIELDS
    old = slot.current
    if old is not None and _content(old, names) == fields:
        return old, False
    now = utcnow()
    made = model(
        tenant_id=principal.tenant_id,
        person_id=slot.person.id,
        version=1 if old is None else old.version + 1,
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(made)
    await session.flush()
    kind = "aspiration" if model is Aspiration else "assessment"
    read = AspirationRead if model is Aspiration else AssessmentRead
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=f"{kind}.updated",
        subject_type=kind,
        subject_id=made.id,
        data=read.model_validate(made).model_dump(mode="json"),
        actor=principal,
    )
    person_id = slot.person.id
    aspiration = (
        made if isinstance(made, Aspiration) else await _current(session, Aspiration, person_id)
    )
    assessment = (
        made if isinstance(made, Assessment) else await _current(session, Assessment, person_id)
    )
    await _realign(session, principal, slot.alignment, aspiration, assessment)
    return made, True


async def _realign(
    session: AsyncSession,
    principal: Principal,
    alignment: Alignment,
    aspiration: Aspiration | None,
    assessment: Assessment | None,
) -> None:
    """Recompute the locked alignment row; record the transition's events once."""
    status, found = compare(
        None if aspiration is None else _content(aspiration, _ASPIRATION_FIELDS),
        None if assessment is None else _content(assessment, _ASSESSMENT_FIELDS),
    )
    before = alignment.status
    alignment.status = status
    alignment.differences = list(found)
    alignment.aspiration_id = None if aspiration is None else aspiration.id
    alignment.assessment_id = None if assessment is None else assessment.id
    alignment.updated_at = utcnow()
    await session.flush()
    if status == before:
        return
    data = {
        "person_id": str(alignment.person_id),
        "from": before,
        "to": status,
        "differences": list(found),
        "aspiration_id": None if aspiration is None else str(aspiration.id),
        "assessment_id": None if assessment is None else str(assessment.id),
    }
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type="alignment.changed",
        subject_type="alignment",
        subject_id=alignment.id,
        data=data,
        actor=principal,
    )
    if status == "gap":
        gap = {key: value for key, value in data.items() if key not in ("from", "to")}
        await events.record(
            session,
            tenant_id=principal.tenant_id,
            type="alignment.gap_detected",
            subject_type="alignment",
            subject_id=alignment.id,
            data=gap,
            actor=principal,
        )


async def _check_level(
    session: AsyncSession, principal: Principal, level_id: uuid.UUID | None
) -> None:
    await check_reference(
        session, CareerTrackLevel, principal.tenant_id, level_id, "/body/track_level_id"
    )


async def put_aspiration(
    session: AsyncSession, principal: Principal, slot: Slot, body: AspirationPut
) -> tuple[Aspiration, bool]:
    """A new aspiration version (``True``), or the current one when nothing changed;
    ``track_level_id`` a level of the tenant's career tracks (422)."""
    await _check_level(session, principal, body.track_level_id)
    return await _write(session, principal, slot, Aspiration, body.model_dump())


async def put_assessment(
    session: AsyncSession, principal: Principal, slot: Slot, body: AssessmentPut
) -> tuple[Assessment, bool]:
    """A new assessment version (``True``), or the current one when nothing changed;
    ``track_level_id`` a level of the tenant's career tracks (422)."""
    await _check_level(session, principal, body.track_level_id)
    return await _write(session, principal, slot, Assessment, body.model_dump())
