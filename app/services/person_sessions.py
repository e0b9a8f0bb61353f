"""Person sessions: minted by the platform for a browser front-end, revoked by it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.keycache import Principal
from app.core.rows import Shape
from app.core.security import generate_session_token, hash_api_key
from app.models.base import utcnow
from app.models.person import Person
from app.models.person_session import PersonSession
from app.schemas.person_sessions import PersonSessionCreate, PersonSessionRead
from app.services.common import Reader, check_reference, get_owned

# The platform only (the routes refuse a person): no visibility rule.
READER = Reader(PersonSession, Shape(PersonSessionRead))


async def create(
    session: AsyncSession, principal: Principal, body: PersonSessionCreate
) -> tuple[PersonSession, str]:
    """A session for a person of the tenant (422 on ``/body/person_id`` otherwise), minted
    by the calling key; returns it with its token, which is never stored."""
    await check_reference(session, Person, principal.tenant_id, body.person_id, "/body/person_id")
    token = generate_session_token()
    now = utcnow()
    row = PersonSession(
        tenant_id=principal.tenant_id,
        person_id=body.person_id,
        api_key_id=principal.api_key_id,
        token_hash=hash_api_key(token),
        expires_at=now + timedelta(seconds=body.ttl_seconds),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row, token


async def revoke(session: AsyncSession, principal: Principal, ident: uuid.UUID) -> PersonSession:
    """Revoke the session (404 for a missing or foreign id); revoking twice is harmless.
    Sessions are looked up on every request, never cached: the next request is refused."""
    row = await get_owned(session, PersonSession, principal.tenant_id, ident, for_update=True)
    if row.revoked_at is None:
        row.revoked_at = row.updated_at = utcnow()
        await session.flush()
    return row
