from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from app.core.errors import Problem
from app.models.person import PersonStatus as PersonStatus  # the status set lives with its table
from app.schemas.common import (
    ExternalId,
    Metadata,
    ReadSchema,
    ResourceRead,
    TimeZone,
    WriteSchema,
)

# No \s: JSON Schema (ECMA-262) and pydantic (Rust regex) disagree on which Unicode
# characters it covers (U+0085, U+FEFF), so a value one accepted the other refused.
EMAIL_PATTERN = r"^[^@\x00-\x20]+@[^@\x00-\x20]+\.[^@\x00-\x20]+$"


class PersonProfile(WriteSchema):
    name: str = Field(min_length=1, max_length=200, examples=["Ada Lovelace"])
    email: str | None = Field(
        default=None, max_length=320, pattern=EMAIL_PATTERN, examples=["ada@example.com"]
    )
    title: str | None = Field(default=None, max_length=200, examples=["Senior Engineer"])
    timezone: TimeZone = "UTC"
    status: PersonStatus = "active"
    metadata: Metadata = Field(default_factory=dict)


class PersonFields(PersonProfile):
    manager_id: uuid.UUID | None = Field(default=None, description="This person's manager.")


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


# The batch sync -------------------------------------------------------------------------

MAX_BATCH = 1000


class PersonBatchItem(PersonProfile):
    """One person of a batch: replaces their fields like the upsert by external id."""

    external_id: ExternalId
    manager_external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The manager's external id: a person of this batch (in any order) or "
        "already in your tenant. Absent or null: no manager.",
    )


class PersonBatch(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "people": [
                        {
                            "external_id": "HRIS-EXAMPLE-2",
                            "name": "Grace Hopper",
                            "manager_external_id": "HRIS-EXAMPLE-1",
                        },
                        {"external_id": "HRIS-EXAMPLE-1", "name": "Ada Lovelace"},
                    ],
                    "atomic": False,
                }
            ]
        }
    )

    people: list[PersonBatchItem] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Up to 1,000 people, each with its `external_id` (unique in the batch). An "
        "item that does not fit this schema refuses the whole request (422, its pointers name "
        "the item); items that fit but cannot be written (duplicate external id, unknown "
        "manager, cycle) are reported per item.",
    )
    atomic: bool = Field(
        default=False,
        description="`true`: all or nothing (any bad item refuses the batch with 422 and "
        "writes nothing). `false`: good items are written, bad ones reported.",
    )


BatchResult = Literal["created", "updated", "unchanged", "error"]


class PersonBatchItemResult(ReadSchema):
    index: int = Field(description="The item's position in `people`, from 0.")
    external_id: str | None
    result: BatchResult
    person: PersonRead | None = Field(description="The person as written (null on error).")
    problem: Problem | None = Field(
        description="Why the item was refused (null unless `result` is `error`); its "
        "`errors` point into the request body (`/body/people/3/manager_external_id`)."
    )


class PersonBatchRead(ReadSchema):
    results: list[PersonBatchItemResult] = Field(description="One per item, in input order.")
