"""webhook signing secrets sealed at rest

Replaces ``webhook_endpoints.secret`` / ``previous_secret`` (plain text) with
``secret_sealed`` / ``previous_secret_sealed``: AES-GCM under the first key of
``CCAPI_SECRET_KEY`` (app/core/sealing.py), bound to the endpoint. Idempotency records
that replay a secret (webhook endpoint creation, secret rotation) are sealed too.

Existing rows are sealed in place, in the migration's one transaction. That needs the key:
the settings the caller passes (app start-up, ``ccapi migrate``) or else the environment.
In development without ``CCAPI_SECRET_KEY`` the development key in the data folder is used
(created if missing); outside development, settings without the key are refused, so the
migration stops before changing anything and the database stays at 0001 with its plain
text secrets until it runs again with the key. A database with no endpoints needs no key.
The downgrade opens the values again (it needs the same keys).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

from app.core.sealing import Keyring, idempotency_context, webhook_secret_context

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keyring() -> Keyring:
    settings = context.config.attributes.get("settings")
    if settings is None:
        from app.core.config import get_settings

        settings = get_settings()
    keyring: Keyring = settings.keyring
    return keyring


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints",
        sa.Column("secret_sealed", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    )
    op.add_column(
        "webhook_endpoints",
        sa.Column(
            "previous_secret_sealed", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True
        ),
    )
    bind = op.get_bind()
    endpoints = bind.execute(
        sa.text("SELECT id, tenant_id, secret, previous_secret FROM webhook_endpoints")
    ).all()
    records = bind.execute(
        sa.text(
            "SELECT tenant_id, key, response_body FROM idempotency_records "
            "WHERE position('whsec_'::bytea in response_body) > 0"
        )
    ).all()
    if endpoints or records:
        keyring = _keyring()
    if endpoints:
        bind.execute(
            sa.text(
                "UPDATE webhook_endpoints SET secret_sealed = :sealed, "
                "previous_secret_sealed = :previous WHERE id = :id"
            ),
            [
                {
                    "id": row.id,
                    "sealed": keyring.seal_text(
                        row.secret, webhook_secret_context(row.tenant_id, row.id)
                    ),
                    "previous": None
                    if row.previous_secret is None
                    else keyring.seal_text(
                        row.previous_secret, webhook_secret_context(row.tenant_id, row.id)
                    ),
                }
                for row in endpoints
            ],
        )
    if records:
        bind.execute(
            sa.text(
                "UPDATE idempotency_records SET response_body = :body "
                "WHERE tenant_id = :tenant_id AND key = :key"
            ),
            [
                {
                    "tenant_id": row.tenant_id,
                    "key": row.key,
                    "body": keyring.seal(
                        bytes(row.response_body), idempotency_context(row.tenant_id, row.key)
                    ).encode(),
                }
                for row in records
            ],
        )
    op.alter_column("webhook_endpoints", "secret_sealed", nullable=False)
    op.drop_column("webhook_endpoints", "previous_secret")
    op.drop_column("webhook_endpoints", "secret")


def downgrade() -> None:
    op.add_column(
        "webhook_endpoints",
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    )
    op.add_column(
        "webhook_endpoints",
        sa.Column("previous_secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    )
    bind = op.get_bind()
    endpoints = bind.execute(
        sa.text(
            "SELECT id, tenant_id, secret_sealed, previous_secret_sealed FROM webhook_endpoints"
        )
    ).all()
    records = bind.execute(
        sa.text(
            "SELECT tenant_id, key, response_body FROM idempotency_records "
            "WHERE substring(response_body from 1 for 5) = 'ccs1.'::bytea"
        )
    ).all()
    if endpoints or records:
        keyring = _keyring()
    if endpoints:
        bind.execute(
            sa.text(
                "UPDATE webhook_endpoints SET secret = :secret, previous_secret = :previous "
                "WHERE id = :id"
            ),
            [
                {
                    "id": row.id,
                    "secret": keyring.open_text(
                        row.secret_sealed, webhook_secret_context(row.tenant_id, row.id)
                    ),
                    "previous": None
                    if row.previous_secret_sealed is None
                    else keyring.open_text(
                        row.previous_secret_sealed, webhook_secret_context(row.tenant_id, row.id)
                    ),
                }
                for row in endpoints
            ],
        )
    if records:
        bind.execute(
            sa.text(
                "UPDATE idempotency_records SET response_body = :body "
                "WHERE tenant_id = :tenant_id AND key = :key"
            ),
            [
                {
                    "tenant_id": row.tenant_id,
                    "key": row.key,
                    "body": keyring.open(
                        bytes(row.response_body).decode(),
                        idempotency_context(row.tenant_id, row.key),
                    ),
                }
                for row in records
            ],
        )
    op.alter_column("webhook_endpoints", "secret", nullable=False)
    op.drop_column("webhook_endpoints", "previous_secret_sealed")
    op.drop_column("webhook_endpoints", "secret_sealed")
