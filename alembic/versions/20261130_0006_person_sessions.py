"""person sessions: short-lived ``ccs_`` tokens acting for one person, and the tenant's
CORS allow-list (``cors_origins``)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 22:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_person_sessions_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_person_sessions_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_person_sessions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_person_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_person_sessions_api_key_id"), "person_sessions", ["api_key_id"], unique=False
    )
    op.create_index(
        op.f("ix_person_sessions_person_id"), "person_sessions", ["person_id"], unique=False
    )
    op.create_index(
        "ix_person_sessions_tenant_created",
        "person_sessions",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.add_column(
        "tenants",
        sa.Column(
            "cors_origins",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("tenants", "cors_origins")
    op.drop_index("ix_person_sessions_tenant_created", table_name="person_sessions")
    op.drop_index(op.f("ix_person_sessions_person_id"), table_name="person_sessions")
    op.drop_index(op.f("ix_person_sessions_api_key_id"), table_name="person_sessions")
    op.drop_table("person_sessions")
