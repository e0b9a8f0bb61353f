"""People: the employees, managers and mentors conversations are about."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import Conflict, ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape
from app.models.base import utcnow
from app.models.conversation import ConversationNote
from app.models.event import Event
from app.models.person import Person
from app.models.person_session import PersonSession
from app.schemas.people import PersonCreate, PersonRead, PersonUpdate, PersonUpsert
from app.services import events, visibility, webhooks
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

ERASED_NAME = "Erased person"


async def _emit(session: AsyncSession, principal: Principal, type: str, person: Person) -> None:
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="person",
        subject_id=person.id,
        data=PersonRead.model_validate(person).model_dump(mode="json"),
        actor=principal,
    )


async def _check_manager(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, manager_id: uuid.UUID | None
) -> None:
    """The manager exists in the tenant, and the chain above them never reaches the person."""
    if manager_id is None:
        return
    await check_reference(session, Person, tenant_id, manager_id, "/body/manager_id")
    if manager_id == person_id:
        raise ValidationFailed.field(
            "/body/manager_id", "A person cannot manage themselves.", "cycle"
        )
    chain = (
        select(col(Person.id), col(Person.manager_id))
        .where(Person.id == manager_id)
        .cte("chain", recursive=True)
    )
    chain = chain.union(
        select(col(Person.id), col(Person.manager_id)).join(
            chain, col(Person.id) == chain.c.manager_id
        )
    )
    found = await session.scalar(sa.select(sa.exists().where(chain.c.id == person_id)))
    if found:
        raise ValidationFailed.field(
            "/body/manager_id", "This manager would create a reporting cycle.", "cycle"
        )


async def create(
    session: AsyncSession,
    principal: Principal,
    body: PersonCreate,
    *,
    extra: dict[str, Any] | None = None,
) -> Person:
    """Create a person; ``extra`` sets columns only SCIM writes (``user_name``,
    ``department``), checked by its caller."""
    tenant_id = principal.tenant_id
    await check_external_id_free(session, Person, tenant_id, body.external_id)
    await check_reference(session, Person, tenant_id, body.manager_id, "/body/manager_id")
    fields = body.model_dump(exclude={"metadata"})
    person = Person(tenant_id=tenant_id, metadata_=body.metadata, **fields, **(extra or {}))
    session.add(person)
    await session.flush()
    await _emit(session, principal, "person.created", person)
    return person


async def get(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, *, for_update: bool = False
) -> Person:
    """The person (404 if missing or another tenant's); writes lock the row before their
    If-Match check, so of concurrent writers holding one ETag exactly one wins."""
    return await get_owned(session, Person, tenant_id, person_id, for_update=for_update)


async def get_for_write(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, if_match: str | None
) -> Person:
    """The person for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE`` and checked
    against ``If-Match`` (412)."""
    return check_if_match(if_match, await get(session, tenant_id, person_id, for_update=True))


READER = Reader(Person, Shape(PersonRead), visible=visibility.PEOPLE)
# The directory as a person sees it: ``external_id`` and ``metadata`` are the platform's
# own data (HRIS ids, integrator fields), so a person reads ``null`` and ``{}`` there.
# Same statement as ``READER``, another shape.
PUBLIC = Reader(
    Person,
    Shape(PersonRead, external_id=lambda row: None, metadata=lambda row: {}),
    visible=visibility.PEOPLE,
)


def reader(principal: Principal) -> Reader:
    """How ``principal`` reads people: in full as the platform, else the directory."""
    return READER if principal.person_id is None else PUBLIC


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    manager_id: uuid.UUID | None = None,
    status: str | None = None,
    email: str | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of people rows, newest first (one more than the limit): one statement. There
    is no ``external_id`` filter (a person must not probe the HRIS's ids): the platform
    finds a person by external id with ``PUT /v1/people/by-external-id/{external_id}``."""
    where = READER.where(principal)
    where.filter("t.manager_id = {}", manager_id)
    where.filter("t.status = {}", status)
    where.filter("lower(t.email) = {}", None if email is None else email.lower())
    where.filter("t.updated_at >= {}", updated_since)
    return await READER.page(db, where, params, principal)


async def _update(
    session: AsyncSession, principal: Principal, person: Person, changes: dict[str, Any]
) -> Person:
    reject_nulls(changes, PersonUpdate.non_null)
    if "external_id" in changes:
        await check_external_id_free(
            session, Person, principal.tenant_id, changes["external_id"], exclude=person.id
        )
    if "manager_id" in changes:
        await _check_manager(session, principal.tenant_id, person.id, changes["manager_id"])
    if apply_changes(person, changes):
        await session.flush()
        await _emit(session, principal, "person.updated", person)
    return person


async def update_fields(
    session: AsyncSession, principal: Principal, person: Person, changes: dict[str, Any]
) -> Person:
    """Apply ``changes`` (columns, checked by the caller: the SCIM service) with the rules
    and the ``person.updated`` event of every other update path."""
    return await _update(session, principal, person, changes)


async def update(
    session: AsyncSession, principal: Principal, person: Person, body: PersonUpdate
) -> Person:
    return await _update(session, principal, person, body.model_dump(exclude_unset=True))


async def upsert_by_external_id(
    session: AsyncSession, principal: Principal, external_id: str, body: PersonUpsert
) -> tuple[Person, bool]:
    """The HRIS sync path: create or replace the person with this external id."""
    existing = await session.scalar(
        select(Person)
        .where(Person.tenant_id == principal.tenant_id, Person.external_id == external_id)
        .with_for_update()
    )
    if existing is None:
        created = await create(
            session, principal, PersonCreate(external_id=external_id, **body.model_dump())
        )
        return created, True
    return await _update(session, principal, existing, body.model_dump()), False


async def delete(
    session: AsyncSession, principal: Principal, person: Person, *, erase: bool
) -> Person | None:
    """Delete a person without history; with ``erase``, anonymise one who has some instead."""
    if erase:
        person.name = ERASED_NAME
        person.email = None
        person.title = None
        person.external_id = None
        person.metadata_ = {}
        person.status = "inactive"
        person.erased_at = utcnow()
        person.updated_at = person.erased_at
        await session.flush()
        snapshot = PersonRead.model_validate(person).model_dump(mode="json")
        # Earlier snapshots of this person in the event log, and the webhook bodies made
        # from them, carried their personal data.
        rewritten = await session.scalars(
            sa.update(Event)
            .where(
                col(Event.tenant_id) == principal.tenant_id,
                col(Event.subject_type) == "person",
                col(Event.subject_id) == person.id,
            )
            .values(data=snapshot)
            .returning(col(Event.id))
        )
        await webhooks.rewrite_payloads(session, rewritten.all())
        # Private notes are visible to their author only: nobody else keeps a claim on them.
        await session.execute(
            sa.delete(ConversationNote).where(
                col(ConversationNote.tenant_id) == principal.tenant_id,
                col(ConversationNote.author_id) == person.id,
                col(ConversationNote.visibility) == "private",
            )
        )
        # An erased person no longer signs in anywhere: their sessions end now.
        await session.execute(
            sa.delete(PersonSession).where(col(PersonSession.person_id) == person.id)
        )
        await _emit(session, principal, "person.erased", person)
        return person
    if await has_references(session, "people", person.id):
        raise Conflict(
            "This person has history (reports, conversations, goals, feedback, …). Delete "
            "with ?erase=true to anonymise their personal data and keep the records."
        )
    await _emit(session, principal, "person.deleted", person)
    await session.delete(person)
    await session.flush()
    return None
