"""Optimistic concurrency under real concurrency: of 20 writers sending the same If-Match,
exactly one wins and the others get 412 (the row is locked before the check)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.webhook_receiver import create_endpoint

WRITERS = 20


async def race(
    client: httpx.AsyncClient, url: str, etag: str, headers: dict[str, str], bodies: list[Any]
) -> list[int]:
    answers = await asyncio.gather(
        *(client.patch(url, json=body, headers={**headers, "If-Match": etag}) for body in bodies)
    )
    return sorted(a.status_code for a in answers)


@pytest.mark.parametrize("kind", ["person", "webhook_endpoint"])
async def test_one_of_twenty_writers_with_one_etag_wins(
    kind: str, committed_client: httpx.AsyncClient, tenant_c: TenantKey, engine: AsyncEngine
) -> None:
    headers = tenant_c.headers
    if kind == "person":
        created = await create_person(committed_client, headers, name="Ada")
        url, field = f"/v1/people/{created['id']}", "title"
    else:
        created = await create_endpoint(committed_client, headers, "http://127.0.0.1:9/hook")
        url, field = f"/v1/webhook-endpoints/{created['id']}", "description"
    etag = (await committed_client.get(url, headers=headers)).headers["etag"]
    bodies = [{field: f"writer {n}"} for n in range(WRITERS)]
    assert await race(committed_client, url, etag, headers, bodies) == [200] + [412] * (WRITERS - 1)
    final = (await committed_client.get(url, headers=headers)).json()
    assert final[field].startswith("writer ")
    async with engine.connect() as conn:
        updates = await conn.scalar(
            sa.text("SELECT count(*) FROM events WHERE subject_id = :id AND type LIKE '%.updated'"),
            {"id": created["id"]},
        )
    assert updates == (1 if kind == "person" else 0)  # endpoints' changes write no event
