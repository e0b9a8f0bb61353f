"""Schema building blocks shared by every resource."""

from __future__ import annotations

import functools
import json
import re
import uuid
import zoneinfo
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

MAX_METADATA_BYTES = 8 * 1024
MAX_METADATA_KEYS = 50
# Deeper values are refused: PostgreSQL and the JSON libraries stop near 255 levels, and
# a stored value must always read back (an event holding one would block the event feed).
MAX_METADATA_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_METADATA_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata may hold at most {MAX_METADATA_KEYS} keys")
    if _depth(value) > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata may nest objects and arrays at most {MAX_METADATA_DEPTH} deep")
    try:
        size = len(json.dumps(value, allow_nan=False))
    except ValueError as exc:
        raise ValueError("metadata numbers must be finite (no NaN or Infinity)") from exc
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata may be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_check_metadata),
    Field(
        description="Free key-value data for integrators (at most 50 keys, 8 KiB, objects "
        "and arrays nested at most 32 deep).",
        examples=[{"hris_department": "ENG-42"}],
    ),
]
ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="Your system's id for this object; unique per tenant.",
        examples=["HRIS-10442"],
    ),
]


# The ids the request examples use. They stand for ids of your own tenant: `ccapi demo`
# prints the demo tenant's, to paste over these in "Try it out" (tests/test_demo.py sends
# the examples so).
EXAMPLE_EMPLOYEE_ID = "0193a1e0-1111-7aaa-8bbb-000000000001"
EXAMPLE_MANAGER_ID = "0193a1e0-1111-7aaa-8bbb-000000000002"
EXAMPLE_CONVERSATION_ID = "0193a1e5-2222-7ccc-8ddd-000000000042"


class WriteSchema(BaseModel):
    """Write schemas refuse unknown fields: a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class ReadSchema(BaseModel):
    # Every field of a read is always in the answer (null when unset): the documented schema
    # says so (`required`), so generated clients need not type fields as possibly absent.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


class ResourceRead(ReadSchema):
    id: uuid.UUID
    external_id: str | None = None
    # Table models name the attribute `metadata_`; Core rows carry the column, `metadata`.
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    created_at: datetime
    updated_at: datetime


# Instants clients may send: a range where every offset converts and nothing reaches the
# edges PostgreSQL and asyncpg treat specially (asyncpg sends datetime.min as -infinity).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _to_utc_in_range(value: datetime) -> datetime:
    # Stored and returned in UTC, so a create answers exactly what a later read does.
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise ValueError("must be from 1900-01-01T00:00:00Z up to (not including) 2200-01-01")
    return moment


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$"
)


def _rfc3339_only(value: Any) -> Any:
    # pydantic alone also takes numbers as Unix times ("0.5"), and dates without a time.
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:00:00Z")


# A time filter in a query string: RFC 3339 with an offset, nothing else.
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]

# RFC 3339 with an offset, from 1900 up to 2200, stored and returned in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc_in_range)]


@functools.cache
def _time_zones() -> frozenset[str]:
    """The IANA zone names, less the files zoneinfo also finds that are not zones: the
    host's ``localtime``, ``posixrules`` (a copy of some zone) and ``Factory`` ("-00")."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})


def _check_timezone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris)")
    return value


TimeZone = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["Europe/Paris"]),
    AfterValidator(_check_timezone),
]


def list_response_example(item: dict[str, Any]) -> dict[str, Any]:
    return {"data": [item], "next_cursor": None, "has_more": False}
