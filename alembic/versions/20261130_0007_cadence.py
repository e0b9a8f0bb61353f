"""cadence SLA: the tenant's ``cadence_days`` per conversation kind, ``cadence_warning_days``
and ``reschedule_alert_threshold``; the index of an employee's completed conversations by
kind (the cadence scan and ``GET /v1/people/{id}/cadence``)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:10:45.978734
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_completed_by_employee",
        "conversations",
        ["tenant_id", "employee_id", "kind", "completed_at"],
        unique=False,
        postgresql_where=sa.text("status = 'completed'"),
    )
    op.add_column(
        "tenants",
        sa.Column(
            "cadence_days",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "tenants",
        sa.Column(
            "cadence_warning_days", sa.Integer(), server_default=sa.text("14"), nullable=False
        ),
    )
    op.add_column(
        "tenants",
        sa.Column(
            "reschedule_alert_threshold", sa.Integer(), server_default=sa.text("3"), nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_tenants_cadence_warning_days"), "tenants", "cadence_warning_days BETWEEN 0 AND 365"
    )
    op.create_check_constraint(
        op.f("ck_tenants_reschedule_alert_threshold"),
        "tenants",
        "reschedule_alert_threshold BETWEEN 1 AND 100",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_reschedule_alert_threshold"), "tenants", type_="check")
    op.drop_constraint(op.f("ck_tenants_cadence_warning_days"), "tenants", type_="check")
    op.drop_column("tenants", "reschedule_alert_threshold")
    op.drop_column("tenants", "cadence_warning_days")
    op.drop_column("tenants", "cadence_days")
    op.drop_index(
        "ix_conversations_completed_by_employee",
        table_name="conversations",
        postgresql_where=sa.text("status = 'completed'"),
    )
