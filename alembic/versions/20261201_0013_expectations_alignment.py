"""expectations alignment: versioned aspirations and assessments, the alignment per person,
and the versions a conversation discussed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 00:47:54.798951
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aspirations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("target_role", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("target_level", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("horizon_months", sa.Integer(), nullable=False),
        sa.Column("mobility", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "wants_to_learn",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "mobility IN ('none', 'team', 'department', 'anywhere')",
            name=op.f("ck_aspirations_mobility"),
        ),
        sa.CheckConstraint(
            "horizon_months BETWEEN 1 AND 120", name=op.f("ck_aspirations_horizon_months")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_aspirations_person_id_people"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_aspirations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aspirations")),
        sa.UniqueConstraint("person_id", "version", name="uq_aspirations_person_version"),
    )
    op.create_index(
        "ix_aspirations_tenant_person_created",
        "aspirations",
        ["tenant_id", "person_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("assessed_by", sa.Uuid(), nullable=False),
        sa.Column("realistic_role", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("realistic_level", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("readiness", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("pathway", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column(
            "gaps",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "opportunities",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "readiness IN ('ready_now', 'ready_in_1_year', 'ready_in_2_years', 'not_on_this_path')",
            name=op.f("ck_assessments_readiness"),
        ),
        sa.ForeignKeyConstraint(
            ["assessed_by"],
            ["people.id"],
            name=op.f("fk_assessments_assessed_by_people"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_assessments_person_id_people"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_assessments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint("person_id", "version", name="uq_assessments_person_version"),
    )
    op.create_index(
        "ix_assessments_tenant_person_created",
        "assessments",
        ["tenant_id", "person_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "alignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column(
            "differences",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("aspiration_id", sa.Uuid(), nullable=True),
        sa.Column("assessment_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('unknown', 'aligned', 'gap')", name=op.f("ck_alignments_status")
        ),
        sa.ForeignKeyConstraint(
            ["aspiration_id"],
            ["aspirations.id"],
            name=op.f("fk_alignments_aspiration_id_aspirations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_alignments_assessment_id_assessments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_alignments_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_alignments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alignments")),
        sa.UniqueConstraint("person_id", name=op.f("uq_alignments_person_id")),
    )
    op.create_index(
        "ix_alignments_tenant_created",
        "alignments",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.add_column("conversations", sa.Column("aspiration_version_id", sa.Uuid(), nullable=True))
    op.add_column("conversations", sa.Column("assessment_version_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_conversations_assessment_version_id_assessments"),
        "conversations",
        "assessments",
        ["assessment_version_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_foreign_key(
        op.f("fk_conversations_aspiration_version_id_aspirations"),
        "conversations",
        "aspirations",
        ["aspiration_version_id"],
        ["id"],
        ondelete="RESTRICT",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_conversations_aspiration_version_id_aspirations"),
        "conversations",
        type_="foreignkey",
    )
    op.drop_constraint(
        op.f("fk_conversations_assessment_version_id_assessments"),
        "conversations",
        type_="foreignkey",
    )
    op.drop_column("conversations", "assessment_version_id")
    op.drop_column("conversations", "aspiration_version_id")
    op.drop_index("ix_alignments_tenant_created", table_name="alignments")
    op.drop_table("alignments")
    op.drop_index("ix_assessments_tenant_person_created", table_name="assessments")
    op.drop_table("assessments")
    op.drop_index("ix_aspirations_tenant_person_created", table_name="aspirations")
    op.drop_table("aspirations")
