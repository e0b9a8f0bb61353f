"""agenda templates: the tenant's own templates (the built-ins live in code), and on
agenda items the template an item came from (``template_id``) and its ``prompt``

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 23:12:07.343210
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agenda_templates",
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
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column(
            "items",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('career', 'mentorship', 'skip_level', 'stay')",
            name=op.f("ck_agenda_templates_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agenda_templates_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_templates")),
    )
    op.create_index(
        "ix_agenda_templates_tenant_created",
        "agenda_templates",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_agenda_templates_tenant_updated",
        "agenda_templates",
        ["tenant_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_agenda_templates_tenant_external_id",
        "agenda_templates",
        ["tenant_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.add_column("agenda_items", sa.Column("template_id", sa.Uuid(), nullable=True))
    op.add_column(
        "agenda_items",
        sa.Column("prompt", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("agenda_items", "prompt")
    op.drop_column("agenda_items", "template_id")
    op.drop_index(
        "uq_agenda_templates_tenant_external_id",
        table_name="agenda_templates",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index("ix_agenda_templates_tenant_updated", table_name="agenda_templates")
    op.drop_index("ix_agenda_templates_tenant_created", table_name="agenda_templates")
    op.drop_table("agenda_templates")
