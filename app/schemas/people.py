from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from app.models.person import PersonStatus as PersonStatus  # the status set lives with its table
from app.schemas.common import ExternalId, Metadata, ResourceRead, TimeZone, WriteSchema

# No \s: JSON Schema (ECMA-262) and pydantic (Rust regex) disagree on which Unicode
# characters it covers (U+0085, U+FEFF), so a value one accepted the other refused.
EMAIL_PATTERN = r"^[^@\x00-\x20]+@[^@\x00-\x20]+\.[^@\x00-\x20]+$"


class PersonFields(WriteSchema):
    name: str = Field(min_length=1, max_length=200, examples=["Ada Lovelace"])
    email: str | None = Field(
        default=None, max_length=320, pattern=EMAIL_PATTERN, examples=["ada@example.com"]
    )
    title: str | None = Field(default=None, max_length=200, examples=["Senior Engineer"])
    manager_id: uuid.UUID | None = Field(default=None, description="This person's manager.")
    timezone: TimeZone = "UTC"
    status: PersonStatus = "active"
    metadata: Metadata = Field(default_factory=dict)


# No manager_id and no external_id: "Try it out" succeeds as it is, and again.
_PERSON_EXAMPLE: JsonDict = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "title": "Senior Engineer",
    "timezone": "Europe/London",
}


class PersonCreate(PersonFields):
    model_config = ConfigDict(json_schema_extra={"examples": [_PERSON_EXAMPLE]})

    external_id: ExternalId | None = None


class PersonUpsert(PersonFields):
    """The HRIS sync body: the external id is in the path."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PERSON_EXAMPLE]})


class PersonUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Staff Engineer", "timezone": "Europe/Paris"}]}
    )

    non_null: ClassVar[tuple[str, ...]] = ("name", "timezone", "status", "metadata")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL_PATTERN)
    title: str | None = Field(default=None, max_length=200)
    manager_id: uuid.UUID | None = None
    timezone: TimeZone | None = None
    status: PersonStatus | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class PersonRead(ResourceRead):
    name: str
    email: str | None
    title: str | None
    manager_id: uuid.UUID | None
    timezone: str
    status: PersonStatus
    erased_at: datetime | None = Field(
        description="Set when the person's personal data was erased (`DELETE ?erase=true`)."
    )
