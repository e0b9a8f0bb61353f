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
import json
import re
import typing
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


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return _default(value)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        # What orjson refuses but JSON allows: integers beyond 64 bits (in ``metadata``).
        text = json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)
        return text.encode()


def _is_uuid(annotation: Any, *, optional: bool) -> bool:
    if annotation is uuid.UUID:
        return not optional
    args = typing.get_args(annotation)
    return optional and len(args) == 2 and uuid.UUID in args and type(None) in args


# A run of 19 digits may be an integer orjson would turn into a float (it has 64 bits).
_LONG_NUMBER = re.compile(r"\d{19}")


def loads(text: str) -> Any:
    """JSON from PostgreSQL (jsonb columns): orjson, unless a number may not fit it."""
    if not _LONG_NUMBER.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # e.g. 1e400, which jsonb stores and orjson refuses
            pass
    return json.loads(text)


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


class Shape:
    """How to build one read schema's JSON object from a row.

    The builder is generated once per schema (a function returning one dict display), so
    a row costs one dict build and no per-field dispatch; UUID columns become strings
    there (orjson would otherwise call back into Python for asyncpg's UUID subclass).
    """

    __slots__ = ("build", "schema")

    def __init__(self, schema: type[BaseModel], **builders: Builder) -> None:
        self.schema = schema
        namespace: dict[str, Any] = {"_str": str}
        entries = []
        fields = schema.model_fields
        for index, name in enumerate((*fields, *schema.model_computed_fields)):
            if name in builders:
                namespace[f"_b{index}"] = builders.pop(name)
                value = f"_b{index}(row)"
            else:
                annotation = fields[name].annotation
                if _is_uuid(annotation, optional=False):
                    value = f"_str(row[{name!r}])"
                elif _is_uuid(annotation, optional=True):
                    value = f"(None if (_v := row[{name!r}]) is None else _str(_v))"
                else:
                    value = f"row[{name!r}]"
            entries.append(f"{name!r}: {value}")
        if builders:
            raise TypeError(f"{schema.__name__} has no field(s) {sorted(builders)}")
        source = f"def build(row):\n    return {{{', '.join(entries)}}}\n"
        # B102: the source is built from a read schema's field names, checked identifiers
        exec(source, namespace)  # nosec B102
        self.build: Callable[[Record], dict[str, Any]] = namespace["build"]

    def __call__(self, row: Record) -> dict[str, Any]:
        return self.build(row)

    def many(self, rows: Any) -> list[dict[str, Any]]:
        build = self.build
        return [build(row) for row in rows or ()]


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
