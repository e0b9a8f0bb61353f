"""Agenda templates: a named, ordered list of talking points for one kind of conversation.

The tenant's own templates live here; the built-in ones every tenant starts with are
defined in code (``app/services/agenda_templates.py``) with fixed ids, so they need no rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from app.models.base import TenantResource, resource_table_args


class AgendaTemplate(TenantResource, table=True):
    """A tenant's agenda template; ``items`` is the ordered list of
    ``{"category", "title", "prompt"}`` (bounded by the API's schema)."""

    __tablename__ = "agenda_templates"
    __table_args__ = resource_table_args(
        "agenda_templates",
        sa.Index("ix_agenda_templates_tenant_updated", "tenant_id", "updated_at", "id"),
        sa.CheckConstraint("kind IN ('career', 'mentorship', 'skip_level', 'stay')", name="kind"),
    )

    name: str = Field(max_length=200)
    kind: str = Field(default="career", max_length=20)
    description: str | None = Field(default=None, max_length=2000)
    items: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_type=JSONB,
        sa_column_kwargs={"server_default": sa.text("'[]'::jsonb")},
        nullable=False,
    )
