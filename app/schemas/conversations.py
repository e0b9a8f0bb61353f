"""Conversations, their agenda items and notes: what clients send and what they get back."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from app.models.conversation import (
    ConversationStatus as ConversationStatus,  # the status set lives with its table
)
from app.schemas.action_plans import ActionItemRead
from app.schemas.common import (
    EXAMPLE_EMPLOYEE_ID,
    EXAMPLE_MANAGER_ID,
    JSON_INT,
    ExternalId,
    JsonBool,
    Metadata,
    ReadSchema,
    ResourceRead,
    TimeZone,
    UtcDatetime,
    WriteSchema,
)

ConversationKind = Literal["career", "mentorship", "skip_level", "stay"]
AgendaCategory = Literal[
    "aspirations", "strengths", "growth_areas", "opportunities", "feedback", "other"
]
NoteVisibility = Literal["shared", "private"]
AgendaVisibility = Literal["shared", "sealed"]

MIN_DURATION, MAX_DURATION = 5, 480


def _check_http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError("must be an http or https URL") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http or https URL")
    return value


StartTime = Annotated[
    UtcDatetime,
    Field(
        description="RFC 3339 with an offset (`Z` or `+01:00`), from 1900 up to 2200; "
        "returned in UTC. Times without an offset are refused.",
        examples=["2025-03-04T09:30:00+01:00"],
    ),
]
Duration = Annotated[
    int,
    Field(
        ge=MIN_DURATION,
        le=MAX_DURATION,
        description="Length in minutes, 5 to 480.",
        examples=[45],
    ),
    JSON_INT,
]
Position = Annotated[int, Field(ge=0, le=10_000), JSON_INT]
MeetingUrl = Annotated[
    str,
    # The pattern states in the OpenAPI document what the check accepts: printable ASCII
    # (others percent-encoded), a host after http:// or https://, no user info. No \s: JSON
    # Schema and pydantic's regex engine disagree on which Unicode characters it covers.
    Field(
        max_length=2000,
        pattern=r'^https?://[!"$-.0-9;->A-Z\\^-~]+(:[0-9]{1,5})?([/?#][!-~]*)?$',
        examples=["https://meet.example.com/ada-grace"],
    ),
    AfterValidator(_check_http_url),
]
Location = Annotated[str, Field(max_length=500, examples=["Room 4.12, London office"])]
Objectives = Annotated[
    str,
    Field(
        max_length=10_000,
        examples=["Understand what it takes to move into a staff engineer role."],
    ),
]
Summary = Annotated[
    str,
    Field(
        max_length=50_000,
        examples=["Agreed to aim for staff engineer within 18 months; two goals drafted."],
    ),
]
Reason = Annotated[
    str, Field(min_length=1, max_length=2000, examples=["Facilitator is travelling that week."])
]


# Conversations ---------------------------------------------------------------------------


class ConversationCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "employee_id": EXAMPLE_EMPLOYEE_ID,
                    "facilitator_id": EXAMPLE_MANAGER_ID,
                    "kind": "career",
                    "duration_minutes": 45,
                    "meeting_url": "https://meet.example.com/ada-grace",
                    "employee_objectives": "Understand what it takes to move into a staff "
                    "engineer role.",
                }
            ]
        }
    )

    employee_id: uuid.UUID = Field(description="The employee whose career is discussed.")
    facilitator_id: uuid.UUID = Field(
        description="Their manager, a mentor or another person; must differ from the employee."
    )
    kind: ConversationKind = Field(default="career", examples=["career"])
    scheduled_start: StartTime | None = Field(
        default=None,
        description="A proposed start; the conversation stays a `draft` until "
        "`POST /v1/conversations/{id}/schedule`.",
    )
    duration_minutes: Duration = 30
    timezone: TimeZone | None = Field(
        default=None,
        description="IANA time zone the meeting is held in; defaults to the employee's.",
    )
    location: Location | None = None
    meeting_url: MeetingUrl | None = None
    employee_objectives: Objectives | None = None
    facilitator_objectives: Objectives | None = Field(
        default=None, examples=["Share the promotion criteria and the opportunities coming up."]
    )
    summary: Summary | None = None
    template_id: uuid.UUID | None = Field(
        default=None,
        description="An agenda template (`GET /v1/agenda-templates`): its items are added "
        "to the agenda, in order, after any already there, authored by the facilitator.",
    )
    aspiration_version_id: uuid.UUID | None = Field(
        default=None,
        description="The version of the employee's aspiration it discusses "
        "(`GET /v1/people/{id}/aspiration`); must be the employee's.",
    )
    assessment_version_id: uuid.UUID | None = Field(
        default=None,
        description="The version of the employee's assessment it discusses; must be the "
        "employee's.",
    )
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class ConversationUpdate(WriteSchema):
    """Fields a PATCH may change; which ones depends on the status (see the guide)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "location": "Room 4.2",
                    "employee_objectives": "Understand what a staff role asks of me.",
                }
            ]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = ("kind", "duration_minutes", "timezone", "metadata")

    kind: ConversationKind | None = None
    scheduled_start: StartTime | None = Field(
        default=None, description="Only while `draft`; use `…/reschedule` once scheduled."
    )
    duration_minutes: Duration | None = None
    timezone: TimeZone | None = None
    location: Location | None = None
    meeting_url: MeetingUrl | None = None
    employee_objectives: Objectives | None = None
    facilitator_objectives: Objectives | None = None
    summary: Summary | None = None
    aspiration_version_id: uuid.UUID | None = Field(
        default=None, description="The employee's aspiration version it discusses (or null)."
    )
    assessment_version_id: uuid.UUID | None = Field(
        default=None, description="The employee's assessment version it discusses (or null)."
    )
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class ConversationSchedule(WriteSchema):
    scheduled_start: StartTime | None = Field(
        default=None, description="Required unless the draft already has a `scheduled_start`."
    )
    duration_minutes: Duration | None = None
    timezone: TimeZone | None = None
    template_id: uuid.UUID | None = Field(
        default=None,
        description="An agenda template (`GET /v1/agenda-templates`): its items are added "
        "to the agenda, in order, after any already there, authored by the facilitator.",
    )


