"""Conversation series: a recurring conversation (RFC 5545 RRULE in a time zone)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.models.conversation_series import SeriesStatus as SeriesStatus
from app.schemas.common import (
    EXAMPLE_EMPLOYEE_ID,
    EXAMPLE_MANAGER_ID,
    ExternalId,
    Metadata,
    ResourceRead,
    TimeZone,
    WriteSchema,
)
from app.schemas.conversations import ConversationKind, Duration
from app.schemas.rrules import check_rrule

MAX_RRULE = 500

Rrule = Annotated[
    str,
    Field(
        min_length=6,
        max_length=MAX_RRULE,
        description="An RFC 5545 recurrence rule without the `RRULE:` prefix, e.g. "
        "`FREQ=MONTHLY;BYDAY=1TU` or `FREQ=WEEKLY;INTERVAL=2;BYDAY=TH`. `FREQ` is required; "
        "`SECONDLY`, `MINUTELY` and `HOURLY` only with `COUNT`. `UNTIL` in UTC (`…Z`) or as "
        "a local time of the series' zone.",
        examples=["FREQ=WEEKLY;INTERVAL=2;BYDAY=TH"],
    ),
    AfterValidator(check_rrule),
]
# A local wall-clock time: the shape is in the schema (no offset, years 1900-2200); a date
# the shape lets through but the calendar does not (30 February) is `impossible_date`.
_LOCAL_PATTERN = (
    r"^(19[0-9][0-9]|2[01][0-9][0-9]|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"
)


def _parse_local(value: object) -> object:
    if not isinstance(value, str):
        return value
    if re.fullmatch(_LOCAL_PATTERN, value) is None:
        raise PydanticCustomError(
            "local_time",
            "must be a local time without an offset, like 2025-03-06T10:00:00; the zone is "
            "`timezone`",
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("impossible_date", "is not a date of the calendar") from None


LocalStart = Annotated[
    datetime,
    BeforeValidator(_parse_local),
    AfterValidator(lambda value: _naive(value)),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _LOCAL_PATTERN,
            "description": "The first occurrence as a local wall-clock time in `timezone`, "
            "without an offset (`2025-03-06T10:00:00`): every occurrence keeps that time of "
            "day across daylight-saving changes.",
            "examples": ["2025-03-06T10:00:00"],
        }
    ),
]


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise PydanticCustomError(
            "local_time", "must be a local time without an offset; the zone is `timezone`"
        )
    if not 1900 <= value.year <= 2200:
        raise PydanticCustomError("local_time", "must be between the years 1900 and 2200")
    return value.replace(microsecond=0)


class ConversationSeriesCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "employee_id": EXAMPLE_EMPLOYEE_ID,
                    "facilitator_id": EXAMPLE_MANAGER_ID,
                    "kind": "career",
                    "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
                    "start": "2030-01-03T10:00:00",
                    "timezone": "Europe/Berlin",
                    "duration_minutes": 45,
                }
            ]
        }
    )

    employee_id: uuid.UUID = Field(description="The employee whose career is discussed.")
    facilitator_id: uuid.UUID = Field(description="Their manager, a mentor or another person.")
    kind: ConversationKind = Field(default="career", examples=["career"])
    rrule: Rrule
    start: LocalStart
    timezone: TimeZone = Field(description="IANA time zone the occurrences are held in.")
    duration_minutes: Duration = 30
    agenda_template_id: uuid.UUID | None = Field(
        default=None,
        description="Each occurrence starts with this agenda template's items, authored by "
        "the facilitator (`GET /v1/agenda-templates`; a built-in's id or one of yours).",
        examples=["00000000-0000-7000-8000-00000000a001"],
    )
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class ConversationSeriesUpdate(WriteSchema):
    """What a PATCH may change. A new `rrule`, `start`, `timezone` or `duration_minutes`
    regenerates the occurrences that have not started yet; the parties and the kind stay
    (end the series and create another)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"rrule": "FREQ=MONTHLY;BYDAY=1TU"}]})

    non_null: ClassVar[tuple[str, ...]] = (
        "rrule",
        "start",
        "timezone",
        "duration_minutes",
        "metadata",
    )

    rrule: Rrule | None = None
    start: LocalStart | None = None
    timezone: TimeZone | None = None
    duration_minutes: Duration | None = None
    agenda_template_id: uuid.UUID | None = Field(
        default=None,
        description="The template of occurrences created from now on (null: none); those "
        "already created keep their agenda.",
    )
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class ConversationSeriesRead(ResourceRead):
    employee_id: uuid.UUID
    facilitator_id: uuid.UUID
    kind: ConversationKind
    status: SeriesStatus = Field(
        examples=["active"],
        description="`active` (occurrences are created), `paused` or `ended` (none are).",
    )
    rrule: str = Field(examples=["FREQ=WEEKLY;INTERVAL=2;BYDAY=TH"])
    start: Annotated[
        datetime,
        WithJsonSchema(
            {
                "type": "string",
                "pattern": _LOCAL_PATTERN,
                "description": "The first occurrence, local wall-clock time in `timezone` "
                "(no offset).",
                "examples": ["2025-03-06T10:00:00"],
            }
        ),
    ]
    timezone: str = Field(examples=["Europe/Berlin"])
    duration_minutes: int = Field(examples=[45])
    agenda_template_id: uuid.UUID | None = Field(
        description="The agenda template each new occurrence starts with; null for none.",
        examples=["00000000-0000-7000-8000-00000000a001"],
    )


class ConversationSeriesInvitation(ConversationSeriesRead):
    """The `data` of every `conversation_series.*` event: the series with its calendar."""

    ics: str | None = Field(
        description="The series' iCalendar (RFC 5545) as "
        "`GET /v1/conversation-series/{id}/calendar.ics` answers the platform at that moment: "
        "send it as the invitation to the whole series."
    )
