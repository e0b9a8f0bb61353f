"""Agenda templates: named, ordered talking points a conversation's agenda starts from.

Every tenant has the built-in templates below: defined here, not stored, with ids that
are the same in every tenant and never change, read-only (a tenant copies one to make it
its own). A tenant's own templates are rows of ``agenda_templates``; their ``items`` are one
JSON array, replaced as a whole. Lists merge both, newest first on ``(created_at, id)``:
the built-ins carry a fixed creation time, so they come last, and one statement reads the
tenant's page.

Templates are tenant configuration: everyone in the tenant reads them, only the platform
changes them (the routes take platform keys); like the tenant's settings they write no
events. ``template_id`` on a conversation's create or schedule copies a template's items
into its agenda (``items_for`` / ``add_to_agenda``): shared items authored by the
facilitator, each with ``template_id`` and the item's ``prompt``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import Conflict, ValidationFailed
from app.core.pagination import PageParams, decode_cursor
from app.core.rows import Record, Shape, dumps
from app.models.agenda_template import AgendaTemplate
from app.models.base import utcnow, uuid7
from app.models.conversation import AgendaItem, Conversation
from app.schemas.agenda_templates import (
    AgendaTemplateCopy,
    AgendaTemplateCreate,
    AgendaTemplateRead,
    AgendaTemplateUpdate,
)
from app.services import visibility
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    get_owned,
    reject_nulls,
    unknown_reference,
)

MAX_AGENDA_ITEMS = 100  # as app/services/agenda_items.py
TEMPLATE_POINTER = "/body/template_id"


class BuiltinTemplate(Conflict):
    """A change to a built-in template: they are read-only."""

    code, title = "builtin_template", "Built-in template"


# The built-ins: the key elements of a career conversation (aspirations, strengths, areas
# for growth, opportunities, feedback and support), then actionable next steps.
BUILTIN_CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)
CAREER_TEMPLATE_ID = uuid.UUID("00000000-0000-7000-8000-00000000a001")
MENTORSHIP_TEMPLATE_ID = uuid.UUID("00000000-0000-7000-8000-00000000a002")
STAY_TEMPLATE_ID = uuid.UUID("00000000-0000-7000-8000-00000000a003")


def _item(category: str, title: str, prompt: str) -> dict[str, Any]:
    return {"category": category, "title": title, "prompt": prompt}


_BUILTIN_DEFINITIONS: tuple[tuple[uuid.UUID, str, str, str, list[dict[str, Any]]], ...] = (
    (
        CAREER_TEMPLATE_ID,
        "Career conversation",
        "career",
        "The key elements of a career conversation, in order: aspirations, strengths, areas "
        "for growth, opportunities, feedback and support, then the next steps.",
        [
            _item(
                "aspirations",
                "Aspirations",
                "Where would you like your career to be in two to three years, and what "
                "draws you there?",
            ),
            _item(
                "strengths",
                "Strengths",
                "Which strengths do you want to use more, and where did they make a "
                "difference recently?",
            ),
            _item(
                "growth_areas",
                "Areas for growth",
                "Which skills or experiences would bring you closest to your goals?",
            ),
            _item(
                "opportunities",
                "Opportunities",
                "Which projects, roles or stretch assignments here could move you forward, "
                "and what can the organisation realistically offer?",
            ),
            _item(
                "feedback",
                "Feedback and support",
                "What honest feedback do you have for each other, and what support do you "
                "need to take the next step?",
            ),
            _item(
                "other",
                "Next steps",
                "Which actionable steps will each of you take before the next conversation, "
                "and by when?",
            ),
        ],
    ),
    (
        MENTORSHIP_TEMPLATE_ID,
        "Mentorship conversation",
        "mentorship",
        "A mentor and mentee clarify goals, look for opportunities and exchange feedback.",
        [
            _item(
                "aspirations",
                "Goals",
                "Which career goal should we work on, and how will you know you reached it?",
            ),
            _item(
                "growth_areas",
                "Challenges",
                "What is in your way right now, and what have you tried so far?",
            ),
            _item(
                "opportunities",
                "Opportunities and connections",
                "Which people, communities or opportunities could help you grow?",
            ),
            _item(
                "feedback",
                "Feedback",
                "What feedback would help you most, and how is this mentorship working for "
                "both of us?",
            ),
        ],
    ),
    (
        STAY_TEMPLATE_ID,
        "Stay conversation",
        "stay",
        "What keeps an employee engaged, what could make them leave and what would help.",
        [
            _item(
                "strengths",
                "What works",
                "What do you enjoy most about your work, and what keeps you here?",
            ),
            _item(
                "growth_areas",
                "What could be better",
                "What frustrates you, and what would make you think about leaving?",
            ),
            _item(
                "aspirations",
                "Where you are heading",
                "Which expectations do you have for your career here that we have not "
                "talked about yet?",
            ),
            _item(
                "feedback",
                "Support",
                "What could I do differently to support you better?",
            ),
        ],
    ),
)

BUILTINS: dict[uuid.UUID, dict[str, Any]] = {
    ident: {
        "id": ident,
        "tenant_id": None,
        "external_id": None,
        "metadata": {},
        "created_at": BUILTIN_CREATED_AT,
        "updated_at": BUILTIN_CREATED_AT,
        "name": name,
        "kind": kind,
        "description": description,
        "items": items,
        "builtin": True,
    }
    for ident, name, kind, description, items in _BUILTIN_DEFINITIONS
}


def _items(row: Record) -> list[dict[str, Any]]:
    return [
        {"category": i["category"], "title": i["title"], "prompt": i.get("prompt")}
        for i in row["items"]
    ]


TEMPLATE = Shape(AgendaTemplateRead, items=_items)
READER = Reader(
    AgendaTemplate, TEMPLATE, extra=", false AS builtin", visible=visibility.AGENDA_TEMPLATES
)


# Reading -----------------------------------------------------------------------------------


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    kind: str | None = None,
    builtin: bool | None = None,
    updated_since: datetime | None = None,
) -> list[Any]:
    """A page of templates, newest first (one more than the limit): the tenant's rows in one
    statement, merged with the built-ins that fit the same filters and cursor."""
    rows: list[Any] = []
    if builtin is not True:
        where = READER.where(principal)
        where.filter("t.kind = {}", kind)
        where.filter("t.updated_at >= {}", updated_since)
        rows = await READER.page(db, where, params)
    if builtin is not False:
        after = decode_cursor(params.cursor) if params.cursor else None
        for row in BUILTINS.values():
            if kind is not None and row["kind"] != kind:
                continue
            if updated_since is not None and row["updated_at"] < updated_since:
                continue
            if after is not None and (row["created_at"], row["id"]) >= after:
                continue
            rows.append(row)
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return rows[: params.limit + 1]


async def fetch(db: RequestDb, principal: Principal, template_id: uuid.UUID) -> Record:
    """A built-in (no statement) or one of the tenant's templates (404 otherwise)."""
    builtin = BUILTINS.get(template_id)
    if builtin is not None:
        return builtin
    row: asyncpg.Record = await READER.one(db, principal, template_id)
    return row