class ConversationReschedule(WriteSchema):
    scheduled_start: StartTime = Field(description="The new start; must differ from the current.")
    reason: Reason | None = Field(default=None, description="Why it moved; kept in the history.")
    duration_minutes: Duration | None = None
    timezone: TimeZone | None = None


class ConversationComplete(WriteSchema):
    summary: Summary | None = Field(default=None, description="Replaces the summary if sent.")
    completed_at: StartTime | None = Field(
        default=None,
        description="When it took place, to import history: not in the future and not "
        "before `scheduled_start` (default: now).",
    )


class ConversationCancel(WriteSchema):
    reason: Reason


class ConversationPrepare(WriteSchema):
    person_id: uuid.UUID | None = Field(
        default=None,
        description="The employee or the facilitator. Required without `Acting-Person`; "
        "with it, defaults to the acting person, the only one they may name.",
    )


class RescheduleRead(ReadSchema):
    previous_start: datetime | None = Field(examples=["2025-03-04T08:30:00Z"])
    new_start: datetime = Field(examples=["2025-03-11T08:30:00Z"])
    reason: str | None = Field(examples=["Facilitator is travelling that week."])
    created_at: datetime


class Preparation(BaseModel):
    employee_prepared_at: datetime | None
    facilitator_prepared_at: datetime | None
    unprepared: list[uuid.UUID] = Field(
        description="The parties who have not prepared yet (employee first)."
    )
    revealed_at: datetime | None = Field(
        description="When the sealed agenda items became shared (both parties prepared, the "
        "conversation was completed or its start passed); null while nothing sealed has "
        "been revealed."
    )


class AgendaItemRead(ResourceRead):
    conversation_id: uuid.UUID
    author_id: uuid.UUID
    topic: str = Field(examples=["Path to staff engineer"])
    category: AgendaCategory = Field(examples=["aspirations"])
    position: int = Field(description="0-based order on the agenda.", examples=[0])
    discussed: bool
    notes: str | None = Field(examples=["Needs more cross-team design work."])
    visibility: AgendaVisibility = Field(
        description="`sealed`: only its author sees it until the preparation is revealed.",
        examples=["shared"],
    )
    template_id: uuid.UUID | None = Field(
        description="The agenda template it was created from (`template_id` on create or "
        "schedule); null for items added by hand."
    )
    prompt: str | None = Field(
        description="The template item's guiding question; null for items added by hand.",
        examples=["Where would you like your career to be in two to three years?"],
    )
    carried_from_id: uuid.UUID | None = Field(
        description="For a series' occurrence: the item of an earlier occurrence this one was "
        "carried forward from (it was not discussed there); null otherwise."
    )


