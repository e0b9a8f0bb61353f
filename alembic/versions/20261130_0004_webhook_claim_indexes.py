"""webhook claim indexes: each endpoint's due deliveries and its leases

The fair claim (app/background/webhook_delivery.py) reads, per endpoint, its oldest due
deliveries and counts its unexpired leases against webhook_endpoint_concurrency; both
are index range scans whatever the size of the backlog.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 18:56:24.386022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_endpoint_due",
        "webhook_deliveries",
        ["endpoint_id", "next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_leased",
        "webhook_deliveries",
        ["endpoint_id", "next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND lease_token IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_webhook_deliveries_endpoint_leased",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'pending' AND lease_token IS NOT NULL"),
    )
    op.drop_index(
        "ix_webhook_deliveries_endpoint_due",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )
