from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import TenantResource, resource_table_args, sql_in

# The statuses a row may hold: the CHECK constraint, the API's schema and the SQL of
# the rules all read them from here.
PersonStatus = Literal["active", "inactive"]


class Person(TenantResource, table=True):
    """An employee, manager or mentor, usually mirrored from the HRIS."""

    __tablename__ = "people"
    __table_args__ = resource_table_args(
        "people",
        sa.Index("ix_people_tenant_manager", "tenant_id", "manager_id"),
        sa.Index("ix_people_tenant_email", "tenant_id", "email"),
        sa.Index("ix_people_tenant_updated", "tenant_id", "updated_at", "id"),
        # SCIM's userName: unique per tenant (the SCIM service also refuses a case variant,
        # before writing; an expression index on lower() does not round-trip through
        # Alembic's comparison).
        sa.Index("ux_people_tenant_user_name", "tenant_id", "user_name", unique=True),
        sa.CheckConstraint(sql_in("status", PersonStatus), name="status"),
    )

    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    title: str | None = Field(default=None, max_length=200)
    # Set through SCIM (/scim/v2/Users): its userName and the Enterprise User department.
    user_name: str | None = Field(default=None, max_length=256)
    department: str | None = Field(default=None, max_length=200)
    manager_id: uuid.UUID | None = Field(default=None, foreign_key="people.id", ondelete="RESTRICT")
    timezone: str = Field(default="UTC", max_length=64)
    status: str = Field(default="active", max_length=16)
    erased_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
    )
    # Set by a SCIM DELETE (which deactivates): while the person stays inactive, SCIM
    # answers 404 for them (RFC 7644 §3.6); /v1/people still shows them, inactive.
    scim_deleted_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
    )
