from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from app.models.tenant import ManagersSeeReports, OnManagerChange, Tenant
from app.schemas.common import JSON_INT, Metadata, ReadSchema, WriteSchema
from app.schemas.conversations import ConversationKind

Scope = Literal["read", "write", "webhooks", "scim"]
ALL_SCOPES: list[Scope] = ["read", "write", "webhooks"]


class TenantCreate(WriteSchema):
    name: str = Field(min_length=1, max_length=200, examples=["Acme Corp"])
    metadata: Metadata = Field(default_factory=dict)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(value: str) -> str:
    """An origin as a browser sends it: ``scheme://host[:port]``, lower case, without the
    scheme's default port (a trailing ``/`` is dropped; any other path is refused)."""
    text = value.strip().removesuffix("/")
    if not text.isascii():
        raise ValueError("an origin is ASCII (write an international domain in punycode)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("not an origin like https://hr.example.com") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("an origin's scheme is http or https")
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None:
        raise ValueError("an origin names a host, like https://hr.example.com")
    if parts.path or parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError("an origin has no path, query or fragment")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


# The pattern tells clients (and the docs) the shape before the validator normalises it:
# http or https, a host name or IPv4 address (or the IPv6 loopback `[::1]`), an optional port.
_ORIGIN_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://(([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?|\[::1\])"
    r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$"
)
CorsOrigin = Annotated[
    str,
    Field(min_length=1, max_length=300, pattern=_ORIGIN_PATTERN),
    AfterValidator(_origin),
]


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


MAX_CADENCE_DAYS = 3650
CadenceDays = Annotated[int, Field(ge=1, le=MAX_CADENCE_DAYS), JSON_INT]
WarningDays = Annotated[int, Field(ge=0, le=365), JSON_INT]
Threshold = Annotated[int, Field(ge=1, le=100), JSON_INT]
_CADENCE_DESCRIPTION = (
    "Per conversation kind, the most days an active employee may go without a completed "
    "conversation of that kind (from their last one, or from when the person was created); "
    "`cadence.due_soon` and `cadence.breached` follow it. A kind not named has no cadence."
)


RetentionDays = Annotated[int, Field(ge=1, le=3650), JSON_INT]
# The tenant columns behind `settings.retention` (`retention_<field>`).
RETENTION_FIELDS = ("private_notes_days", "webhook_deliveries_days", "events_days")


class RetentionSettings(ReadSchema):
    """How long the scheduler keeps data before purging it (days, 1 to 3650)."""

    private_notes_days: int | None = Field(
        ge=1,
        le=3650,
        description="Private notes older than this (from when they were written) are deleted; "
        "null keeps them forever.",
        examples=[None],
    )
    webhook_deliveries_days: int = Field(
        ge=1,
        le=3650,
        description="Delivered (`succeeded`) webhook deliveries older than this are deleted, "
        "with their attempts. Pending and failed deliveries are never purged.",
        examples=[30],
    )
    events_days: int = Field(
        ge=1,
        le=3650,
        description="Events older than this are deleted, except those a pending or failed "
        "webhook delivery still carries.",
        examples=[400],
    )


class RetentionSettingsUpdate(WriteSchema):
    non_null: ClassVar[tuple[str, ...]] = ("webhook_deliveries_days", "events_days")
    private_notes_days: RetentionDays | None = Field(
        default=None, description="Days (1 to 3650); null keeps private notes forever."
    )
    webhook_deliveries_days: RetentionDays | None = None
    events_days: RetentionDays | None = None


