"""Goals: proposed by or for an employee, agreed by both parties, worked on, achieved.

Rules (the integrator's side: openapi.md, section "Goals"):
- Agreement needs both the employee (the owner) and a facilitator: the owner's manager,
  the facilitator of a conversation the goal is linked to, or the owner's active mentor.
  The goal becomes ``agreed`` when the second party agrees.
- Changing what was agreed to (title, description, success criteria, target date) while
  the goal is still ``proposed`` clears any agreement already given. Once agreed, those
  fields may still be edited without resetting the agreement.
- Setting progress above 0 on an ``agreed`` goal starts it (``in_progress``).
- ``achieved`` and ``abandoned`` are final: only ``external_id``, ``metadata`` and the linked
  conversations may change.
- A person acting (``Acting-Person``) sees a goal per ``visibility.GOALS`` (404 otherwise);
  the owner, a manager of the owner or the facilitator who agreed may change it (403
  otherwise, before any 409 or 412); ``agree`` records the acting person's own side.
- Each request writes one event, the most specific one (``goal.started`` rather than
  ``goal.updated`` when a progress update starts the goal); its data is the whole goal.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    NotPermitted,
    ValidationFailed,
)
from app.core.pagination import PageParams
from app.core.rows import Record, Shape
from app.models.base import utcnow
from app.models.conversation import Conversation
from app.models.goal import Goal, GoalConversation
from app.models.mentorship import Mentorship
from app.models.person import Person
from app.schemas.goals import (
    MAX_GOAL_CONVERSATIONS,
    GoalAgree,
    GoalCreate,
    GoalRead,
    GoalUpdate,
)
from app.services import career_framework, events, visibility
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    check_reference,
    get_owned,
    has_references,
    in_ids,
    reject_nulls,
    touch,
)

FINAL = ("achieved", "abandoned")
# What both parties agreed to: editing these on a proposed goal clears the agreement.
MATERIAL_FIELDS = ("title", "description", "success_criteria", "target_date")
# What a final (achieved or abandoned) goal still lets you change.
EDITABLE_WHEN_FINAL = ("external_id", "metadata", "conversation_ids", "competency_ids")


async def _links(
    session: AsyncSession, goal_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The linked conversation ids of many goals, in one query."""
    out: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if not goal_ids:
        return out
    rows = await session.execute(
        select(col(GoalConversation.goal_id), col(GoalConversation.conversation_id))
        .where(in_ids(col(GoalConversation.goal_id), goal_ids))
        .order_by(col(GoalConversation.created_at), col(GoalConversation.conversation_id))
    )
    for goal_id, conversation_id in rows:
        out[goal_id].append(conversation_id)
    return out


def _agreement(row: Record) -> dict[str, Any]:
    return {
        "employee_agreed_at": row["employee_agreed_at"],
        "facilitator_agreed_at": row["facilitator_agreed_at"],
        "facilitator_id": row["facilitator_agreed_by"],
    }


READER = Reader(
    Goal,
    Shape(GoalRead, conversation_ids=lambda row: row["links"], agreement=_agreement),
    extra=", ARRAY(SELECT l.conversation_id FROM goal_conversations l WHERE l.goal_id = t.id "
    "ORDER BY l.created_at, l.conversation_id) AS links",
    visible=visibility.GOALS,
)


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    owner_id: uuid.UUID | None = None,
    status: str | None = None,
    category: str | None = None,
    conversation_id: uuid.UUID | None = None,
    competency_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of goal rows with their links, newest first: one statement."""
    where = READER.where(principal)
    where.filter("t.owner_id = {}", owner_id)
    where.filter("t.status = {}", status)
    where.filter("t.category = {}", category)
    where.filter(
        "t.id IN (SELECT goal_id FROM goal_conversations WHERE conversation_id = {} "
        "AND tenant_id = t.tenant_id)",
        conversation_id,
    )
    where.filter("t.competency_ids @> ARRAY[{}::uuid]", competency_id)
    where.filter("t.updated_at >= {}", updated_since)
    return await READER.page(db, where, params, principal)


async def read(session: AsyncSession, goal: Goal) -> GoalRead:
    """The goal as the API shows it, after the session's changes."""
    return GoalRead.model_validate(await READER.reread(session, goal.id))


