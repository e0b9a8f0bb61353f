"""Schema building blocks shared by every resource."""

from __future__ import annotations

import functools
import json
import re
import uuid
import zoneinfo
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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


def _drop_nulls(schema: dict[str, Any], non_null: tuple[str, ...]) -> None:
    """Fields a PATCH may leave out but not send as null (``non_null``, refused by the
    services' ``reject_nulls``) are documented without ``null``."""
    properties = schema.get("properties", {})
    for name in non_null:
        field = properties.get(name, {})
        options = [o for o in field.get("anyOf", ()) if o != {"type": "null"}]
        if len(options) == 1:
            del field["anyOf"]
            field.update(options[0])
        elif options:
            field["anyOf"] = options


def _json_int(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


def _json_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# Integers and booleans in bodies take only their JSON type: pydantic alone also takes true
# as 1, "5" as 5, and 0, 1, "yes" or "off" as booleans, which the OpenAPI document does not
# allow. JSON_INT goes after an integer's bounds (Annotated[int, Field(ge=…), JSON_INT]),
# so the document still shows them; 5.0 stays 5.
JSON_INT = BeforeValidator(_json_int)
JsonBool = Annotated[bool, BeforeValidator(_json_bool)]


class WriteSchema(BaseModel):
    """Write schemas refuse unknown fields: a typo is an error, not a silent no-op.
    ``non_null`` names the optional fields that may not be sent as null."""

    model_config = ConfigDict(extra="forbid")
    non_null: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Here rather than in json_schema_extra, which a subclass's own model_config (its
        # examples) would replace.
        schema = handler(core_schema)
        _drop_nulls(handler.resolve_ref_schema(schema), cls.non_null)
        return schema


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
# The range applies to the time as written (its offset converts it by less than a day), so
# the OpenAPI document can state it as a pattern and a schema-valid value is never refused.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
_BODY_INSTANT = (
    r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_BODY_INSTANT_RE = re.compile(_BODY_INSTANT)
_RANGE_MESSAGE = (
    "must be an RFC 3339 date-time with an offset from year 1900 up to (not including) 2200, "
    "e.g. 2026-01-31T09:00:00Z"
)


def _body_instant(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # pydantic alone also takes numbers as Unix times, times without seconds, and years the
    # schema does not allow. A string it cannot read at all keeps pydantic's own error.
    if isinstance(value, datetime):
        return handler(value)
    if not isinstance(value, str):
        raise ValueError(_RANGE_MESSAGE)
    parsed = handler(value)
    if not _BODY_INSTANT_RE.match(value):
        raise ValueError(_RANGE_MESSAGE)
    return parsed


def _to_utc_in_range(value: datetime) -> datetime:
    # Stored and returned in UTC, so a create answers exactly what a later read does.
    if not EARLIEST_YEAR <= value.year < LATEST_YEAR:
        raise ValueError(_RANGE_MESSAGE)
    return value.astimezone(UTC)


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

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date_only(value: Any) -> Any:
    # pydantic alone also takes numbers as Unix times (0 is 1970-01-01) and date-times.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("must be a date as YYYY-MM-DD")


# A calendar date: YYYY-MM-DD, nothing else.
Day = Annotated[date, BeforeValidator(_iso_date_only)]

# RFC 3339 with an offset, from 1900 up to 2200 as written, stored and returned in UTC.
UtcDatetime = Annotated[
    AwareDatetime,
    WrapValidator(_body_instant),
    AfterValidator(_to_utc_in_range),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _BODY_INSTANT}),
]


@functools.cache
def _time_zones() -> frozenset[str]:
    """The IANA zone names, less the files zoneinfo also finds that are not zones: the
    host's ``localtime``, ``posixrules`` (a copy of some zone) and ``Factory`` ("-00")."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})


def _check_timezone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris)")
    return value


TIME_ZONE_MARKER = "x-ccapi-time-zone"


def time_zone_schema() -> dict[str, Any]:
    """The ``TimeZone`` component of the OpenAPI document: every name that is accepted."""
    return {
        "type": "string",
        "description": "An IANA time zone name.",
        "enum": sorted(_time_zones()),
        "examples": ["Europe/Paris"],
    }


TimeZone = Annotated[
    str,
    Field(min_length=1, max_length=64),
    AfterValidator(_check_timezone),
    # Replaced by a reference to the TimeZone component (app/main.py) when the OpenAPI
    # document is built: pydantic cannot point at a component it does not generate.
    WithJsonSchema({TIME_ZONE_MARKER: True}),
]


def list_response_example(item: dict[str, Any]) -> dict[str, Any]:
    return {"data": [item], "next_cursor": None, "has_more": False}
