"""conversation series: recurring conversations (RRULE in a time zone), the occurrences' series_id
and once-only (series_id, occurrence_start), the tenant's series_horizon_days

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 23:44:03.543078
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_series",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("facilitator_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("rrule", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('career', 'mentorship', 'skip_level', 'stay')",
            name=op.f("ck_conversation_series_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'ended')", name=op.f("ck_conversation_series_status")
        ),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 480", name=op.f("ck_conversation_series_duration")
        ),
        sa.CheckConstraint(
            "employee_id <> facilitator_id", name=op.f("ck_conversation_series_distinct_parties")
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["people.id"],
            name=op.f("fk_conversation_series_employee_id_people"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["facilitator_id"],
            ["people.id"],
            name=op.f("fk_conversation_series_facilitator_id_people"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_conversation_series_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_series")),
    )
    op.create_index(
        "ix_conversation_series_active",
        "conversation_series",
        ["id"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_conversation_series_tenant_created",
        "conversation_series",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_conversation_series_tenant_employee",
        "conversation_series",
        ["tenant_id", "employee_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_conversation_series_tenant_facilitator",
        "conversation_series",
        ["tenant_id", "facilitator_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_conversation_series_tenant_updated",
        "conversation_series",
        ["tenant_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_conversation_series_tenant_external_id",
        "conversation_series",
        ["tenant_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.add_column("conversations", sa.Column("series_id", sa.Uuid(), nullable=True))
    op.add_column(
        "conversations", sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_unique_constraint(
        "uq_conversations_series_occurrence", "conversations", ["series_id", "occurrence_start"]
    )
    op.create_foreign_key(
        op.f("fk_conversations_series_id_conversation_series"),
        "conversations",
        "conversation_series",
        ["series_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.add_column(
        "tenants",
        sa.Column(
            "series_horizon_days", sa.Integer(), server_default=sa.text("35"), nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_tenants_series_horizon_days"), "tenants", "series_horizon_days BETWEEN 1 AND 366"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_series_horizon_days"), "tenants", type_="check")
    op.drop_column("tenants", "series_horizon_days")
    op.drop_constraint(
        op.f("fk_conversations_series_id_conversation_series"), "conversations", type_="foreignkey"
    )
    op.drop_constraint("uq_conversations_series_occurrence", "conversations", type_="unique")
    op.drop_column("conversations", "occurrence_start")
    op.drop_column("conversations", "series_id")
    op.drop_index(
        "uq_conversation_series_tenant_external_id",
        table_name="conversation_series",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index("ix_conversation_series_tenant_updated", table_name="conversation_series")
    op.drop_index("ix_conversation_series_tenant_facilitator", table_name="conversation_series")
    op.drop_index("ix_conversation_series_tenant_employee", table_name="conversation_series")
    op.drop_index("ix_conversation_series_tenant_created", table_name="conversation_series")
    op.drop_index(
        "ix_conversation_series_active",
        table_name="conversation_series",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("conversation_series")