async def _emit(session: AsyncSession, principal: Principal, type: str, goal: Goal) -> GoalRead:
    data = await read(session, goal)
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="goal",
        subject_id=goal.id,
        data=data.model_dump(mode="json"),
        actor=principal,
    )
    return data


async def _check_conversations(
    session: AsyncSession,
    principal: Principal,
    owner_id: uuid.UUID,
    conversation_ids: Sequence[uuid.UUID],
    pointer: str,
    *,
    indexed: bool = True,
    linked: Sequence[uuid.UUID] = (),
) -> list[uuid.UUID]:
    """Each id is a conversation of the tenant whose employee is the goal's owner and, unless
    already ``linked``, one the acting person sees (422 on ``pointer/<index>`` otherwise).
    Returns the ids without duplicates, in order."""
    if not conversation_ids:
        return []
    rows = await session.execute(
        select(col(Conversation.id), col(Conversation.employee_id)).where(
            col(Conversation.id).in_(set(conversation_ids)),
            Conversation.tenant_id == principal.tenant_id,
        )
    )
    employee_of = {cid: employee for cid, employee in rows}
    new = [cid for cid in employee_of if cid not in linked]
    hidden = set(new) - await visibility.visible_among(
        session, principal, visibility.CONVERSATIONS, new
    )
    for index, cid in enumerate(conversation_ids):
        where = f"{pointer}/{index}" if indexed else pointer
        if cid not in employee_of or cid in hidden:
            raise ValidationFailed.field(
                where, f"No conversation with id {cid} in this tenant.", "unknown_reference"
            )
        if employee_of[cid] != owner_id:
            raise ValidationFailed.field(
                where,
                f"Conversation {cid} is not with the goal's owner: a goal may only be linked "
                "to conversations whose employee owns it.",
                "not_owners_conversation",
            )
    return list(dict.fromkeys(conversation_ids))


async def _replace_links(
    session: AsyncSession, goal: Goal, wanted: list[uuid.UUID], current: list[uuid.UUID]
) -> bool:
    removed = [c for c in current if c not in wanted]
    added = [c for c in wanted if c not in current]
    if removed:
        await session.execute(
            sa.delete(GoalConversation).where(
                col(GoalConversation.goal_id) == goal.id,
                col(GoalConversation.conversation_id).in_(removed),
            )
        )
    for cid in added:
        session.add(
            GoalConversation(goal_id=goal.id, conversation_id=cid, tenant_id=goal.tenant_id)
        )
    return bool(removed or added)


async def create(session: AsyncSession, principal: Principal, body: GoalCreate) -> GoalRead:
    """A person may propose a goal they own, or one for someone they manage (403 otherwise)."""
    tenant_id = principal.tenant_id
    await check_reference(session, Person, tenant_id, body.owner_id, "/body/owner_id")
    await visibility.permit_or_manager(
        session,
        principal,
        (body.owner_id,),
        body.owner_id,
        "A goal is proposed by its owner or by a manager of the owner.",
    )
    await check_external_id_free(session, Goal, tenant_id, body.external_id)
    conversation_ids = await _check_conversations(
        session, principal, body.owner_id, body.conversation_ids, "/body/conversation_ids"
    )
    competency_ids = await career_framework.check_competencies(
        session, tenant_id, body.competency_ids, "/body/competency_ids"
    )
    fields = body.model_dump(exclude={"metadata", "conversation_ids", "competency_ids"})
    goal = Goal(
        tenant_id=tenant_id, metadata_=body.metadata, competency_ids=competency_ids, **fields
    )
    goal.updated_at = goal.created_at
    session.add(goal)
    await session.flush()
    await _replace_links(session, goal, conversation_ids, [])
    await session.flush()
    return await _emit(session, principal, "goal.created", goal)


