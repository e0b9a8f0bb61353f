"""conversations.calendar_sequence: the iCalendar SEQUENCE of a conversation's invitation

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 23:11:00.976131
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("calendar_sequence", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_conversations_calendar_sequence"), "conversations", "calendar_sequence >= 0"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_conversations_calendar_sequence"), "conversations", type_="check")
    op.drop_column("conversations", "calendar_sequence")
