"""Agenda items: the talking points either party adds to a conversation, in order.

Positions are contiguous, ``0..n-1``: inserting, moving or deleting an item renumbers its
siblings. Every change locks the conversation row first (so concurrent edits of one agenda
serialise) and touches the conversation's ``updated_at`` (its ETag changes with its agenda).
After a conversation is completed only ``discussed``, ``notes``, ``external_id`` and
``metadata`` may change; a canceled conversation's agenda is frozen.

A person adds items as their author (a party) and only the author changes or deletes one.
A ``sealed`` item is seen by its author only (the platform never reads it) until the
conversation's preparation is revealed (``conversations.reveal``), and writes no event
while sealed: the reveal's ``conversation.preparation_revealed`` carries it; a sealed item
deleted before the reveal leaves no trace in events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.pagination import PageParams, keyset_by_position
from app.models.base import utcnow
from app.models.conversation import AgendaItem, Conversation
from app.schemas.conversations import AgendaItemCreate, AgendaItemRead, AgendaItemUpdate
from app.services import conversations, events, visibility
from app.services.common import (
    apply_changes,
    check_external_id_free,
    check_if_match,
    reject_nulls,
)
from app.services.conversations import ConversationClosed

MAX_AGENDA_ITEMS = 100
AFTER_COMPLETION = frozenset({"discussed", "notes", "external_id", "metadata"})
ALWAYS = frozenset({"external_id", "metadata"})


class PreparationRevealed(Conflict):
    """A sealed item added after the preparation was revealed (or is due to be)."""

    code, title = "preparation_revealed", "Preparation revealed"


async def _emit(session: AsyncSession, principal: Principal, type: str, item: AgendaItem) -> None:
    if item.visibility != "shared":
        return  # sealed items leave no trace in events or webhooks before the reveal
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="agenda_item",
        subject_id=item.id,
        data=AgendaItemRead.model_validate(item).model_dump(mode="json"),
        actor=principal,
    )


def _closed(conversation: Conversation, action: str) -> ConversationClosed:
    return ConversationClosed(
        f"Cannot {action} the agenda of a conversation whose status is '{conversation.status}'.",
        conversation.status,
    )


async def _siblings(session: AsyncSession, conversation_id: uuid.UUID) -> list[AgendaItem]:
    rows = await session.scalars(
        select(AgendaItem)
        .where(AgendaItem.conversation_id == conversation_id)
        .order_by(col(AgendaItem.position), col(AgendaItem.id))
    )
    return list(rows)


def _renumber(ordered: Sequence[AgendaItem], skip: AgendaItem | None = None) -> None:
    """Positions 0..n-1 in this order; renumbered siblings get a new ``updated_at`` (ETag)."""
    now = utcnow()
    for index, item in enumerate(ordered):
        if item.position != index:
            item.position = index
            if item is not skip:
                item.updated_at = now


def _touch(conversation: Conversation) -> None:
    conversation.updated_at = utcnow()


async def create(
    session: AsyncSession, principal: Principal, conversation: Conversation, body: AgendaItemCreate
) -> AgendaItem:
    """Insert at ``position`` (clamped to the end) or append; ``conversation`` is locked.
    A person adds items as their author, and only as a party (403)."""
    visibility.permit(
        principal, (body.author_id,), "A person adds agenda items as their author (author_id)."
    )
    conversations.permit_party(principal, conversation, "add agenda items to")
    if conversation.status in ("completed", "canceled"):
        raise _closed(conversation, "add to")
    if body.author_id not in (conversation.employee_id, conversation.facilitator_id):
        raise ValidationFailed.field(
            "/body/author_id",
            "Agenda items are added by the conversation's employee or facilitator.",
            "not_a_party",
        )
    if body.visibility == "sealed" and not conversations.sealing_open(conversation, utcnow()):
        raise PreparationRevealed(
            "The preparation of this conversation is revealed (both parties prepared or its "
            "start passed): add the item as shared."
        )
    await check_external_id_free(session, AgendaItem, principal.tenant_id, body.external_id)
    ordered = await _siblings(session, conversation.id)
    if len(ordered) >= MAX_AGENDA_ITEMS:
        raise Conflict(f"An agenda holds at most {MAX_AGENDA_ITEMS} items.")
    position = len(ordered) if body.position is None else min(body.position, len(ordered))
    item = AgendaItem(
        tenant_id=principal.tenant_id,
        conversation_id=conversation.id,
        metadata_=body.metadata,
        **body.model_dump(exclude={"metadata", "position"}),
        position=position,
    )
    ordered.insert(position, item)
    _renumber(ordered, skip=item)
    session.add(item)
    _touch(conversation)
    await session.flush()
    await _emit(session, principal, "agenda_item.created", item)
    return item


async def get(
    session: AsyncSession, principal: Principal, conversation: Conversation, item_id: uuid.UUID
) -> AgendaItem:
    """An item of this conversation; any other id (another conversation's item, or a sealed
    item of someone else) is 404."""
    item = await session.get(AgendaItem, item_id)
    if (
        item is None
        or item.conversation_id != conversation.id
        or (item.visibility != "shared" and item.author_id != principal.person_id)
    ):
        raise NotFound(f"No agenda item with id {item_id} on this conversation.")
    return item


async def get_for_write(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    item_id: uuid.UUID,
    if_match: str | None,
) -> tuple[Conversation, AgendaItem]:
    """The conversation and its item for a PATCH or DELETE of the item: the conversation is
    locked ``FOR UPDATE`` (every agenda write locks it: positions are renumbered across its
    items), the acting person its author (403), the item checked against ``If-Match`` (412)."""
    conversation = await conversations.get(session, principal, conversation_id, for_update=True)
    item = await get(session, principal, conversation, item_id)
    visibility.permit(principal, (item.author_id,), "Only its author changes an agenda item.")
    return conversation, check_if_match(if_match, item)


async def list_items(
    session: AsyncSession, principal: Principal, conversation: Conversation, params: PageParams
) -> Sequence[AgendaItem]:
    """Agenda order (``position`` ascending), keyset-paginated on ``(position, id)``: the
    shared items and the acting person's own sealed ones."""
    seen = col(AgendaItem.visibility) == "shared"
    if principal.person_id is not None:
        seen = sa.or_(seen, col(AgendaItem.author_id) == principal.person_id)
    stmt = select(AgendaItem).where(AgendaItem.conversation_id == conversation.id, seen)
    paged = keyset_by_position(stmt, col(AgendaItem.position), col(AgendaItem.id), params)
    return (await session.scalars(paged)).all()