class ConversationRead(ResourceRead):
    employee_id: uuid.UUID
    facilitator_id: uuid.UUID
    kind: ConversationKind
    status: ConversationStatus = Field(examples=["scheduled"])
    scheduled_start: datetime | None = Field(examples=["2025-03-04T08:30:00Z"])
    duration_minutes: int = Field(examples=[45])
    timezone: str = Field(examples=["Europe/Paris"])
    location: str | None
    meeting_url: str | None
    employee_objectives: str | None
    facilitator_objectives: str | None
    summary: str | None
    reschedule_count: int = Field(examples=[1])
    reschedules: list[RescheduleRead] = Field(description="Every move, oldest first.")
    preparation: Preparation
    completed_at: datetime | None
    canceled_at: datetime | None
    cancel_reason: str | None
    agenda_items: list[AgendaItemRead] = Field(
        description="The agenda, ordered by `position`. Notes are never included."
    )
    series_id: uuid.UUID | None = Field(
        default=None,
        description="The series (`/v1/conversation-series`) this conversation is an occurrence "
        "of; null for one created by hand.",
    )
    occurrence_start: datetime | None = Field(
        default=None,
        description="For a series' occurrence: the start the series' rule gave it (its "
        "`RECURRENCE-ID` in the series' calendar), which stays when the occurrence is "
        "rescheduled; null for a conversation created by hand.",
        examples=["2025-03-04T08:30:00Z"],
    )
    open_action_items: list[ActionItemRead] | None = Field(
        default=None,
        description="For a series' occurrence: the action items not yet `done` of the action "
        "plans tied to any occurrence of the series (`conversation_id`), oldest plan first; "
        "a person sees those they own, are assigned or facilitate. Read live: a change of an "
        "item does not change the conversation's `ETag`. Null for a conversation outside a "
        "series.",
    )
    aspiration_version_id: uuid.UUID | None = Field(
        default=None, description="The employee's aspiration version it discussed, if recorded."
    )
    assessment_version_id: uuid.UUID | None = Field(
        default=None, description="The employee's assessment version it discussed, if recorded."
    )

    @computed_field(description="`scheduled_start` + `duration_minutes`.")  # type: ignore[prop-decorator]
    @property
    def scheduled_end(self) -> datetime | None:
        if self.scheduled_start is None:
            return None
        return self.scheduled_start + timedelta(minutes=self.duration_minutes)


class ConversationInvitation(ConversationRead):
    """The `data` of `conversation.scheduled`, `.rescheduled` and `.canceled`: the
    conversation with its calendar invitation."""

    ics: str | None = Field(
        description="The conversation's iCalendar invitation (RFC 5545): the text "
        "`GET /v1/conversations/{id}/calendar.ics` answers the platform at that moment "
        "(shared agenda only); `METHOD:CANCEL` for `conversation.canceled`. Null when the "
        "conversation has no start (a draft canceled before it got one)."
    )


# Agenda items ----------------------------------------------------------------------------

Topic = Annotated[str, Field(min_length=1, max_length=500, examples=["Path to staff engineer"])]
ItemNotes = Annotated[str, Field(max_length=10_000, examples=["Needs more cross-team work."])]


class AgendaItemCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "author_id": EXAMPLE_EMPLOYEE_ID,
                    "topic": "Path to staff engineer",
                    "category": "aspirations",
                }
            ]
        }
    )

    author_id: uuid.UUID = Field(
        description="The employee or the facilitator; with `Acting-Person`, the acting person."
    )
    topic: Topic
    category: AgendaCategory = Field(default="other", examples=["aspirations"])
    position: Position | None = Field(
        default=None,
        description="Where to insert it (0 = first); defaults to the end.",
        examples=[0],
    )
    discussed: JsonBool = False
    notes: ItemNotes | None = None
    visibility: AgendaVisibility = Field(
        default="shared",
        description="`shared`: whoever sees the conversation sees it. `sealed`: only its "
        "author, until both parties have prepared, the conversation is completed or its "
        "scheduled start passes; then it becomes shared for good. Fixed at creation.",
        examples=["shared"],
    )
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class AgendaItemUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"discussed": True, "notes": "Agreed to revisit after the Q3 review."}]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = ("topic", "category", "position", "discussed", "metadata")
    topic: Topic | None = None
    category: AgendaCategory | None = None
    position: Position | None = Field(
        default=None,
        description="Move the item here; the others are renumbered 0..n-1.",
        examples=[0],
    )
    discussed: JsonBool | None = None
    notes: ItemNotes | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


# Notes -----------------------------------------------------------------------------------

NoteBody = Annotated[
    str,
    Field(
        min_length=1,
        max_length=50_000,
        examples=["Ada wants to lead the billing migration next quarter."],
    ),
]


class NoteCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "author_id": EXAMPLE_MANAGER_ID,
                    "visibility": "shared",
                    "body": "Ada wants to lead a project before the next review.",
                }
            ]
        }
    )

    author_id: uuid.UUID = Field(
        description="The employee or the facilitator; acting for a person, that person."
    )
    visibility: NoteVisibility = Field(
        default="shared",
        description="`shared`: whoever sees the conversation, and events. `private`: only "
        "its author (read with `Acting-Person`), never the platform; never in events. Fixed "
        "at creation.",
        examples=["shared"],
    )
    body: NoteBody
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class NoteUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"body": "Ada wants to lead the next design review; Grace will pair with her."}
            ]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = ("body", "metadata")
    body: NoteBody | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class NoteRead(ResourceRead):
    conversation_id: uuid.UUID
    author_id: uuid.UUID
    visibility: NoteVisibility
    body: str = Field(examples=["Ada wants to lead the billing migration next quarter."])
