"""Helpers every resource service uses: tenant-scoped lookups, references, ETags."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import asyncpg
import sqlalchemy as sa
from fastapi import Request, Response
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from app.core.db import RequestDb
from app.core.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from app.core.keycache import Principal
from app.core.pagination import PageParams, keyset_sql, page_response
from app.core.rows import Record, Shape, etag_for, json_response
from app.core.sql import Where
from app.models.base import utcnow
from app.services.visibility import Rule, session_raw


class Owned(Protocol):
    id: uuid.UUID
    tenant_id: uuid.UUID


M = TypeVar("M", bound=SQLModel)


def _label(model: type[SQLModel]) -> str:
    name = model.__name__
    return "".join(" " + c.lower() if c.isupper() else c for c in name).strip()


class Reader:
    """How a resource is read on the hot path: ``SELECT t.*`` (plus ``extra`` columns, e.g.
    arrays of child rows) from its table as one statement on the request's connection, no
    ORM and no transaction, shaped into the read schema's JSON by ``shape``.

    Writes answer through it too (``reread``); ``tests/test_reads.py`` checks a write's
    pydantic answer equals the reads' JSON."""

    def __init__(
        self, model: type[SQLModel], shape: Shape, extra: str = "", visible: Rule | None = None
    ) -> None:
        table: str = model.__tablename__  # type: ignore[assignment]
        self.label = _label(model)
        self.shape = shape
        self.visible = visible
        # ``{viewer}`` in ``extra`` stands for the acting person (NULL for the platform),
        # e.g. to leave out child rows only their author sees.
        self.viewer_in_extra = "{viewer}" in extra
        # B608: the table name and extra columns are constants of ours
        self.select = f"SELECT t.*{extra} FROM {table} t WHERE "  # nosec B608

    def _select(self, where: Where, principal: Principal | None) -> str:
        if not self.viewer_in_extra:
            return self.select
        mark = where.arg(principal.person_id if principal is not None else None)
        return self.select.replace("{viewer}", f"{mark}::uuid")

    async def one(self, db: RequestDb, principal: Principal, ident: uuid.UUID) -> asyncpg.Record:
        """The row with this id in the caller's tenant, if the acting person sees it (404 if
        missing, another tenant's or not visible: the same answer)."""
        where = self.where(principal, one=True)
        where.add("t.id = {}", ident)
        select = self._select(where, principal)
        row = await (await db.raw()).fetchrow(select + where.sql, *where.params)
        if row is None:
            raise NotFound(f"No {self.label} with id {ident}.")
        return row

    async def reread(
        self, session: AsyncSession, ident: uuid.UUID, principal: Principal | None = None
    ) -> dict[str, Any]:
        """The row as the API shows it (to ``principal``), read with the same statement in the
        session's transaction after flushing its changes: a write answers exactly what a read
        will."""
        return self.shape(await self.row(session, ident, principal))

    async def row(
        self, session: AsyncSession, ident: uuid.UUID, principal: Principal | None = None
    ) -> asyncpg.Record:
        """The raw row (as ``principal`` sees its child rows), read with the same statement
        in the session's transaction after flushing its changes."""
        await session.flush()
        where = Where("t.id = {}", ident)
        select = self._select(where, principal)
        row = await (await session_raw(session)).fetchrow(select + where.sql, *where.params)
        assert row is not None, f"{self.label} {ident} vanished inside its own transaction"
        return row

    def where(self, principal: Principal, *, one: bool = False) -> Where:
        """Conditions over ``t``: the tenant's rows the acting person sees (``one``: for a
        statement reading one row by id, which checks the chain from that row up)."""
        where = Where("t.tenant_id = {}", principal.tenant_id)
        if self.visible is not None:
            self.visible.add_to(where, principal, one=one)
        return where

    async def page(
        self,
        db: RequestDb,
        where: Where,
        params: PageParams,
        principal: Principal | None = None,
    ) -> list[asyncpg.Record]:
        """A page, newest first on ``(created_at, id)``, with one extra row for ``has_more``."""
        select = self._select(where, principal)
        tail = keyset_sql(where, params, "t")
        return await (await db.raw()).fetch(select + where.sql + tail, *where.params)

    def answer(self, row: Record) -> Response:
        """The row as the API returns it, with its ``ETag``."""
        return json_response(self.shape(row), etag=etag_for(row["id"], row["updated_at"]))

    def answer_page(
        self, request: Request, rows: list[asyncpg.Record], params: PageParams
    ) -> Response:
        return page_response(request, rows, params, self.shape)