async def update(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    item: AgendaItem,
    body: AgendaItemUpdate,
) -> AgendaItem:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, AgendaItemUpdate.non_null)
    allowed = {"completed": AFTER_COMPLETION, "canceled": ALWAYS}.get(conversation.status)
    if allowed is not None:
        for field, value in changes.items():
            current = getattr(item, "metadata_" if field == "metadata" else field)
            if field not in allowed and value != current:
                raise _closed(conversation, f"change {field} in")
    if "external_id" in changes:
        await check_external_id_free(
            session, AgendaItem, principal.tenant_id, changes["external_id"], exclude=item.id
        )
    position = changes.pop("position", None)
    changed = apply_changes(item, changes)
    if position is not None:
        ordered = [i for i in await _siblings(session, conversation.id) if i.id != item.id]
        target = min(position, len(ordered))
        if target != item.position:
            ordered.insert(target, item)
            _renumber(ordered, skip=item)
            item.updated_at = utcnow()
            changed = True
    if changed:
        _touch(conversation)
        await session.flush()
        await _emit(session, principal, "agenda_item.updated", item)
    return item


async def delete(
    session: AsyncSession, principal: Principal, conversation: Conversation, item: AgendaItem
) -> None:
    if conversation.status in ("completed", "canceled"):
        raise _closed(conversation, "remove from")
    await _emit(session, principal, "agenda_item.deleted", item)
    remaining = [i for i in await _siblings(session, conversation.id) if i.id != item.id]
    await session.delete(item)
    await session.flush()
    _renumber(remaining)
    _touch(conversation)
    await session.flush()