async def read(session: AsyncSession, template: AgendaTemplate) -> AgendaTemplateRead:
    """The template as the reads show it, after the session's changes (flushed)."""
    return AgendaTemplateRead.model_validate(await READER.reread(session, template.id))


# Writing -----------------------------------------------------------------------------------


def _refuse_builtin(template_id: uuid.UUID, action: str) -> None:
    if template_id in BUILTINS:
        raise BuiltinTemplate(
            f"Built-in templates are read-only: cannot {action} it. Copy it with "
            f"POST /v1/agenda-templates/{template_id}/copy and change the copy."
        )


async def get_for_write(
    session: AsyncSession,
    principal: Principal,
    template_id: uuid.UUID,
    if_match: str | None,
    action: str = "change",
) -> AgendaTemplate:
    """The tenant's template for a PATCH or DELETE: a built-in is 409, another id 404; locked
    ``FOR UPDATE`` and checked against ``If-Match`` (412)."""
    _refuse_builtin(template_id, action)
    template = await get_owned(
        session, AgendaTemplate, principal.tenant_id, template_id, for_update=True
    )
    return check_if_match(if_match, template)


async def create(
    session: AsyncSession, principal: Principal, body: AgendaTemplateCreate
) -> AgendaTemplateRead:
    await check_external_id_free(session, AgendaTemplate, principal.tenant_id, body.external_id)
    template = AgendaTemplate(
        tenant_id=principal.tenant_id,
        metadata_=body.metadata,
        **body.model_dump(exclude={"metadata"}),
    )
    session.add(template)
    return await read(session, template)


async def update(
    session: AsyncSession,
    principal: Principal,
    template: AgendaTemplate,
    body: AgendaTemplateUpdate,
) -> AgendaTemplateRead:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, AgendaTemplateUpdate.non_null)
    if body.items is not None:  # every field of each item, defaults included
        changes["items"] = [item.model_dump() for item in body.items]
    if "external_id" in changes:
        await check_external_id_free(
            session,
            AgendaTemplate,
            principal.tenant_id,
            changes["external_id"],
            exclude=template.id,
        )
    apply_changes(template, changes)
    return await read(session, template)


