"""Aspirations and assessments name a career track level: track_level_id on the versions

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 01:41:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("aspirations", "assessments")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("track_level_id", sa.Uuid(), nullable=True))
        op.create_index(
            f"ix_{table}_track_level",
            table,
            ["track_level_id"],
            postgresql_where=sa.text("track_level_id IS NOT NULL"),
        )
        op.create_foreign_key(
            op.f(f"fk_{table}_track_level_id_career_track_levels"),
            table,
            "career_track_levels",
            ["track_level_id"],
            ["id"],
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_constraint(
            op.f(f"fk_{table}_track_level_id_career_track_levels"), table, type_="foreignkey"
        )
        op.drop_index(f"ix_{table}_track_level", table_name=table)
        op.drop_column(table, "track_level_id")