async def get(
    session: AsyncSession, principal: Principal, goal_id: uuid.UUID, *, for_update: bool = False
) -> Goal:
    """The goal, if the acting person sees it (404 if missing, another tenant's or
    invisible); writes lock it."""
    goal = await get_owned(session, Goal, principal.tenant_id, goal_id, for_update=for_update)
    await visibility.require_visible(session, principal, visibility.GOALS, goal_id, "goal")
    return goal


NOT_PERMITTED = (
    "Only the goal's owner, a manager of the owner or the facilitator who agreed may change "
    "this goal."
)


async def get_for_change(session: AsyncSession, principal: Principal, goal_id: uuid.UUID) -> Goal:
    """The goal for an action (``start``, ``achieve``, ``abandon``): loaded (404), locked
    ``FOR UPDATE``, and the acting person one who may change it (403)."""
    goal = await get(session, principal, goal_id, for_update=True)
    await visibility.permit_or_manager(
        session,
        principal,
        (goal.owner_id, goal.facilitator_agreed_by),
        goal.owner_id,
        NOT_PERMITTED,
    )
    return goal


async def get_for_write(
    session: AsyncSession, principal: Principal, goal_id: uuid.UUID, if_match: str | None
) -> Goal:
    """The goal for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE``, the acting person
    allowed to change it (403) and checked against ``If-Match`` (412)."""
    return check_if_match(if_match, await get_for_change(session, principal, goal_id))


async def update(
    session: AsyncSession, principal: Principal, goal: Goal, body: GoalUpdate
) -> GoalRead:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, GoalUpdate.non_null)
    wanted_links = changes.pop("conversation_ids", None)
    if changes.get("competency_ids") is not None:
        changes["competency_ids"] = await career_framework.check_competencies(
            session, principal.tenant_id, changes["competency_ids"], "/body/competency_ids"
        )
    changed_fields = {
        f: v
        for f, v in changes.items()
        if getattr(goal, "metadata_" if f == "metadata" else f) != v
    }
    if goal.status in FINAL:
        frozen = sorted(f for f in changed_fields if f not in EDITABLE_WHEN_FINAL)
        if frozen:
            raise InvalidTransition("goal", goal.status, f"edit {', '.join(frozen)} of")
    if "external_id" in changed_fields:
        await check_external_id_free(
            session, Goal, principal.tenant_id, changes["external_id"], exclude=goal.id
        )
    links_changed = False
    if wanted_links is not None:
        current = (await _links(session, [goal.id])).get(goal.id, [])
        wanted = await _check_conversations(
            session,
            principal,
            goal.owner_id,
            wanted_links,
            "/body/conversation_ids",
            linked=current,
        )
        # A person replaces the links among the conversations they see; the others stay.
        seen = await visibility.visible_among(session, principal, visibility.CONVERSATIONS, current)
        wanted += [c for c in current if c not in seen and c not in wanted]
        links_changed = await _replace_links(session, goal, wanted, current)

    event = "goal.updated"
    if goal.status == "proposed" and any(f in changed_fields for f in MATERIAL_FIELDS):
        _clear_agreement(goal)
    if goal.status == "agreed" and changed_fields.get("progress", 0) > 0:
        goal.status = "in_progress"
        event = "goal.started"
    changed = apply_changes(goal, changes)
    if links_changed and not changed:
        touch(goal)
    if changed or links_changed:
        await session.flush()
        return await _emit(session, principal, event, goal)
    return await read(session, goal)


def _clear_agreement(goal: Goal) -> None:
    goal.employee_agreed_at = None
    goal.facilitator_agreed_at = None
    goal.facilitator_agreed_by = None


async def link_conversation(
    session: AsyncSession, principal: Principal, goal: Goal, conversation_id: uuid.UUID
) -> GoalRead:
    """Add one conversation to the goal's links; linking it again changes nothing."""
    current = (await _links(session, [goal.id])).get(goal.id, [])
    await _check_conversations(
        session,
        principal,
        goal.owner_id,
        [conversation_id],
        "/body/conversation_id",
        indexed=False,
        linked=current,
    )
    if conversation_id in current:
        return await read(session, goal)
    if len(current) >= MAX_GOAL_CONVERSATIONS:
        raise ValidationFailed.field(
            "/body/conversation_id",
            f"A goal links to at most {MAX_GOAL_CONVERSATIONS} conversations.",
            "too_many",
        )
    await _replace_links(session, goal, [*current, conversation_id], current)
    touch(goal)
    await session.flush()
    return await _emit(session, principal, "goal.updated", goal)


