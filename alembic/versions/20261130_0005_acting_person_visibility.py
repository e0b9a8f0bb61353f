"""acting person visibility: the tenant's managers_see_reports setting, the acting person
on events, sealed agenda items and when a conversation's preparation was revealed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 21:47:41.083313
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "agenda_items",
        sa.Column(
            "visibility",
            sqlmodel.sql.sqltypes.AutoString(length=10),
            server_default="shared",
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_agenda_items_visibility"), "agenda_items", "visibility IN ('shared', 'sealed')"
    )
    op.add_column(
        "conversations",
        sa.Column("preparation_revealed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("events", sa.Column("person_id", sa.Uuid(), nullable=True))
    op.add_column(
        "tenants",
        sa.Column(
            "managers_see_reports",
            sqlmodel.sql.sqltypes.AutoString(length=10),
            server_default="chain",
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_tenants_managers_see_reports"),
        "tenants",
        "managers_see_reports IN ('none', 'direct', 'chain')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_managers_see_reports"), "tenants", type_="check")
    op.drop_column("tenants", "managers_see_reports")
    op.drop_column("events", "person_id")
    op.drop_column("conversations", "preparation_revealed_at")
    op.drop_constraint(op.f("ck_agenda_items_visibility"), "agenda_items", type_="check")
    op.drop_column("agenda_items", "visibility")
