"""conversations.scheduled_at: when a conversation went draft → scheduled (insights' lead time);
indexes for the insights' windows (a conversation's own date, action items' due days)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversations", sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Conversations scheduled before this column: the time of their first
    # ``conversation.scheduled`` event, when the log still holds it (else it stays null and
    # the conversation is left out of the median lead time).
    op.execute(
        "UPDATE conversations c SET scheduled_at = (SELECT min(e.occurred_at) FROM events e "
        "WHERE e.tenant_id = c.tenant_id AND e.type = 'conversation.scheduled' "
        "AND e.subject_id = c.id) WHERE c.status <> 'draft'"
    )

    op.create_index(
        "ix_conversations_tenant_insight_date",
        "conversations",
        ["tenant_id", sa.text("COALESCE(completed_at, canceled_at, scheduled_start, created_at)")],
    )
    op.create_index("ix_action_items_tenant_due", "action_items", ["tenant_id", "due_date"])


def downgrade() -> None:
    op.drop_index("ix_action_items_tenant_due", table_name="action_items")
    op.drop_index("ix_conversations_tenant_insight_date", table_name="conversations")
    op.drop_column("conversations", "scheduled_at")