async def unlink_conversation(
    session: AsyncSession, principal: Principal, goal: Goal, conversation_id: uuid.UUID
) -> None:
    """Remove one link (404 if not linked, or if the acting person does not see that
    conversation)."""
    current = (await _links(session, [goal.id])).get(goal.id, [])
    if conversation_id not in current or not await visibility.visible_among(
        session, principal, visibility.CONVERSATIONS, [conversation_id]
    ):
        raise NotFound(f"Goal {goal.id} is not linked to conversation {conversation_id}.")
    await _replace_links(session, goal, [c for c in current if c != conversation_id], current)
    touch(goal)
    await session.flush()
    await _emit(session, principal, "goal.updated", goal)


async def _may_facilitate(session: AsyncSession, goal: Goal, person_id: uuid.UUID) -> bool:
    """The owner's manager, a linked conversation's facilitator, or an active mentor."""
    owner = await session.get(Person, goal.owner_id)
    assert owner is not None
    if owner.manager_id == person_id:
        return True
    via_conversation = sa.exists().where(
        col(GoalConversation.goal_id) == goal.id,
        col(Conversation.id) == col(GoalConversation.conversation_id),
        col(Conversation.facilitator_id) == person_id,
    )
    via_mentorship = sa.exists().where(
        col(Mentorship.tenant_id) == goal.tenant_id,
        col(Mentorship.mentee_id) == goal.owner_id,
        col(Mentorship.mentor_id) == person_id,
        col(Mentorship.status) == "active",
    )
    return bool(await session.scalar(sa.select(sa.or_(via_conversation, via_mentorship))))


_FACILITATORS = (
    "the owner's manager, the facilitator of a conversation linked to the goal, or the "
    "owner's mentor in an active mentorship"
)


async def _platform_side(
    session: AsyncSession, principal: Principal, goal: Goal, body: GoalAgree
) -> tuple[str, uuid.UUID]:
    """The platform names the party and the person (422 if either is missing or cannot
    agree so); a goal no longer ``proposed`` is a 409 once both are given."""
    missing = [name for name in ("party", "person_id") if getattr(body, name) is None]
    if missing:
        raise ValidationFailed(
            f"{len(missing)} field(s) failed validation.",
            errors=[
                FieldError(
                    pointer=f"/body/{name}",
                    detail="Field required (optional only with Acting-Person).",
                    code="required_as_platform",
                )
                for name in missing
            ],
        )
    assert body.party is not None and body.person_id is not None
    if goal.status != "proposed":
        raise InvalidTransition("goal", goal.status, "agree to")
    await check_reference(session, Person, principal.tenant_id, body.person_id, "/body/person_id")
    person_id = body.person_id
    if body.party == "employee":
        if person_id != goal.owner_id:
            raise ValidationFailed.field(
                "/body/person_id",
                "Only the goal's owner can agree as the employee.",
                "not_allowed_to_agree",
            )
    elif person_id == goal.owner_id:
        raise ValidationFailed.field(
            "/body/person_id",
            "The goal's owner cannot also agree as the facilitator.",
            "not_allowed_to_agree",
        )
    elif not await _may_facilitate(session, goal, person_id):
        raise ValidationFailed.field(
            "/body/person_id",
            f"A facilitator agreeing to a goal must be {_FACILITATORS}.",
            "not_allowed_to_agree",
        )
    return body.party, person_id


