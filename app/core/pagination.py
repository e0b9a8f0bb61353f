"""Keyset (cursor) pagination over ``(created_at, id)``, newest first.

A cursor is opaque to clients: URL-safe base64 of the last row's sort key.
Each page is one index range scan, whatever the cursor's depth.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Query, Request, Response
from pydantic import BaseModel, Field

from app.core.errors import ValidationFailed
from app.core.rows import json_response
from app.core.sql import Where

T = TypeVar("T")
V = TypeVar("V")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    """One page of a list, with the cursor of the next page."""

    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
    has_more: bool


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1 to 100.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="`next_cursor` from the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(
        [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, parse_first: Callable[[Any], V]) -> tuple[V, uuid.UUID]:
    """A cursor's two values: the sort value (through ``parse_first``) and the id."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        first, ident = json.loads(raw)
        return parse_first(first), uuid.UUID(ident)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationFailed.field(
            "/query/cursor", "The cursor is malformed; pass a next_cursor as returned.", "cursor"
        ) from exc


def _aware_utc(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive timestamp")
    # Out-of-range instants (year 1 at +23:59) overflow here rather than in the driver.
    return moment.astimezone(UTC)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    return _decode(cursor, _aware_utc)


def decode_position_cursor(cursor: str) -> tuple[int, uuid.UUID]:
    return _decode(cursor, int)


def keyset_by_position(
    stmt: sa.Select[Any], position_col: Any, id_col: Any, params: PageParams
) -> sa.Select[Any]:
    """For ordered children (agenda items, plan steps): ``position`` ascending, then id."""
    if params.cursor:
        position, ident = decode_position_cursor(params.cursor)
        stmt = stmt.where(sa.tuple_(position_col, id_col) > sa.tuple_(position, ident))
    return stmt.order_by(position_col, id_col).limit(params.limit + 1)


def by_created(row: Any) -> list[Any]:
    return [row.created_at, row.id]


def by_position(row: Any) -> list[Any]:
    return [row.position, row.id]


def record_by_created(row: Any) -> list[Any]:
    return [row["created_at"], row["id"]]


def keyset(
    stmt: sa.Select[Any],
    created_col: Any,
    id_col: Any,
    params: PageParams,
) -> sa.Select[Any]:
    """Order newest first, start after the cursor, fetch one extra row to learn `has_more`."""
    if params.cursor:
        created, ident = decode_cursor(params.cursor)
        stmt = stmt.where(sa.tuple_(created_col, id_col) < sa.tuple_(created, ident))
    return stmt.order_by(created_col.desc(), id_col.desc()).limit(params.limit + 1)


def build_page(
    rows: Sequence[Any],
    params: PageParams,
    items: list[T],
    request: Request,
    response: Response,
    sort_key: Callable[[Any], list[Any]] = by_created,
) -> Page[T]:
    """Cut the extra row, set ``next_cursor`` and the ``Link: rel="next"`` header.
    ``sort_key`` gives the last row's values the query sorted by (see ``keyset*``)."""
    has_more = len(rows) > params.limit
    next_cursor = None
    if has_more:
        items = items[: params.limit]
        last = rows[params.limit - 1]
        next_cursor = encode_cursor(sort_key(last))
        url = request.url.include_query_params(cursor=next_cursor, limit=params.limit)
        response.headers["Link"] = f'<{url}>; rel="next"'
    # Parametrised like the route's response model (pydantic caches ``Page[X]``), so FastAPI
    # takes the page as it is instead of validating every item again.
    page_type: type[Page[T]] = Page[type(items[0])] if items else Page  # type: ignore[misc, assignment]
    return page_type(data=items, next_cursor=next_cursor, has_more=has_more)


def keyset_sql(where: Where, params: PageParams, alias: str = "") -> str:
    """The cursor condition (added to ``where``) and ``ORDER BY … LIMIT`` for a raw page,
    newest first on ``(created_at, id)``, one extra row to learn ``has_more``."""
    prefix = f"{alias}." if alias else ""
    if params.cursor:
        created, ident = decode_cursor(params.cursor)
        where.add(f"({prefix}created_at, {prefix}id) < ({{}}, {{}})", created, ident)
    # The limit is written into the text (an int of 1..MAX_LIMIT, never a parameter): with
    # it known, PostgreSQL's generic plan costs what a custom one does, so a prepared page
    # statement is planned once per connection instead of on every execution.
    limit = int(params.limit) + 1
    return f" ORDER BY {prefix}created_at DESC, {prefix}id DESC LIMIT {limit}"


def page_response(
    request: Request,
    rows: Sequence[Any],
    params: PageParams,
    shape: Callable[[Any], Any],
    sort_key: Callable[[Any], list[Any]] = record_by_created,
) -> Response:
    """The page as JSON bytes (``{data, next_cursor, has_more}``) with its ``Link`` header."""
    has_more = len(rows) > params.limit
    next_cursor = None
    headers: dict[str, str] = {}
    if has_more:
        rows = rows[: params.limit]
        next_cursor = encode_cursor(sort_key(rows[-1]))
        url = request.url.include_query_params(cursor=next_cursor, limit=params.limit)
        headers["Link"] = f'<{url}>; rel="next"'
    body = {"data": [shape(row) for row in rows], "next_cursor": next_cursor, "has_more": has_more}
    return json_response(body, headers=headers)
