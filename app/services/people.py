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
from app.core.errors import PROBLEM_BASE, Conflict, FieldError, ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape, dumps, dumps_text
from app.models.base import utcnow, uuid7
from app.models.conversation import ConversationNote
from app.models.event import Event
from app.models.person import Person
from app.models.person_session import PersonSession
from app.schemas.people import (
    PersonBatch,
    PersonBatchItem,
    PersonCreate,
    PersonRead,
    PersonUpdate,
    PersonUpsert,
)
from app.services import events, reorg, visibility, webhooks
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
    from_manager_id, from_status = person.manager_id, person.status
    if apply_changes(person, changes):
        await session.flush()
        await _emit(session, principal, "person.updated", person)
        await reorg.person_changed(
            session,
            principal,
            person.id,
            from_manager_id=from_manager_id,
            to_manager_id=person.manager_id,
            from_status=from_status,
            to_status=person.status,
        )
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
        from_status = person.status
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
        # Erasure deactivates: their future conversations are canceled, their series end.
        await reorg.person_changed(
            session,
            principal,
            person.id,
            from_manager_id=person.manager_id,
            to_manager_id=person.manager_id,
            from_status=from_status,
            to_status=person.status,
        )
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


# The batch sync --------------------------------------------------------------------------

_COLUMNS = (
    "id",
    "tenant_id",
    "external_id",
    "metadata",
    "created_at",
    "updated_at",
    "name",
    "email",
    "title",
    "manager_id",
    "timezone",
    "status",
)
# What a batch item sets (the rest: ids and times).
_FIELDS = ("name", "email", "title", "manager_id", "timezone", "status", "metadata")
_INSERT = (
    # B608: column names of our table; values are bind parameters
    f"INSERT INTO people ({', '.join(_COLUMNS)}) "  # nosec B608
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_COLUMNS) + 1))})"
)
_UPDATE = (
    # B608: column names of our table; values are bind parameters
    "UPDATE people SET "  # nosec B608
    + ", ".join(f"{name} = ${n}" for n, name in enumerate((*_FIELDS, "updated_at"), start=2))
    + " WHERE id = $1"
)
_SELF = "A person cannot manage themselves."


def _pointer(index: int, loc: tuple[Any, ...] = ()) -> str:
    parts = ["body", "people", str(index), *(str(part) for part in loc)]
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _problem(errors: list[FieldError]) -> dict[str, Any]:
    detail = errors[0].detail if len(errors) == 1 else f"{len(errors)} field(s) failed validation."
    return {
        "type": PROBLEM_BASE + "validation-failed",
        "title": ValidationFailed.title,
        "status": ValidationFailed.status,
        "detail": detail,
        "code": ValidationFailed.code,
        "errors": [error.model_dump() for error in errors],
    }


def _read(values: dict[str, Any]) -> dict[str, Any]:
    return PersonRead.model_validate(values).model_dump(mode="json")


