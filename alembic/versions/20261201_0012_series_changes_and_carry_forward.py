"""series changes and carry-forward: agenda_items.carried_from_id, a series' agenda template and
calendar sequence

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agenda_items", sa.Column("carried_from_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_agenda_items_carried_from_id_agenda_items"),
        "agenda_items",
        "agenda_items",
        ["carried_from_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "uq_agenda_items_carried_from",
        "agenda_items",
        ["carried_from_id"],
        unique=True,
        postgresql_where=sa.text("carried_from_id IS NOT NULL"),
    )
    op.add_column("conversation_series", sa.Column("agenda_template_id", sa.Uuid(), nullable=True))
    op.add_column(
        "conversation_series",
        sa.Column("calendar_sequence", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_conversation_series_calendar_sequence"),
        "conversation_series",
        "calendar_sequence >= 0",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_conversation_series_calendar_sequence"), "conversation_series", type_="check"
    )
    op.drop_column("conversation_series", "calendar_sequence")
    op.drop_column("conversation_series", "agenda_template_id")
    op.drop_index(
        "uq_agenda_items_carried_from",
        table_name="agenda_items",
        postgresql_where=sa.text("carried_from_id IS NOT NULL"),
    )
    op.drop_constraint(
        op.f("fk_agenda_items_carried_from_id_agenda_items"), "agenda_items", type_="foreignkey"
    )
    op.drop_column("agenda_items", "carried_from_id")
