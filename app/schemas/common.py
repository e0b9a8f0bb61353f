"""Schema building blocks shared by every resource."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

MAX_METADATA_BYTES = 8 * 1024
MAX_METADATA_KEYS = 50


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata may hold at most {MAX_METADATA_KEYS} keys")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata may be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_check_metadata),
    Field(
        description="Free key-value data for integrators (at most 50 keys, 8 KiB).",
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


class WriteSchema(BaseModel):
    """Write schemas refuse unknown fields: a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ResourceRead(ReadSchema):
    id: uuid.UUID
    external_id: str | None = None
    # Table models name the attribute `metadata_`; Core rows carry the column, `metadata`.
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    created_at: datetime
    updated_at: datetime


def _check_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris)") from exc
    return value


TimeZone = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["Europe/Paris"]),
    AfterValidator(_check_timezone),
]


def list_response_example(item: dict[str, Any]) -> dict[str, Any]:
    return {"data": [item], "next_cursor": None, "has_more": False}
