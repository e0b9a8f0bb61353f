"""Action plans and their items: the steps that carry a goal or close a conversation.

A plan is read with its items in two queries (plan, items), and a page of plans in two
(plans, all their items). Items keep dense positions 0…n-1: inserting or moving one
renumbers its siblings. Every item change touches the plan's ``updated_at`` (the plan's
snapshot — items and completion — changed), without a plan event of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import Conflict, NotFound
from app.core.pagination import PageParams, keyset_by_position
from app.core.rows import Record, Shape
from app.models.action_plan import ActionItem, ActionPlan, ItemStatus
from app.models.base import sql_value, utcnow
from app.models.conversation import Conversation
from app.models.goal import Goal
from app.models.person import Person
from app.schemas.action_plans import (
    MAX_ITEMS_PER_PLAN,
    ActionItemCreate,
    ActionItemRead,
    ActionItemUpdate,
    ActionPlanCreate,
    ActionPlanRead,
    ActionPlanUpdate,
)
from app.services import events, visibility
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    check_reference,
    get_owned,
    has_references,
    reject_nulls,
)
from app.services.scheduling import Rule, not_fired

# ---------------------------------------------------------------------------- presenting


async def read(session: AsyncSession, plan: ActionPlan) -> ActionPlanRead:
    """The plan as the API shows it (items, completion), after the session's changes."""
    return ActionPlanRead.model_validate(await PLANS.reread(session, plan.id))


async def _emit_plan(
    session: AsyncSession, principal: Principal, type: str, plan: ActionPlan
) -> ActionPlanRead:
    data = await read(session, plan)
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="action_plan",
        subject_id=plan.id,
        data=data.model_dump(mode="json"),
        actor=principal,
    )
    return data


async def _emit_item(
    session: AsyncSession, principal: Principal, type: str, item: ActionItem
) -> None:
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="action_item",
        subject_id=item.id,
        data=ActionItemRead.model_validate(item).model_dump(mode="json"),
        actor=principal,
    )


async def item_snapshot(session: AsyncSession, ident: uuid.UUID) -> dict[str, Any]:
    """An item as the API returns it (the scheduler's ``action_item.overdue`` data)."""
    item = await session.get(ActionItem, ident)
    if item is None:
        raise NotFound(f"No action item with id {ident}.")
    return ActionItemRead.model_validate(item).model_dump(mode="json")


# ---------------------------------------------------------------------------------- plans


async def _check_plan_references(
    session: AsyncSession, principal: Principal, fields: dict[str, Any]
) -> None:
    """Body references exist in the tenant and, for a person, are ones they see (422)."""
    tenant_id = principal.tenant_id
    if "owner_id" in fields:
        await check_reference(session, Person, tenant_id, fields["owner_id"], "/body/owner_id")
    if "goal_id" in fields:
        await check_reference(session, Goal, tenant_id, fields["goal_id"], "/body/goal_id")
        await visibility.check_visible_reference(
            session, principal, visibility.GOALS, fields["goal_id"], "/body/goal_id", "goal"
        )
    if "conversation_id" in fields:
        await check_reference(
            session, Conversation, tenant_id, fields["conversation_id"], "/body/conversation_id"
        )
        await visibility.check_visible_reference(
            session,
            principal,
            visibility.CONVERSATIONS,
            fields["conversation_id"],
            "/body/conversation_id",
            "conversation",
        )


_PLAN_PARTIES = "the plan's owner, a manager of the owner or the facilitator of its conversation"
NOT_PERMITTED = f"Only {_PLAN_PARTIES} may change this action plan."
ITEM_NOT_PERMITTED = f"Only {_PLAN_PARTIES}, or its assignee, may change this action item."


async def _permit_plan(
    session: AsyncSession,
    principal: Principal,
    owner_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    assignee_id: uuid.UUID | None = None,
) -> None:
    """403 unless the platform acts or the acting person is the owner, a manager of the
    owner, the facilitator of the plan's conversation (or ``assignee_id``)."""
    if principal.person_id is None or principal.person_id in (owner_id, assignee_id):
        return
    facilitator = None
    if conversation_id is not None:
        facilitator = await session.scalar(
            select(col(Conversation.facilitator_id)).where(col(Conversation.id) == conversation_id)
        )
    detail = NOT_PERMITTED if assignee_id is None else ITEM_NOT_PERMITTED
    await visibility.permit_or_manager(session, principal, (facilitator,), owner_id, detail)


