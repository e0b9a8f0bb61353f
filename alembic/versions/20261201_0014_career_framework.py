"""career framework: competencies, career tracks and their levels (own rows with stable
ids), and ``competency_ids`` (uuid[], GIN-indexed) on goals and feedback

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 00:48:24.239912
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "career_tracks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_career_tracks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_career_tracks")),
    )
    op.create_index(
        "ix_career_tracks_tenant_created",
        "career_tracks",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_career_tracks_tenant_updated",
        "career_tracks",
        ["tenant_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_career_tracks_tenant_external_id",
        "career_tracks",
        ["tenant_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_table(
        "competencies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=True),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_competencies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_competencies")),
    )
    op.create_index(
        "ix_competencies_tenant_category",
        "competencies",
        ["tenant_id", "category", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_competencies_tenant_created",
        "competencies",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_competencies_tenant_updated",
        "competencies",
        ["tenant_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_competencies_tenant_external_id",
        "competencies",
        ["tenant_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_index(
        "uq_competencies_tenant_name",
        "competencies",
        ["tenant_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "career_track_levels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=True),
        sa.Column(
            "expectations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_career_track_levels_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["career_tracks.id"],
            name=op.f("fk_career_track_levels_track_id_career_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_career_track_levels")),
        sa.UniqueConstraint(
            "track_id",
            "position",
            deferrable=True,
            initially="DEFERRED",
            name="uq_career_track_levels_track_id_position",
        ),
    )
    op.create_index(
        "ix_career_track_levels_expectations",
        "career_track_levels",
        ["expectations"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"expectations": "jsonb_path_ops"},
    )
    op.create_index(
        "ix_career_track_levels_tenant", "career_track_levels", ["tenant_id"], unique=False
    )
    op.add_column(
        "feedback",
        sa.Column(
            "competency_ids",
            postgresql.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_feedback_competency_ids",
        "feedback",
        ["competency_ids"],
        unique=False,
        postgresql_using="gin",
    )
    op.add_column(
        "goals",
        sa.Column(
            "competency_ids",
            postgresql.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_goals_competency_ids", "goals", ["competency_ids"], unique=False, postgresql_using="gin"
    )


def downgrade() -> None:
    op.drop_index("ix_goals_competency_ids", table_name="goals", postgresql_using="gin")
    op.drop_column("goals", "competency_ids")
    op.drop_index("ix_feedback_competency_ids", table_name="feedback", postgresql_using="gin")
    op.drop_column("feedback", "competency_ids")
    op.drop_index("ix_career_track_levels_tenant", table_name="career_track_levels")
    op.drop_index(
        "ix_career_track_levels_expectations",
        table_name="career_track_levels",
        postgresql_using="gin",
        postgresql_ops={"expectations": "jsonb_path_ops"},
    )
    op.drop_table("career_track_levels")
    op.drop_index("uq_competencies_tenant_name", table_name="competencies")
    op.drop_index(
        "uq_competencies_tenant_external_id",
        table_name="competencies",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index("ix_competencies_tenant_updated", table_name="competencies")
    op.drop_index("ix_competencies_tenant_created", table_name="competencies")
    op.drop_index("ix_competencies_tenant_category", table_name="competencies")
    op.drop_table("competencies")
    op.drop_index(
        "uq_career_tracks_tenant_external_id",
        table_name="career_tracks",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index("ix_career_tracks_tenant_updated", table_name="career_tracks")
    op.drop_index("ix_career_tracks_tenant_created", table_name="career_tracks")
    op.drop_table("career_tracks")
