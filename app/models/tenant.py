from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from app.models.base import MetadataField, TimestampField, sql_in, uuid7

ManagersSeeReports = Literal["none", "direct", "chain"]
# What a manager change does to the open work the old manager held for the person
# (app/services/reorg.py): ``reassign`` it to the new manager, or ``keep`` it where it is.
OnManagerChange = Literal["keep", "reassign"]


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    __table_args__ = (
        sa.CheckConstraint(
            sql_in("managers_see_reports", ManagersSeeReports), name="managers_see_reports"
        ),
        sa.CheckConstraint("cadence_warning_days BETWEEN 0 AND 365", name="cadence_warning_days"),
        sa.CheckConstraint(
            "reschedule_alert_threshold BETWEEN 1 AND 100", name="reschedule_alert_threshold"
        ),
        sa.CheckConstraint("series_horizon_days BETWEEN 1 AND 366", name="series_horizon_days"),
        sa.CheckConstraint(
            "retention_private_notes_days BETWEEN 1 AND 3650", name="retention_private_notes_days"
        ),
        sa.CheckConstraint(
            "retention_webhook_deliveries_days BETWEEN 1 AND 3650",
            name="retention_webhook_deliveries_days",
        ),
        sa.CheckConstraint(
            "retention_events_days BETWEEN 1 AND 3650", name="retention_events_days"
        ),
        sa.CheckConstraint(sql_in("on_manager_change", OnManagerChange), name="on_manager_change"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(max_length=200)
    metadata_: dict[str, Any] = MetadataField()
    # Scheduler lead times and grace periods (minutes), configurable per tenant.
    follow_up_reminder_lead_minutes: int = Field(
        default=1440, sa_column_kwargs={"server_default": sa.text("1440")}
    )
    follow_up_overdue_grace_minutes: int = Field(
        default=1440, sa_column_kwargs={"server_default": sa.text("1440")}
    )
    conversation_reminder_lead_minutes: int = Field(
        default=60, sa_column_kwargs={"server_default": sa.text("60")}
    )
    # Who of an employee's management chain sees their conversations, goals and plans.
    managers_see_reports: str = Field(
        default="chain", max_length=10, sa_column_kwargs={"server_default": "chain"}
    )
    # Browser origins (``https://hr.example.com``) whose pages may call the API with this
    # tenant's person session tokens (CORS, app/core/middleware.py).
    cors_origins: list[str] = Field(
        default_factory=list,
        sa_type=ARRAY(sa.Text()),
        nullable=False,
        sa_column_kwargs={"server_default": sa.text("'{}'::text[]")},
    )
    # Cadence SLA (app/services/cadence.py): the most days an active employee may go without
    # a completed conversation of a kind (``{"career": 90}``; a kind not named has none),
    # the warning ahead of it, and the reschedules after which a conversation is flagged.
    cadence_days: dict[str, int] = Field(
        default_factory=dict,
        sa_type=JSONB(),
        nullable=False,
        sa_column_kwargs={"server_default": sa.text("'{}'::jsonb")},
    )
    cadence_warning_days: int = Field(
        default=14, sa_column_kwargs={"server_default": sa.text("14")}
    )
    reschedule_alert_threshold: int = Field(
        default=3, sa_column_kwargs={"server_default": sa.text("3")}
    )
    # How far ahead the scheduler creates a series' occurrences (app/services/series.py).
    series_horizon_days: int = Field(default=35, sa_column_kwargs={"server_default": sa.text("35")})
    # Retention (app/services/retention.py): the scheduler purges private notes, delivered
    # webhook deliveries and events older than this many days (private notes: None = kept).
    retention_private_notes_days: int | None = Field(default=None)
    retention_webhook_deliveries_days: int = Field(
        default=30, sa_column_kwargs={"server_default": sa.text("30")}
    )
    retention_events_days: int = Field(
        default=400, sa_column_kwargs={"server_default": sa.text("400")}
    )
    # Re-orgs: whether a person's new manager takes over the old manager's open work for them.
    on_manager_change: str = Field(
        default="reassign", max_length=10, sa_column_kwargs={"server_default": "reassign"}
    )
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()