async def _person_side(
    session: AsyncSession, principal: Principal, goal: Goal, body: GoalAgree
) -> tuple[str, uuid.UUID]:
    """The acting person's own side: the employee's if they own the goal, the facilitator's
    if they are a manager of the owner (per setting), the facilitator of a linked
    conversation or the owner's active mentor; 403 for anyone else, and for a body naming
    another person or a side that is not theirs (before the 409 of a goal not proposed)."""
    person_id = principal.person_id
    assert person_id is not None
    if body.person_id is not None and body.person_id != person_id:
        raise NotPermitted(
            "A person agrees for themselves only: leave out person_id or send your own id."
        )
    owner = person_id == goal.owner_id
    party = body.party or ("employee" if owner else "facilitator")
    if party == "employee" and not owner:
        raise NotPermitted("Only the goal's owner can agree as the employee.")
    if party == "facilitator":
        if owner:
            raise NotPermitted("The goal's owner cannot also agree as the facilitator.")
        if not (
            await visibility.manages(session, principal, goal.owner_id)
            or await _may_facilitate(session, goal, person_id)
        ):
            raise NotPermitted(
                f"Only the goal's owner, or {_FACILITATORS}, may agree to this goal."
            )
    if goal.status != "proposed":
        raise InvalidTransition("goal", goal.status, "agree to")
    return party, person_id


async def agree(
    session: AsyncSession, principal: Principal, goal: Goal, body: GoalAgree | None
) -> GoalRead:
    """Record one side's agreement: the platform names it (``party``, ``person_id``); a
    person records their own."""
    body = body or GoalAgree()
    if principal.person_id is None:
        party, person_id = await _platform_side(session, principal, goal, body)
    else:
        party, person_id = await _person_side(session, principal, goal, body)
    now = utcnow()
    if party == "employee":
        if goal.employee_agreed_at is not None:
            return await read(session, goal)
        goal.employee_agreed_at = now
    else:
        if goal.facilitator_agreed_at is not None:
            return await read(session, goal)
        goal.facilitator_agreed_at = now
        goal.facilitator_agreed_by = person_id
    event = "goal.updated"
    if goal.employee_agreed_at is not None and goal.facilitator_agreed_at is not None:
        goal.status = "agreed"
        event = "goal.agreed"
    goal.updated_at = now
    await session.flush()
    return await _emit(session, principal, event, goal)


async def start(session: AsyncSession, principal: Principal, goal: Goal) -> GoalRead:
    if goal.status != "agreed":
        raise InvalidTransition("goal", goal.status, "start")
    goal.status = "in_progress"
    touch(goal)
    await session.flush()
    return await _emit(session, principal, "goal.started", goal)


async def achieve(session: AsyncSession, principal: Principal, goal: Goal) -> GoalRead:
    if goal.status not in ("agreed", "in_progress"):
        raise InvalidTransition("goal", goal.status, "achieve")
    now = utcnow()
    goal.status = "achieved"
    goal.progress = 100
    goal.achieved_at = now
    goal.updated_at = now
    await session.flush()
    return await _emit(session, principal, "goal.achieved", goal)


async def abandon(
    session: AsyncSession, principal: Principal, goal: Goal, reason: str | None
) -> GoalRead:
    if goal.status in FINAL:
        raise InvalidTransition("goal", goal.status, "abandon")
    now = utcnow()
    goal.status = "abandoned"
    goal.abandoned_at = now
    goal.abandon_reason = reason
    goal.updated_at = now
    await session.flush()
    return await _emit(session, principal, "goal.abandoned", goal)


async def delete(session: AsyncSession, principal: Principal, goal: Goal) -> None:
    """Delete a goal nothing else refers to; its conversation links go with it."""
    data = await read(session, goal)
    # The links are the goal's own rows (they cascade): drop them before looking for others.
    await session.execute(
        sa.delete(GoalConversation).where(col(GoalConversation.goal_id) == goal.id)
    )
    if await has_references(session, "goals", goal.id):
        raise Conflict(
            "This goal is referenced by an action plan, feedback or a feedback request; "
            "abandon it instead, or remove those references first."
        )
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type="goal.deleted",
        subject_type="goal",
        subject_id=goal.id,
        data=data.model_dump(mode="json"),
        actor=principal,
    )
    await session.delete(goal)
    await session.flush()
