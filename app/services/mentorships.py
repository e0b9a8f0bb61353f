"""Mentorships: mentor-mentee pairings; at most one active pairing per (mentor, mentee)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import Conflict, InvalidTransition, ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape
from app.models.base import utcnow
from app.models.mentorship import Mentorship
from app.models.person import Person
from app.schemas.mentorships import (
    MentorshipCreate,
    MentorshipEnd,
    MentorshipRead,
    MentorshipUpdate,
)
from app.services import events, visibility
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    check_reference,
    get_owned,
    reject_nulls,
)

LABEL = "mentorship"


async def _emit(
    session: AsyncSession, principal: Principal, type: str, mentorship: Mentorship
) -> None:
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="mentorship",
        subject_id=mentorship.id,
        data=MentorshipRead.model_validate(mentorship).model_dump(mode="json"),
        actor=principal,
    )


async def create(session: AsyncSession, principal: Principal, body: MentorshipCreate) -> Mentorship:
    tenant_id = principal.tenant_id
    await check_reference(session, Person, tenant_id, body.mentor_id, "/body/mentor_id")
    await check_reference(session, Person, tenant_id, body.mentee_id, "/body/mentee_id")
    if body.mentor_id == body.mentee_id:
        raise ValidationFailed.field(
            "/body/mentee_id", "A person cannot mentor themselves.", "same_person"
        )
    await check_external_id_free(session, Mentorship, tenant_id, body.external_id)
    if body.status == "active":
        active = await session.scalar(
            select(col(Mentorship.id)).where(
                Mentorship.tenant_id == tenant_id,
                Mentorship.mentor_id == body.mentor_id,
                Mentorship.mentee_id == body.mentee_id,
                Mentorship.status == "active",
            )
        )
        if active is not None:
            raise Conflict(
                f"This mentor and mentee already have an active mentorship ({active}); "
                "end it before starting another.",
                extra={"conflicting_id": str(active)},
            )
    mentorship = Mentorship(
        tenant_id=tenant_id,
        metadata_=body.metadata,
        **body.model_dump(exclude={"metadata"}),
    )
    if mentorship.status == "ended":
        mentorship.ended_at = mentorship.created_at
    session.add(mentorship)
    await session.flush()
    await _emit(session, principal, "mentorship.created", mentorship)
    return mentorship


async def get(
    session: AsyncSession,
    principal: Principal,
    mentorship_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Mentorship:
    """The mentorship, if the acting person sees it (404 if missing, another tenant's or
    invisible); writes lock it."""
    mentorship = await get_owned(
        session, Mentorship, principal.tenant_id, mentorship_id, for_update=for_update
    )
    await visibility.require_visible(
        session, principal, visibility.MENTORSHIPS, mentorship_id, LABEL
    )
    return mentorship


async def get_for_write(
    session: AsyncSession, principal: Principal, mentorship_id: uuid.UUID, if_match: str | None
) -> Mentorship:
    """The mentorship for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE`` and checked
    against ``If-Match`` (412). Those routes are the platform's only (``PlatformWriteKey``)."""
    return check_if_match(if_match, await get(session, principal, mentorship_id, for_update=True))


READER = Reader(Mentorship, Shape(MentorshipRead), visible=visibility.MENTORSHIPS)


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    mentor_id: uuid.UUID | None = None,
    mentee_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    status: str | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of rows, newest first (one more than the limit): one statement."""
    where = READER.where(principal)
    where.filter("t.mentor_id = {}", mentor_id)
    where.filter("t.mentee_id = {}", mentee_id)
    where.filter("(t.mentor_id = {0} OR t.mentee_id = {0})", person_id)
    where.filter("t.status = {}", status)
    where.filter("t.updated_at >= {}", updated_since)
    return await READER.page(db, where, params, principal)


async def update(
    session: AsyncSession, principal: Principal, mentorship: Mentorship, body: MentorshipUpdate
) -> Mentorship:
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, MentorshipUpdate.non_null)
    if "external_id" in changes:
        await check_external_id_free(
            session, Mentorship, principal.tenant_id, changes["external_id"], exclude=mentorship.id
        )
    if apply_changes(mentorship, changes):
        await session.flush()
        await _emit(session, principal, "mentorship.updated", mentorship)
    return mentorship


async def end(
    session: AsyncSession, principal: Principal, mentorship: Mentorship, body: MentorshipEnd
) -> Mentorship:
    """End an active mentorship: the platform, the mentor or the mentee (403 for anyone
    else, before the state rule's 409)."""
    visibility.permit(
        principal,
        (mentorship.mentor_id, mentorship.mentee_id),
        "Only the mentor or the mentee ends a mentorship.",
    )
    if mentorship.status != "active":
        raise InvalidTransition(LABEL, mentorship.status, "end")
    now = utcnow()
    mentorship.status = "ended"
    mentorship.ended_at = now
    mentorship.end_reason = body.reason
    mentorship.updated_at = now
    await session.flush()
    await _emit(session, principal, "mentorship.ended", mentorship)
    return mentorship


async def delete(session: AsyncSession, principal: Principal, mentorship: Mentorship) -> None:
    await _emit(session, principal, "mentorship.deleted", mentorship)
    await session.delete(mentorship)
    await session.flush()