async def batch(
    db: RequestDb, principal: Principal, body: PersonBatch
) -> tuple[list[dict[str, Any]], bool]:
    """Upsert up to 1,000 people by external id, managers by external id in any order:
    validate every item first (schema, duplicates, managers, cycles), then write the good
    ones set-based (one pipelined statement for the creates, one for the updates, each with
    its events and webhook deliveries). Answers the per-item results in input order and
    whether any item failed; with ``atomic`` a failure writes nothing (422)."""
    tenant_id = principal.tenant_id
    failed: dict[int, list[FieldError]] = {}

    def fail(index: int, loc: tuple[Any, ...], detail: str, code: str) -> None:
        failed.setdefault(index, []).append(
            FieldError(pointer=_pointer(index, loc), detail=detail, code=code)
        )

    items: dict[int, PersonBatchItem] = {}
    first: dict[str, int] = {}
    for index, row in enumerate(body.people):
        if row.external_id in first:
            fail(
                index,
                ("external_id",),
                f"Item {first[row.external_id]} of this batch has the same external id.",
                "duplicate",
            )
        else:
            first.setdefault(row.external_id, index)
            items[index] = row
    raw = await db.begin()
    wanted = set(first) | {i.manager_external_id for i in items.values() if i.manager_external_id}
    existing = {
        row["external_id"]: row
        for row in await raw.fetch(
            "SELECT * FROM people WHERE tenant_id = $1 AND external_id = ANY($2::text[]) "
            "ORDER BY id FOR UPDATE",
            tenant_id,
            sorted(wanted),
        )
    }
    # The management chains above every person named, as they stand.
    above: dict[uuid.UUID, uuid.UUID | None] = {
        row["id"]: row["manager_id"]
        for row in await raw.fetch(
            "WITH RECURSIVE chain(id, manager_id) AS (SELECT id, manager_id FROM people "
            "WHERE id = ANY($1::uuid[]) UNION SELECT p.id, p.manager_id FROM people p "
            "JOIN chain c ON p.id = c.manager_id) SELECT id, manager_id FROM chain",
            [row["id"] for row in existing.values()],
        )
    }
    ids = {
        index: existing[item.external_id]["id"] if item.external_id in existing else uuid7()
        for index, item in items.items()
    }
    managers: dict[int, uuid.UUID | None] = {}
    while True:  # until no item fails: a refused item may take others with it
        good = {index: item for index, item in items.items() if index not in failed}
        by_external = {item.external_id: index for index, item in good.items()}
        managers = {}
        for index, item in good.items():
            wanted_id = item.manager_external_id
            if wanted_id is None:
                managers[index] = None
            elif wanted_id == item.external_id:
                fail(index, ("manager_external_id",), _SELF, "cycle")
            elif wanted_id in by_external:
                managers[index] = ids[by_external[wanted_id]]
            elif wanted_id in existing:
                managers[index] = existing[wanted_id]["id"]
            elif wanted_id in first:
                fail(
                    index,
                    ("manager_external_id",),
                    f"The manager's item ({first[wanted_id]}) was refused.",
                    "manager_refused",
                )
            else:
                fail(
                    index,
                    ("manager_external_id",),
                    "No person with this external id in the batch or your tenant.",
                    "unknown_manager",
                )
        if len(managers) < len(good):
            continue
        parent = dict(above)
        parent.update({ids[index]: manager for index, manager in managers.items()})
        index_of = {ids[index]: index for index in good}
        cyclic: set[int] = set()
        settled: set[uuid.UUID] = set()
        for start in good:
            path: list[uuid.UUID] = []
            on_path: set[uuid.UUID] = set()
            node: uuid.UUID | None = ids[start]
            while node is not None and node not in settled and node not in on_path:
                path.append(node)
                on_path.add(node)
                node = parent.get(node)
            if node is not None and node in on_path:
                cyclic.update(index_of[n] for n in path[path.index(node) :] if n in index_of)
            settled.update(path)
        for index in sorted(cyclic):
            fail(
                index,
                ("manager_external_id",),
                "This manager would create a reporting cycle.",
                "cycle",
            )
        if not cyclic:
            break
    results: list[dict[str, Any]] = [
        {
            "index": index,
            "external_id": row.external_id,
            "result": "error",
            "person": None,
            "problem": _problem(failed[index]),
        }
        if index in failed
        else {}
        for index, row in enumerate(body.people)
    ]
    if failed and body.atomic:
        return [results[index] for index in sorted(failed)], True
    now = utcnow()
    creates: list[tuple[int, dict[str, Any]]] = []
    updates: list[tuple[int, dict[str, Any]]] = []
    changed: list[tuple[uuid.UUID, asyncpg.Record, dict[str, Any]]] = []
    for index, item in items.items():
        if index in failed:
            continue
        values = item.model_dump(exclude={"external_id", "manager_external_id"})
        values["manager_id"] = managers[index]
        before = existing.get(item.external_id)
        if before is None:
            record = {
                **values,
                "id": ids[index],
                "tenant_id": tenant_id,
                "external_id": item.external_id,
                "created_at": now,
                "updated_at": now,
                "erased_at": None,
            }
            creates.append((index, record))
            results[index] = _result(index, "created", record)
        elif all(before[name] == values[name] for name in _FIELDS):
            results[index] = _result(index, "unchanged", dict(before))
        else:
            record = {**dict(before), **values, "updated_at": now}
            updates.append((index, record))
            results[index] = _result(index, "updated", record)
            changed.append((ids[index], before, values))
    # Managers before their reports: a new manager's row exists when a report names it.
    depth: dict[uuid.UUID, int] = {}
    new_ids = {row["id"]: row for _, row in creates}

    def level(ident: uuid.UUID) -> int:
        chain: list[uuid.UUID] = []  # up to the first known or stored manager (no recursion)
        node: uuid.UUID | None = ident
        while node is not None and node in new_ids and node not in depth:
            chain.append(node)
            node = new_ids[node]["manager_id"]
        base = depth[node] if node is not None and node in depth else -1
        for offset, one in enumerate(reversed(chain), start=1):
            depth[one] = base + offset
        return depth[ident]

    creates.sort(key=lambda pair: level(pair[1]["id"]))
    await events.record_many_sql(
        db,
        tenant_id=tenant_id,
        type="person.created",
        subject_type="person",
        actor=principal,
        along=_INSERT,
        rows=[
            (row["id"], dumps(results[index]["person"]), _insert_params(row))
            for index, row in creates
        ],
    )
    await events.record_many_sql(
        db,
        tenant_id=tenant_id,
        type="person.updated",
        subject_type="person",
        actor=principal,
        along=_UPDATE,
        rows=[
            (
                row["id"],
                dumps(results[index]["person"]),
                [row["id"], *_field_params(row), row["updated_at"]],
            )
            for index, row in updates
        ],
    )
    if changed:
        session = await db.session()
        for ident, before, values in changed:
            await reorg.person_changed(
                session,
                principal,
                ident,
                from_manager_id=before["manager_id"],
                to_manager_id=values["manager_id"],
                from_status=before["status"],
                to_status=values["status"],
            )
        await session.flush()
    return results, bool(failed)


def _result(index: int, result: str, row: dict[str, Any]) -> dict[str, Any]:
    person = _read(row)
    return {
        "index": index,
        "external_id": person["external_id"],
        "result": result,
        "person": person,
        "problem": None,
    }


def _field_params(row: dict[str, Any]) -> list[Any]:
    return [dumps_text(row[name]) if name == "metadata" else row[name] for name in _FIELDS]


def _insert_params(row: dict[str, Any]) -> list[Any]:
    return [dumps_text(row[name]) if name == "metadata" else row[name] for name in _COLUMNS]
