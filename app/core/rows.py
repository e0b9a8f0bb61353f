"""Read models straight from database rows: shaped once, serialised by orjson.

A read of our own rows needs no validation: the database already holds valid values. A
``Shape`` lists a read schema's fields once (in the schema's order, which is the order
pydantic would write them) and turns an asyncpg record into the dict the schema would
dump, taking each plain field from the column of the same name and the rest (nested
lists, computed fields) from small functions. ``dumps`` writes it exactly as pydantic's
JSON mode does: UTC instants end in ``Z``, UUIDs are strings. ``tests/test_rows.py``
checks every shape against its schema's own serialisation.

Routes that answer with these bytes declare ``response_model=`` for the documentation and
return a ``Response`` (``json_response``), so FastAPI neither validates nor re-encodes it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import orjson
from fastapi import Response
from pydantic import BaseModel


class Record(Protocol):
    """An asyncpg record, or a dict of the same columns."""

    def __getitem__(self, key: str, /) -> Any: ...


Builder = Callable[[Record], Any]


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):  # asyncpg's UUID subclass
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z)


class Shape:
    """How to build one read schema's JSON object from a row."""

    __slots__ = ("plan", "schema")

    def __init__(self, schema: type[BaseModel], **builders: Builder) -> None:
        self.schema = schema
        plan: list[tuple[str, str | Builder]] = []
        for name in (*schema.model_fields, *schema.model_computed_fields):
            plan.append((name, builders.pop(name, name)))
        if builders:
            raise TypeError(f"{schema.__name__} has no field(s) {sorted(builders)}")
        self.plan = tuple(plan)

    def __call__(self, row: Record) -> dict[str, Any]:
        return {
            name: row[source] if source.__class__ is str else source(row)  # type: ignore[operator]
            for name, source in self.plan
        }

    def many(self, rows: Any) -> list[dict[str, Any]]:
        return [self(row) for row in rows or ()]


def etag_for(ident: Any, updated_at: datetime) -> str:
    """A strong validator: changes whenever the row's ``updated_at`` does (same as
    ``services.common.etag_of``)."""
    raw = f"{ident}:{updated_at.isoformat()}".encode()
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def json_response(
    body: Any,
    *,
    status_code: int = 200,
    etag: str | None = None,
    location: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An ``application/json`` answer from a shaped dict (or bytes already dumped)."""
    content = body if isinstance(body, bytes) else dumps(body)
    out = dict(headers) if headers else {}
    if etag is not None:
        out["ETag"] = etag
    if location is not None:
        out["Location"] = location
    return Response(content, status_code=status_code, headers=out, media_type="application/json")
