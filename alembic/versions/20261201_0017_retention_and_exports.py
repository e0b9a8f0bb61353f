"""retention settings and indexes for the purge; per-person export jobs and their chunks

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 01:13:35
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("requested_by_person_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed')",
            name=op.f("ck_export_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_export_jobs_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_export_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    op.create_index("ix_export_jobs_expires", "export_jobs", ["expires_at"], unique=False)
    op.create_index(
        "ix_export_jobs_pending",
        "export_jobs",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_export_jobs_running_lease",
        "export_jobs",
        ["lease_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ix_export_jobs_tenant_person",
        "export_jobs",
        ["tenant_id", "person_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "export_chunks",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["export_jobs.id"],
            name=op.f("fk_export_chunks_job_id_export_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_export_chunks")),
    )
    op.create_index(
        "ix_conversation_notes_tenant_private_created",
        "conversation_notes",
        ["tenant_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("visibility = 'private'"),
    )
    op.create_index(
        "ix_events_tenant_occurred", "events", ["tenant_id", "occurred_at"], unique=False
    )
    op.add_column("tenants", sa.Column("retention_private_notes_days", sa.Integer(), nullable=True))
    op.add_column(
        "tenants",
        sa.Column(
            "retention_webhook_deliveries_days",
            sa.Integer(),
            server_default=sa.text("30"),
            nullable=False,
        ),
    )
    op.add_column(
        "tenants",
        sa.Column(
            "retention_events_days", sa.Integer(), server_default=sa.text("400"), nullable=False
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_tenant_succeeded_created",
        "webhook_deliveries",
        ["tenant_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'succeeded'"),
    )
    for column in ("private_notes_days", "webhook_deliveries_days", "events_days"):
        op.create_check_constraint(
            op.f(f"ck_tenants_retention_{column}"),
            "tenants",
            f"retention_{column} BETWEEN 1 AND 3650",
        )


def downgrade() -> None:
    for column in ("private_notes_days", "webhook_deliveries_days", "events_days"):
        op.drop_constraint(op.f(f"ck_tenants_retention_{column}"), "tenants", type_="check")
    op.drop_index(
        "ix_webhook_deliveries_tenant_succeeded_created",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'succeeded'"),
    )
    op.drop_column("tenants", "retention_events_days")
    op.drop_column("tenants", "retention_webhook_deliveries_days")
    op.drop_column("tenants", "retention_private_notes_days")
    op.drop_index("ix_events_tenant_occurred", table_name="events")
    op.drop_index(
        "ix_conversation_notes_tenant_private_created",
        table_name="conversation_notes",
        postgresql_where=sa.text("visibility = 'private'"),
    )
    op.drop_table("export_chunks")
    op.drop_index("ix_export_jobs_tenant_person", table_name="export_jobs")
    op.drop_index(
        "ix_export_jobs_running_lease",
        table_name="export_jobs",
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_index(
        "ix_export_jobs_pending",
        table_name="export_jobs",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_export_jobs_expires", table_name="export_jobs")
    op.drop_table("export_jobs")
