"""Webhook endpoints, deliveries and attempts as the API exposes them; the payload envelope."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.core.event_types import EVENT_TYPES
from app.models.webhook import (
    DeliveryStatus as DeliveryStatus,  # the status set lives with its table
)
from app.schemas.common import ExternalId, JsonBool, Metadata, ReadSchema, ResourceRead, WriteSchema

PayloadStyle = Literal["full", "thin"]
AttemptResult = Literal["succeeded", "http_error", "timeout", "connection_error", "refused"]

MAX_EVENT_TYPES = 100


def _known_event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"'{value}' is not an event type (see GET /v1/event-types)")
    return value


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


EventTypeName = Annotated[
    str,
    Field(max_length=100, json_schema_extra={"enum": sorted(EVENT_TYPES)}),
    AfterValidator(_known_event_type),
]
EventTypeList = Annotated[
    list[EventTypeName],
    Field(
        max_length=MAX_EVENT_TYPES,
        description="Event types to receive (see `GET /v1/event-types`); empty means all.",
        examples=[["person.created", "goal.agreed", "follow_up.due"]],
    ),
    AfterValidator(_unique),
]
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_H = r"[0-9A-Fa-f]{1,4}"
# An IPv6 address as Python's ipaddress reads it (RFC 4291 forms, IPv4 tail included).
_IPV6 = (
    rf"(({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}|({_H}:){{1,5}}(:{_H}){{1,2}}"
    rf"|({_H}:){{1,4}}(:{_H}){{1,3}}|({_H}:){{1,3}}(:{_H}){{1,4}}|({_H}:){{1,2}}(:{_H}){{1,5}}"
    rf"|{_H}:(:{_H}){{1,6}}|:((:{_H}){{1,7}}|:)|({_H}:){{6}}{_IPV4}|::({_H}:){{0,5}}{_IPV4}"
    rf"|{_H}::({_H}:){{0,4}}{_IPV4}|({_H}:){{2}}:({_H}:){{0,3}}{_IPV4}"
    rf"|({_H}:){{3}}:({_H}:){{0,2}}{_IPV4}|({_H}:){{4}}:({_H}:)?{_IPV4}|({_H}:){{5}}:{_IPV4})"
)
WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        # The form the service checks (services/ssrf.py parse_url): a scheme, a host name,
        # IPv4 or [IPv6] address, a port that exists, then printable ASCII without # (others
        # percent-encoded: no \s, which JSON Schema and pydantic read differently). Whether
        # the host resolves to an address deliveries may reach is known only when it is sent.
        pattern=rf"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9.-]+|\[{_IPV6}\])"
        r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
        r'([/?][!"$-~]*)?$',
        description="Where deliveries are POSTed: `https://`, on a public address.",
        examples=["https://hris.example.com/hooks/ccapi"],
    ),
]
PayloadField = Annotated[
    PayloadStyle,
    Field(
        description="`full`: `data` is the resource as the API returns it; `thin`: `data` "
        "only names it (`object`, `id`) and you fetch what you need."
    ),
]


class WebhookEndpointCreate(WriteSchema):
    url: WebhookUrl
    description: str | None = Field(default=None, max_length=500, examples=["Workday sync"])
    event_types: EventTypeList = Field(default_factory=list)
    payload: PayloadField = "full"
    enabled: JsonBool = True
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class WebhookEndpointUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"description": "Workday sync (production)", "enabled": True}]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = ("url", "event_types", "payload", "enabled", "metadata")
    url: WebhookUrl | None = None
    description: str | None = Field(default=None, max_length=500)
    event_types: EventTypeList | None = None
    payload: PayloadField | None = None
    enabled: JsonBool | None = Field(
        default=None,
        description="`true` re-enables an endpoint the system disabled (clearing "
        "`disabled_reason`); failed deliveries are not resent: use `recover` for that.",
    )
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class WebhookEndpointRead(ResourceRead):
    url: str
    description: str | None
    event_types: list[str] = Field(description="Subscribed event types; empty means all.")
    payload: PayloadStyle
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why the system disabled the endpoint (a 410 answer, or failing for days); "
        "null when enabled or disabled by you."
    )
    disabled_at: datetime | None


class WebhookEndpointCreated(WebhookEndpointRead):
    secret: str = Field(
        description="The signing secret (`whsec_…`); also at `GET …/{id}/secret`.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7mDcb4nKHdk="],
    )


class WebhookSecret(BaseModel):
    secret: str = Field(
        description="Verify deliveries with this secret (Standard Webhooks `whsec_…`).",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7mDcb4nKHdk="],
    )
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation, deliveries also carry a signature made with the "
        "previous secret until this time."
    )


class WebhookAttemptRead(ReadSchema):
    id: uuid.UUID
    attempt: int = Field(description="1 for the first attempt of the delivery, then 2, 3, …")
    url: str
    started_at: datetime
    duration_ms: int
    result: AttemptResult
    status_code: int | None = Field(description="The HTTP status; null if none came back.")
    response_body: str | None = Field(description="The first 4 KiB of the response body.")
    error: str | None = Field(
        description="What went wrong: timeout, connection error, refused address, …"
    )


class WebhookDeliveryRead(ReadSchema):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID = Field(
        description="The event delivered; sent as the `webhook-id` header (stable across "
        "retries, so receivers can deduplicate) and readable at `GET /v1/events/{id}`."
    )
    event_type: str = Field(examples=["goal.agreed"])
    status: DeliveryStatus = Field(
        description="`pending` (queued, being sent or waiting to retry), `succeeded`, or "
        "`failed` (every attempt of the schedule failed, or the endpoint was disabled)."
    )
    attempt_count: int
    next_attempt_at: datetime | None = Field(description="When it is next due; null once done.")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookDeliveryDetail(WebhookDeliveryRead):
    payload: dict[str, Any] = Field(description="The body sent, exactly as signed.")
    attempts: list[WebhookAttemptRead] = Field(
        description="Attempts, oldest first (the latest 100)."
    )


class RecoverResult(BaseModel):
    endpoint_id: uuid.UUID
    since: datetime
    recovered: int = Field(description="Failed deliveries queued again.")


class ThinData(BaseModel):
    """The `data` of a thin payload: which object the event is about."""

    object: str = Field(examples=["goal"], description="The subject's type.")
    id: uuid.UUID = Field(description="The subject's id.")


class WebhookPayload(BaseModel):
    """The body of every delivery."""

    type: str = Field(examples=["goal.agreed"])
    timestamp: datetime = Field(description="When the event happened.")
    data: dict[str, Any]