async def delete(session: AsyncSession, template: AgendaTemplate) -> None:
    """Agenda items created from it keep its id in ``template_id`` (not a foreign key)."""
    await session.delete(template)
    await session.flush()


async def copy(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, body: AgendaTemplateCopy
) -> AgendaTemplateRead:
    """A new template of the tenant with the source's kind, description and items."""
    source = BUILTINS.get(template_id)
    if source is None:
        own = await get_owned(session, AgendaTemplate, principal.tenant_id, template_id)
        source = {
            "name": own.name,
            "kind": own.kind,
            "description": own.description,
            "items": own.items,
        }
    await check_external_id_free(session, AgendaTemplate, principal.tenant_id, body.external_id)
    name = body.name or f"{source['name']} (copy)"[:200]
    template = AgendaTemplate(
        tenant_id=principal.tenant_id,
        external_id=body.external_id,
        name=name,
        kind=source["kind"],
        description=source["description"],
        items=[dict(item) for item in source["items"]],
    )
    session.add(template)
    return await read(session, template)


# Templates on a conversation's agenda ----------------------------------------------------------


def builtin_items(template_id: uuid.UUID) -> list[dict[str, Any]] | None:
    builtin = BUILTINS.get(template_id)
    return None if builtin is None else list(builtin["items"])


def unknown_template(template_id: uuid.UUID) -> ValidationFailed:
    return unknown_reference(TEMPLATE_POINTER, AgendaTemplate, template_id)


def agenda_rows(
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    author_id: uuid.UUID,
    template_id: uuid.UUID,
    items: list[dict[str, Any]],
    first_position: int = 0,
) -> list[dict[str, Any]]:
    """The agenda item rows (all columns) a template's items become."""
    if first_position + len(items) > MAX_AGENDA_ITEMS:
        raise Conflict(
            f"An agenda holds at most {MAX_AGENDA_ITEMS} items; the template's "
            f"{len(items)} do not fit after the {first_position} already there."
        )
    now = utcnow()
    return [
        {
            "id": uuid7(),
            "tenant_id": tenant_id,
            "external_id": None,
            "metadata": {},
            "created_at": now,
            "updated_at": now,
            "conversation_id": conversation_id,
            "author_id": author_id,
            "topic": item["title"],
            "category": item["category"],
            "position": first_position + index,
            "discussed": False,
            "notes": None,
            "visibility": "shared",
            "template_id": template_id,
            "prompt": item.get("prompt"),
            "carried_from_id": None,
        }
        for index, item in enumerate(items)
    ]


_ITEM_COLUMNS: tuple[str, ...] = tuple(AgendaItem.__table__.columns.keys())  # type: ignore[attr-defined]
INSERT_ITEMS = (
    # B608: column names of our table; values are bind parameters
    f"INSERT INTO agenda_items ({', '.join(_ITEM_COLUMNS)}) "  # nosec B608
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_ITEM_COLUMNS) + 1))})"
)


def insert_params(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """``INSERT_ITEMS`` parameters per row (``metadata`` as JSON text, as the driver takes)."""
    out = []
    for row in rows:
        values = [row[column] for column in _ITEM_COLUMNS]
        values[_ITEM_COLUMNS.index("metadata")] = dumps(row["metadata"]).decode()
        out.append(values)
    return out


async def template_items(
    session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID
) -> list[dict[str, Any]] | None:
    """A built-in's or the tenant's template's items; None if there is no such template."""
    items = builtin_items(template_id)
    if items is None:
        template = await session.get(AgendaTemplate, template_id)
        if template is None or template.tenant_id != tenant_id:
            return None
        items = template.items
    return items


async def add_to_agenda(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation: Conversation,
    template_id: uuid.UUID,
    *,
    missing_ok: bool = False,
) -> None:
    """Append the template's items to the (locked) conversation's agenda (422 on
    ``/body/template_id`` for an unknown or another tenant's template; ``missing_ok``:
    nothing then, for a series whose template was deleted since)."""
    items = await template_items(session, tenant_id, template_id)
    if items is None:
        if missing_ok:
            return
        raise unknown_template(template_id)
    count = await session.scalar(
        select(func.count())
        .select_from(AgendaItem)
        .where(col(AgendaItem.conversation_id) == conversation.id)
    )
    rows = agenda_rows(
        tenant_id,
        conversation.id,
        conversation.facilitator_id,
        template_id,
        items,
        first_position=count or 0,
    )
    for row in rows:
        session.add(AgendaItem(**{k: v for k, v in row.items() if k != "metadata"}))
