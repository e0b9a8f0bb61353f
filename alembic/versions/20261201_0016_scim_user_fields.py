"""SCIM user fields: people.user_name (unique per tenant), department, scim_deleted_at

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 01:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("people", sa.Column("user_name", sa.String(length=256), nullable=True))
    op.add_column("people", sa.Column("department", sa.String(length=200), nullable=True))
    op.add_column("people", sa.Column("scim_deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ux_people_tenant_user_name", "people", ["tenant_id", "user_name"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_people_tenant_user_name", table_name="people")
    op.drop_column("people", "scim_deleted_at")
    op.drop_column("people", "department")
    op.drop_column("people", "user_name")