async def create(
    session: AsyncSession, principal: Principal, body: ActionPlanCreate
) -> ActionPlanRead:
    """A person may create a plan they own, one for someone they manage, or one closing a
    conversation they facilitate (403 otherwise)."""
    tenant_id = principal.tenant_id
    fields = body.model_dump(exclude={"metadata"})
    await _check_plan_references(session, principal, fields)
    await _permit_plan(session, principal, body.owner_id, body.conversation_id)
    await check_external_id_free(session, ActionPlan, tenant_id, body.external_id)
    plan = ActionPlan(tenant_id=tenant_id, metadata_=body.metadata, **fields)
    plan.updated_at = plan.created_at
    session.add(plan)
    await session.flush()
    return await _emit_plan(session, principal, "action_plan.created", plan)


async def get(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, *, for_update: bool = False
) -> ActionPlan:
    """The plan, if the acting person sees it (404 if missing, another tenant's or
    invisible); writes lock it."""
    plan = await get_owned(session, ActionPlan, principal.tenant_id, plan_id, for_update=for_update)
    await visibility.require_visible(
        session, principal, visibility.ACTION_PLANS, plan_id, "action plan"
    )
    return plan


async def get_for_change(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID
) -> ActionPlan:
    """The plan, to change it or add an item: loaded (404), locked ``FOR UPDATE``, and the
    acting person one who may change it (403)."""
    plan = await get(session, principal, plan_id, for_update=True)
    await _permit_plan(session, principal, plan.owner_id, plan.conversation_id)
    return plan


async def get_for_write(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, if_match: str | None
) -> ActionPlan:
    """The plan for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE``, the acting
    person allowed to change it (403) and checked against ``If-Match`` (412)."""
    return check_if_match(if_match, await get_for_change(session, principal, plan_id))


ITEMS = Reader(ActionItem, Shape(ActionItemRead), visible=visibility.ACTION_ITEMS)


def _completion(row: Record) -> dict[str, Any]:
    items = row["plan_items"]
    done = sum(1 for i in items if i["status"] == "done")
    total = len(items)
    return {"done": done, "total": total, "ratio": round(done / total, 4) if total else 0.0}