async def get_owned(
    session: AsyncSession,
    model: type[M],
    tenant_id: uuid.UUID,
    ident: uuid.UUID,
    *,
    for_update: bool = False,
) -> M:
    """The row with this id in the caller's tenant; another tenant's id is a 404 too."""
    obj = await session.get(model, ident, with_for_update=for_update)
    if obj is None or getattr(obj, "tenant_id", None) != tenant_id:
        raise NotFound(f"No {_label(model)} with id {ident}.")
    return obj


def unknown_reference(pointer: str, model: type[SQLModel], ident: uuid.UUID) -> ValidationFailed:
    """The 422 for a body field naming a missing or foreign id."""
    return ValidationFailed.field(
        pointer, f"No {_label(model)} with id {ident} in this tenant.", "unknown_reference"
    )


def external_id_taken(model: type[SQLModel], external_id: str, holder: uuid.UUID) -> Conflict:
    """The 409 for an ``external_id`` another row of the tenant already holds."""
    return Conflict(
        f"external_id '{external_id}' is already used by {_label(model)} {holder}.",
        extra={"conflicting_id": str(holder)},
    )


async def check_reference(
    session: AsyncSession,
    model: type[M],
    tenant_id: uuid.UUID,
    ident: uuid.UUID | None,
    pointer: str,
) -> M | None:
    """Resolve a reference from a request body: unknown or foreign ids are a 422 on ``pointer``."""
    if ident is None:
        return None
    obj = await session.get(model, ident)
    if obj is None or getattr(obj, "tenant_id", None) != tenant_id:
        raise unknown_reference(pointer, model, ident)
    return obj


async def check_external_id_free(
    session: AsyncSession,
    model: type[SQLModel],
    tenant_id: uuid.UUID,
    external_id: str | None,
    exclude: uuid.UUID | None = None,
) -> None:
    """external_id is unique per tenant: a taken one is a 409 naming the holder."""
    if external_id is None:
        return
    table: Any = model
    stmt = sa.select(table.id).where(table.tenant_id == tenant_id, table.external_id == external_id)
    if exclude is not None:
        stmt = stmt.where(table.id != exclude)
    holder = await session.scalar(stmt)
    if holder is not None:
        raise external_id_taken(model, external_id, holder)


def etag_of(obj: Any) -> str:
    """A strong validator: changes whenever the row's ``updated_at`` does."""
    raw = f"{obj.id}:{obj.updated_at.isoformat()}".encode()
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def check_if_match(if_match: str | None, obj: M) -> M:
    """``obj``, unless the write's ``If-Match`` names another version (412). Call it on a
    row locked ``FOR UPDATE`` (each service's ``get_for_write``), so of concurrent writers
    holding one ETag exactly one wins."""
    if if_match is None:
        return obj
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" in candidates or etag_of(obj) in candidates:
        return obj
    raise PreconditionFailed(
        "The resource changed since you read it (If-Match does not match the current ETag); "
        "fetch it again and retry."
    )


def apply_changes(obj: Any, changes: dict[str, Any]) -> bool:
    """Set the given fields; bump ``updated_at`` if anything changed. Returns whether it did."""
    changed = False
    for field, value in changes.items():
        attr = "metadata_" if field == "metadata" else field
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed = True
    if changed:
        obj.updated_at = utcnow()
    return changed


def touch(obj: Any) -> None:
    obj.updated_at = utcnow()


def reject_nulls(changes: dict[str, Any], required: tuple[str, ...]) -> None:
    """A PATCH may not null a required field."""
    for field in required:
        if field in changes and changes[field] is None:
            raise ValidationFailed.field(f"/body/{field}", f"{field} cannot be null.", "null")


async def has_references(session: AsyncSession, table_name: str, ident: uuid.UUID) -> bool:
    """Whether any row of any table points at ``table_name.id = ident`` through a foreign key."""
    checks = []
    for table in SQLModel.metadata.tables.values():
        if table.info.get("not_history"):  # e.g. person sessions: they go with the row
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == table_name and fk.column.name == "id":
                checks.append(sa.exists().where(fk.parent == ident))
    if not checks:
        return False
    return bool(await session.scalar(sa.select(sa.or_(*checks))))


def in_ids(column: Any, ids: Sequence[uuid.UUID]) -> sa.ColumnElement[bool]:
    """``column = ANY(:ids)``: one array parameter, so the statement (and its prepared form)
    is the same for any number of ids, unlike an expanding ``IN``."""
    condition: sa.ColumnElement[bool] = column == sa.any_(
        sa.bindparam(None, list(ids), type_=ARRAY(sa.Uuid()))
    )
    return condition
