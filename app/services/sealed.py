"""Re-sealing what is stored sealed, after a new key was put first in ``CCAPI_SECRET_KEY``
(``ccapi rotate-secret-key``): webhook signing secrets and the idempotent responses that
carry one. Values already under the first key are left as they are."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.idempotency import SEALED_PREFIX
from app.core.sealing import Keyring, idempotency_context, webhook_secret_context
from app.models.idempotency import IdempotencyRecord
from app.models.webhook import WebhookEndpoint


@dataclass(frozen=True)
class Resealed:
    endpoints: int
    responses: int


async def reseal_all(session: AsyncSession, keyring: Keyring) -> Resealed:
    """Re-seal every value not under the keyring's first key, in the session's transaction
    (rows locked; an endpoint's ``updated_at`` and ETag do not change). Raises
    ``SealError`` if a value opens with none of the keys: then nothing is written."""
    endpoints = 0
    rows = await session.execute(
        select(
            col(WebhookEndpoint.id),
            col(WebhookEndpoint.tenant_id),
            col(WebhookEndpoint.secret_sealed),
            col(WebhookEndpoint.previous_secret_sealed),
        ).with_for_update()
    )
    for endpoint_id, tenant_id, sealed, previous in rows.all():
        context = webhook_secret_context(tenant_id, endpoint_id)
        new = keyring.reseal(sealed, context)
        new_previous = None if previous is None else keyring.reseal(previous, context)
        if new == sealed and new_previous == previous:
            continue
        await session.execute(
            sa.update(WebhookEndpoint)
            .where(col(WebhookEndpoint.id) == endpoint_id)
            .values(secret_sealed=new, previous_secret_sealed=new_previous)
            .execution_options(synchronize_session=False)
        )
        endpoints += 1
    responses = 0
    records = await session.execute(
        select(
            col(IdempotencyRecord.tenant_id),
            col(IdempotencyRecord.key),
            col(IdempotencyRecord.response_body),
        )
        .where(sa.func.substring(col(IdempotencyRecord.response_body), 1, 5) == SEALED_PREFIX)
        .with_for_update()
    )
    for tenant_id, key, body in records.all():
        token = bytes(body).decode()
        if keyring.is_current(token):
            continue
        new_token = keyring.reseal(token, idempotency_context(tenant_id, key))
        await session.execute(
            sa.update(IdempotencyRecord)
            .where(col(IdempotencyRecord.tenant_id) == tenant_id, col(IdempotencyRecord.key) == key)
            .values(response_body=new_token.encode())
            .execution_options(synchronize_session=False)
        )
        responses += 1
    await session.flush()
    return Resealed(endpoints=endpoints, responses=responses)
