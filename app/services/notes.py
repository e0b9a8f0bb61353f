"""Conversation notes: ``shared`` with both parties, or ``private`` to their author.

Notes follow their conversation (``conversations.get``: 404 unless the acting person sees
it). A private note is visible only when the acting person (``Acting-Person``) is its
author, never to the platform or anyone else, and answers 404 otherwise, exactly like a
missing note. A person writes notes as themselves, as a party of the conversation, and
changes or deletes only their own (403 ``not_permitted``). Private notes write no event at
all, so they never reach the event log or webhooks, and they are never part of a
conversation's payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.errors import NotFound, ValidationFailed
from app.core.pagination import PageParams, keyset
from app.models.conversation import Conversation, ConversationNote
from app.schemas.conversations import NoteCreate, NoteRead, NoteUpdate
from app.services import conversations, events, visibility
from app.services.common import (
    apply_changes,
    check_external_id_free,
    check_if_match,
    reject_nulls,
)


async def _emit(
    session: AsyncSession, principal: Principal, type: str, note: ConversationNote
) -> None:
    if note.visibility != "shared":
        return  # private notes leave no trace in events or webhooks
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="note",
        subject_id=note.id,
        data=NoteRead.model_validate(note).model_dump(mode="json"),
        actor=principal,
    )


async def create(
    session: AsyncSession, principal: Principal, conversation: Conversation, body: NoteCreate
) -> ConversationNote:
    parties = (conversation.employee_id, conversation.facilitator_id)
    visibility.permit(
        principal, parties, "Only the conversation's employee or facilitator writes its notes."
    )
    visibility.permit(principal, (body.author_id,), "A person writes notes as themselves only.")
    if body.author_id not in (conversation.employee_id, conversation.facilitator_id):
        raise ValidationFailed.field(
            "/body/author_id",
            "Notes are written by the conversation's employee or facilitator.",
            "not_a_party",
        )
    await check_external_id_free(session, ConversationNote, principal.tenant_id, body.external_id)
    note = ConversationNote(
        tenant_id=principal.tenant_id,
        conversation_id=conversation.id,
        metadata_=body.metadata,
        **body.model_dump(exclude={"metadata"}),
    )
    session.add(note)
    await session.flush()
    await _emit(session, principal, "note.created", note)
    return note


def _visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """Shared notes, and the acting person's own private ones (``visibility.AUTHORED``)."""
    shared = col(ConversationNote.visibility) == "shared"
    if principal.person_id is None:
        return shared
    return sa.or_(shared, col(ConversationNote.author_id) == principal.person_id)


async def get(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    note_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> ConversationNote:
    """A note of this (visible) conversation; a private note is 404 unless the acting
    person wrote it. Writes lock it (``for_update``) so the If-Match check sees the latest
    version."""
    note = await session.get(ConversationNote, note_id, with_for_update=for_update)
    if (
        note is None
        or note.conversation_id != conversation.id
        or (note.visibility == "private" and note.author_id != principal.person_id)
    ):
        raise NotFound(f"No note with id {note_id} on this conversation.")
    return note


async def get_for_write(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    note_id: uuid.UUID,
    if_match: str | None,
) -> ConversationNote:
    """The note for a PATCH or DELETE: loaded (404, like ``get``), locked ``FOR UPDATE``,
    its author's only (403 to another person) and checked against ``If-Match`` (412)."""
    conversation = await conversations.get(session, principal, conversation_id)
    note = await get(session, principal, conversation, note_id, for_update=True)
    visibility.permit(principal, (note.author_id,), "Only its author changes or deletes a note.")
    return check_if_match(if_match, note)


async def list_notes(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    params: PageParams,
    *,
    updated_since: datetime | None = None,
) -> Sequence[ConversationNote]:
    """Shared notes, plus the acting person's own private notes; newest first."""
    stmt = select(ConversationNote).where(
        ConversationNote.conversation_id == conversation.id, _visible_to(principal)
    )
    if updated_since is not None:
        stmt = stmt.where(ConversationNote.updated_at >= updated_since)
    return (
        await session.scalars(
            keyset(stmt, ConversationNote.created_at, ConversationNote.id, params)
        )
    ).all()


async def update(
    session: AsyncSession, principal: Principal, note: ConversationNote, body: NoteUpdate
) -> ConversationNote:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, NoteUpdate.non_null)
    if "external_id" in changes:
        await check_external_id_free(
            session, ConversationNote, principal.tenant_id, changes["external_id"], exclude=note.id
        )
    if apply_changes(note, changes):
        await session.flush()
        await _emit(session, principal, "note.updated", note)
    return note


async def delete(session: AsyncSession, principal: Principal, note: ConversationNote) -> None:
    await _emit(session, principal, "note.deleted", note)
    await session.delete(note)
    await session.flush()