class TenantSettings(ReadSchema):
    """When the scheduler sends time-driven events for this tenant."""

    @model_validator(mode="before")
    @classmethod
    def _collect_retention(cls, value: Any) -> Any:
        # A tenant row keeps the retention settings in `retention_<field>` columns.
        if isinstance(value, Tenant):
            fields = {
                name: getattr(value, name) for name in cls.model_fields if name != "retention"
            }
            fields["retention"] = {
                name: getattr(value, f"retention_{name}") for name in RETENTION_FIELDS
            }
            return fields
        return value

    follow_up_reminder_lead_minutes: int = Field(
        ge=0,
        le=60 * 24 * 30,
        description="`follow_up.reminder` fires this long before a follow-up is due.",
        examples=[1440],
    )
    follow_up_overdue_grace_minutes: int = Field(
        ge=0,
        le=60 * 24 * 30,
        description="`follow_up.overdue` fires this long after the due time if still pending.",
        examples=[1440],
    )
    conversation_reminder_lead_minutes: int = Field(
        ge=0,
        le=60 * 24 * 30,
        description="`conversation.reminder` fires this long before a scheduled conversation.",
        examples=[60],
    )
    managers_see_reports: ManagersSeeReports = Field(
        description="Which managers of an employee see the employee's conversations, goals "
        "and action plans when they act (`Acting-Person`): `none`, their `direct` manager, or "
        "their whole management `chain` (every manager above them).",
        examples=["chain"],
    )
    cors_origins: list[str] = Field(
        description="Origins (`https://hr.example.com`) whose web pages may call the API "
        "from the browser with this tenant's person session tokens (CORS). Up to 20.",
        examples=[["https://hr.example.com"]],
    )
    cadence_days: dict[ConversationKind, int] = Field(
        description=_CADENCE_DESCRIPTION, examples=[{"career": 90}]
    )
    cadence_warning_days: int = Field(
        ge=0,
        le=365,
        description="`cadence.due_soon` fires this many days before a cadence is breached.",
        examples=[14],
    )
    reschedule_alert_threshold: int = Field(
        ge=1,
        le=100,
        description="`conversation.reschedule_threshold_reached` fires once when a "
        "conversation has been rescheduled this many times.",
        examples=[3],
    )
    series_horizon_days: int = Field(
        ge=1,
        le=366,
        description="How many days ahead the scheduler creates the occurrences of active "
        "conversation series as scheduled conversations.",
        examples=[35],
    )
    retention: RetentionSettings = Field(
        description="How long private notes, delivered webhook deliveries and events are kept."
    )
    on_manager_change: OnManagerChange = Field(
        description="When a person's manager changes: `reassign` moves the open work the old "
        "manager held as their manager (unstarted career, skip-level and stay conversations "
        "and series they facilitate, pending follow-ups and open action items assigned to "
        "them) to the new manager; `keep` leaves it with the old manager.",
        examples=["reassign"],
    )


Minutes = Annotated[int, Field(ge=0, le=60 * 24 * 30), JSON_INT]
HorizonDays = Annotated[int, Field(ge=1, le=366), JSON_INT]


class TenantSettingsUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"follow_up_reminder_lead_minutes": 1440}]}
    )

    non_null: ClassVar[tuple[str, ...]] = (
        "follow_up_reminder_lead_minutes",
        "follow_up_overdue_grace_minutes",
        "conversation_reminder_lead_minutes",
        "managers_see_reports",
        "cors_origins",
        "cadence_days",
        "cadence_warning_days",
        "reschedule_alert_threshold",
        "series_horizon_days",
        "retention",
        "on_manager_change",
    )
    follow_up_reminder_lead_minutes: Minutes | None = None
    follow_up_overdue_grace_minutes: Minutes | None = None
    conversation_reminder_lead_minutes: Minutes | None = None
    managers_see_reports: ManagersSeeReports | None = None
    cors_origins: Annotated[list[CorsOrigin], AfterValidator(_distinct)] | None = Field(
        default=None,
        max_length=20,
        description="Replaces the list: `scheme://host[:port]`, http or https, no path; "
        "`[]` allows none.",
    )
    cadence_days: dict[ConversationKind, CadenceDays] | None = Field(
        default=None,
        max_length=4,
        description="Replaces the map: days (1 to 3650) per conversation kind; `{}` turns "
        "cadence off. " + _CADENCE_DESCRIPTION,
        examples=[{"career": 90}],
    )
    cadence_warning_days: WarningDays | None = None
    reschedule_alert_threshold: Threshold | None = None
    series_horizon_days: HorizonDays | None = None
    retention: RetentionSettingsUpdate | None = None
    on_manager_change: OnManagerChange | None = None


class TenantUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"settings": {"follow_up_reminder_lead_minutes": 1440}}]}
    )

    non_null: ClassVar[tuple[str, ...]] = ("name", "metadata")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: Metadata | None = None
    settings: TenantSettingsUpdate | None = None


class TenantRead(ReadSchema):
    id: uuid.UUID
    name: str
    metadata: dict[str, object] = Field(validation_alias="metadata_")
    settings: TenantSettings
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _collect_settings(cls, value: Any) -> Any:
        if isinstance(value, Tenant):
            return {
                "id": value.id,
                "name": value.name,
                "metadata_": value.metadata_,
                "settings": TenantSettings.model_validate(value),
                "created_at": value.created_at,
                "updated_at": value.updated_at,
            }
        return value


class ApiKeyCreate(WriteSchema):
    name: str = Field(default="default", min_length=1, max_length=200, examples=["HRIS sync"])
    scopes: list[Scope] = Field(
        default_factory=lambda: list(ALL_SCOPES),
        min_length=1,
        max_length=4,
        examples=[["read", "write"]],
    )


class ApiKeyRead(ReadSchema):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    secret: str = Field(
        description="The API key itself. Shown only once: store it now.",
        examples=["cck_live_5u0Jx…"],
    )


class TenantCreated(TenantRead):
    api_key: ApiKeyCreated = Field(description="A first key with every scope; shown only once.")