PLANS = Reader(
    ActionPlan,
    Shape(
        ActionPlanRead,
        items=lambda row: ITEMS.shape.many(row["plan_items"]),
        completion=_completion,
    ),
    extra=", ARRAY(SELECT i FROM action_items i WHERE i.plan_id = t.id "
    "ORDER BY i.position, i.id) AS plan_items",
    visible=visibility.ACTION_PLANS,
)


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    owner_id: uuid.UUID | None = None,
    goal_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
    status: str | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of plans with their items, newest first: one statement."""
    where = PLANS.where(principal)
    where.filter("t.owner_id = {}", owner_id)
    where.filter("t.goal_id = {}", goal_id)
    where.filter("t.conversation_id = {}", conversation_id)
    where.filter("t.status = {}", status)
    where.filter("t.updated_at >= {}", updated_since)
    return await PLANS.page(db, where, params, principal)


async def update(
    session: AsyncSession, principal: Principal, plan: ActionPlan, body: ActionPlanUpdate
) -> ActionPlanRead:
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, ActionPlanUpdate.non_null)
    if "external_id" in changes:
        await check_external_id_free(
            session, ActionPlan, principal.tenant_id, changes["external_id"], exclude=plan.id
        )
    await _check_plan_references(session, principal, changes)
    if "owner_id" in changes or "conversation_id" in changes:
        # A person may only move the plan to one they could have created.
        await _permit_plan(
            session,
            principal,
            changes.get("owner_id", plan.owner_id),
            changes.get("conversation_id", plan.conversation_id),
        )
    if apply_changes(plan, changes):
        await session.flush()
        return await _emit_plan(session, principal, "action_plan.updated", plan)
    return await read(session, plan)


async def delete(session: AsyncSession, principal: Principal, plan: ActionPlan) -> None:
    """Delete a plan and its items (one ``action_plan.deleted`` event carries them)."""
    data = await read(session, plan)
    await session.execute(sa.delete(ActionItem).where(col(ActionItem.plan_id) == plan.id))
    if await has_references(session, "action_plans", plan.id):
        raise Conflict("Other records refer to this action plan; archive it instead.")
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type="action_plan.deleted",
        subject_type="action_plan",
        subject_id=plan.id,
        data=data.model_dump(mode="json"),
        actor=principal,
    )
    await session.delete(plan)
    await session.flush()


# ---------------------------------------------------------------------------------- items


async def _siblings(session: AsyncSession, plan_id: uuid.UUID) -> list[ActionItem]:
    rows = await session.scalars(
        select(ActionItem)
        .where(ActionItem.plan_id == plan_id)
        .order_by(col(ActionItem.position), col(ActionItem.id))
    )
    return list(rows.all())


def _renumber(items: Sequence[ActionItem], moved: ActionItem, now: datetime) -> None:
    """Dense positions 0…n-1; siblings whose position changes get a new ``updated_at``."""
    for index, item in enumerate(items):
        if item.position != index:
            item.position = index
            if item is not moved:
                item.updated_at = now


def _set_status(item: ActionItem, status: str, now: datetime) -> None:
    if status == "done" and item.status != "done":
        item.completed_at = now
    elif status != "done":
        item.completed_at = None
    item.status = status


async def create_item(
    session: AsyncSession, principal: Principal, plan: ActionPlan, body: ActionItemCreate
) -> ActionItem:
    """Add an item at ``position`` (default: the end). ``plan`` is locked by the caller."""
    tenant_id = principal.tenant_id
    await check_external_id_free(session, ActionItem, tenant_id, body.external_id)
    await check_reference(session, Person, tenant_id, body.assignee_id, "/body/assignee_id")
    siblings = await _siblings(session, plan.id)
    if len(siblings) >= MAX_ITEMS_PER_PLAN:
        raise Conflict(f"An action plan holds at most {MAX_ITEMS_PER_PLAN} items.")
    fields = body.model_dump(exclude={"metadata", "position", "status"})
    item = ActionItem(tenant_id=tenant_id, plan_id=plan.id, metadata_=body.metadata, **fields)
    now = item.updated_at = item.created_at
    _set_status(item, body.status, now)
    index = len(siblings) if body.position is None else min(body.position, len(siblings))
    item.position = index
    siblings.insert(index, item)
    _renumber(siblings, item, now)
    session.add(item)
    plan.updated_at = now
    await session.flush()
    await _emit_item(session, principal, "action_item.created", item)
    return item


async def get_item(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    plan: ActionPlan,
    item_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> ActionItem:
    item = await get_owned(session, ActionItem, tenant_id, item_id, for_update=for_update)
    if item.plan_id != plan.id:
        raise NotFound(f"No action item with id {item_id} in action plan {plan.id}.")
    return item


async def get_item_for_write(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    item_id: uuid.UUID,
    if_match: str | None,
    *,
    assignee_may: bool,
) -> tuple[ActionPlan, ActionItem]:
    """The plan and its item for a PATCH or DELETE of the item: both locked ``FOR UPDATE``
    (plan first, like every item write; 404 unless the acting person sees the plan), the
    acting person one who may change the plan, or (``assignee_may``) the item's assignee
    (403), then the item checked against ``If-Match`` (412)."""
    plan = await get(session, principal, plan_id, for_update=True)
    item = await get_item(session, principal.tenant_id, plan, item_id, for_update=True)
    await _permit_plan(
        session,
        principal,
        plan.owner_id,
        plan.conversation_id,
        item.assignee_id if assignee_may else None,
    )
    return plan, check_if_match(if_match, item)


async def list_items(
    session: AsyncSession,
    plan: ActionPlan,
    params: PageParams,
    *,
    status: str | None = None,
    assignee_id: uuid.UUID | None = None,
) -> Sequence[ActionItem]:
    """A plan's items by position (one extra row tells whether there are more)."""
    stmt = select(ActionItem).where(ActionItem.plan_id == plan.id)
    if status is not None:
        stmt = stmt.where(ActionItem.status == status)
    if assignee_id is not None:
        stmt = stmt.where(ActionItem.assignee_id == assignee_id)
    paged = keyset_by_position(stmt, col(ActionItem.position), col(ActionItem.id), params)
    return (await session.scalars(paged)).all()


_ITEM_IN_PLAN = (
    "SELECT EXISTS (SELECT FROM action_plans t WHERE t.id = $1 AND t.tenant_id = $3{visible}) "
    "AS plan_found, t.* FROM (SELECT) AS one LEFT JOIN action_items t ON t.id = $2 "
    "AND t.tenant_id = $3"
)


def _item_in_plan(principal: Principal) -> str:
    condition = visibility.ACTION_PLANS.condition(principal.reports)
    if principal.person_id is None or condition is None:
        return _ITEM_IN_PLAN.format(visible="")
    return _ITEM_IN_PLAN.format(visible=" AND " + condition.format("$4", "$3"))


