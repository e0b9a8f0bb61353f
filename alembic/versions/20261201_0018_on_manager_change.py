"""on manager change: the tenant setting that decides whether a re-org moves the old
manager's open work for a person to the new manager

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 01:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column(
            "on_manager_change",
            sqlmodel.sql.sqltypes.AutoString(length=10),
            server_default="reassign",
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_tenants_on_manager_change"),
        "tenants",
        "on_manager_change IN ('keep', 'reassign')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_on_manager_change"), "tenants", type_="check")
    op.drop_column("tenants", "on_manager_change")