async def fetch_item(
    db: RequestDb, principal: Principal, plan_id: uuid.UUID, item_id: uuid.UUID
) -> asyncpg.Record:
    """An item of a plan the acting person sees, in one statement; the same 404s as
    ``get`` then ``get_item`` (an item is visible with its plan)."""
    args = [plan_id, item_id, principal.tenant_id]
    if principal.person_id is not None:
        args.append(principal.person_id)
    row = await (await db.raw()).fetchrow(_item_in_plan(principal), *args)
    assert row is not None
    if not row["plan_found"]:
        raise NotFound(f"No action plan with id {plan_id}.")
    if row["id"] is None:
        raise NotFound(f"No action item with id {item_id}.")
    if row["plan_id"] != plan_id:
        raise NotFound(f"No action item with id {item_id} in action plan {plan_id}.")
    return row


async def fetch_all_items(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    assignee_id: uuid.UUID | None = None,
    status: str | None = None,
    due_before: date | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """Items across plans, newest first: "what does this person owe"; one statement."""
    where = ITEMS.where(principal)
    where.filter("t.assignee_id = {}", assignee_id)
    where.filter("t.status = {}", status)
    where.filter("t.due_date < {}", due_before)
    where.filter("t.updated_at >= {}", updated_since)
    return await ITEMS.page(db, where, params, principal)


async def reassign_item(
    session: AsyncSession, principal: Principal, item: ActionItem, to: uuid.UUID
) -> None:
    """A re-org moves an open action item to the plan owner's new manager
    (``action_item.updated``)."""
    item.assignee_id = to
    item.updated_at = utcnow()
    await session.flush()
    await _emit_item(session, principal, "action_item.updated", item)


async def update_item(
    session: AsyncSession,
    principal: Principal,
    plan: ActionPlan,
    item: ActionItem,
    body: ActionItemUpdate,
) -> ActionItem:
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, ActionItemUpdate.non_null)
    if "external_id" in changes:
        await check_external_id_free(
            session, ActionItem, principal.tenant_id, changes["external_id"], exclude=item.id
        )
    if "assignee_id" in changes:
        await check_reference(
            session, Person, principal.tenant_id, changes["assignee_id"], "/body/assignee_id"
        )
    completed = changes.get("status") == "done" and item.status != "done"
    now = utcnow()
    changed = False
    if "status" in changes and changes["status"] != item.status:
        _set_status(item, changes.pop("status"), now)
        changed = True
    changes.pop("status", None)
    if "position" in changes:
        wanted = changes.pop("position")
        siblings = [s for s in await _siblings(session, plan.id) if s.id != item.id]
        index = min(wanted, len(siblings))
        if index != item.position:
            siblings.insert(index, item)
            _renumber(siblings, item, now)
            changed = True
    changed = apply_changes(item, changes) or changed
    if changed:
        item.updated_at = plan.updated_at = now
        await session.flush()
        await _emit_item(
            session,
            principal,
            "action_item.completed" if completed else "action_item.updated",
            item,
        )
    return item


async def delete_item(
    session: AsyncSession, principal: Principal, plan: ActionPlan, item: ActionItem
) -> None:
    await _emit_item(session, principal, "action_item.deleted", item)
    siblings = [s for s in await _siblings(session, plan.id) if s.id != item.id]
    await session.delete(item)
    now = utcnow()
    _renumber(siblings, item, now)
    plan.updated_at = now
    await session.flush()


# Time-driven events (run by app/background/scheduler.py): an action item not done is
# overdue once its due date has ended (UTC); the key is that moment.
_ITEM_DUE = "(i.due_date + 1)::timestamp AT TIME ZONE 'UTC'"
SCHEDULED: tuple[Rule, ...] = (
    Rule(
        "action_item.overdue",
        "action_item",
        # B608: built from constants; values are bind parameters
        f"SELECT i.tenant_id, i.id, {_ITEM_DUE} AS due FROM action_items i "  # nosec B608
        f"WHERE i.status <> {sql_value(ItemStatus, 'done')} AND i.due_date IS NOT NULL "
        f"AND {_ITEM_DUE} <= :now AND {not_fired('i', _ITEM_DUE, 'action_item.overdue')} "
        "ORDER BY i.due_date LIMIT :limit",
        item_snapshot,
    ),
)
