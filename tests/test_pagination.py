"""Keyset pagination (app/core/pagination.py), through ``GET /v1/people``."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import decode_cursor, encode_cursor
from app.models.person import Person
from tests.conftest import TenantKey
from tests.factories import create_person


async def test_pages_cover_every_row_once_despite_ties(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, session: AsyncSession
) -> None:
    same_time = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    people = [
        Person(tenant_id=tenant.tenant_id, name=f"P{i}", created_at=same_time, updated_at=same_time)
        for i in range(7)
    ]
    # Newer and older rows around the tie, and another tenant's row at the same instant.
    people.append(
        Person(
            tenant_id=tenant.tenant_id,
            name="newest",
            created_at=datetime(2024, 6, 1, tzinfo=UTC),
            updated_at=same_time,
        )
    )
    people.append(
        Person(
            tenant_id=tenant.tenant_id,
            name="oldest",
            created_at=datetime(2024, 4, 1, tzinfo=UTC),
            updated_at=same_time,
        )
    )
    session.add_all(people)
    session.add(
        Person(
            tenant_id=other_tenant.tenant_id,
            name="theirs",
            created_at=same_time,
            updated_at=same_time,
        )
    )
    await session.commit()
    expected = [str(p.id) for p in sorted(people, key=lambda p: (p.created_at, p.id), reverse=True)]
    assert expected[0] == str(people[7].id)
    assert expected[-1] == str(people[8].id)

    seen: list[str] = []
    pages = 0
    url = "/v1/people?limit=2"
    while True:
        response = await client.get(url, headers=tenant.headers)
        assert response.status_code == 200
        page = response.json()
        pages += 1
        seen.extend(p["id"] for p in page["data"])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            assert "Link" not in response.headers
            assert len(page["data"]) == 1
            break
        assert len(page["data"]) == 2
        link = response.headers["Link"]
        assert link.endswith('>; rel="next"')
        query = parse_qs(urlsplit(link[1 : link.index(">")]).query)
        assert query == {"limit": ["2"], "cursor": [page["next_cursor"]]}
        url = f"/v1/people?limit=2&cursor={page['next_cursor']}"
    assert pages == 5
    assert seen == expected
    assert len(set(seen)) == 9


async def test_cursor_round_trip() -> None:
    created = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    ident = uuid.uuid4()
    cursor = encode_cursor([created, ident])
    assert "=" not in cursor
    assert decode_cursor(cursor) == (created, ident)


async def test_malformed_cursor_is_422(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await create_person(client, auth)
    not_json = base64.urlsafe_b64encode(b"hello").decode()
    wrong_shape = base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00"]').decode()
    bad_uuid = base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00", "x"]').decode()
    bad_date = base64.urlsafe_b64encode(f'["yesterday", "{uuid.uuid4()}"]'.encode()).decode()
    for cursor in ("!!!", "abc", not_json, wrong_shape, bad_uuid, bad_date):
        response = await client.get("/v1/people", params={"cursor": cursor}, headers=auth)
        assert response.status_code == 422, cursor
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "validation_failed"
        assert body["errors"] == [
            {
                "pointer": "/query/cursor",
                "detail": "The cursor is malformed; pass a next_cursor as returned.",
                "code": "cursor",
            }
        ]


async def test_too_long_cursor_is_422(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get("/v1/people", params={"cursor": "a" * 201}, headers=auth)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/query/cursor"]


async def test_limit_bounds(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for limit in (0, 101, -1):
        response = await client.get(f"/v1/people?limit={limit}", headers=auth)
        assert response.status_code == 422, limit
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["pointer"] for e in response.json()["errors"]] == ["/query/limit"]
    for limit in (1, 100):
        response = await client.get(f"/v1/people?limit={limit}", headers=auth)
        assert response.status_code == 200


async def test_default_limit_is_20(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    session.add_all(Person(tenant_id=tenant.tenant_id, name=f"P{i}") for i in range(21))
    await session.commit()
    page = (await client.get("/v1/people", headers=tenant.headers)).json()
    assert len(page["data"]) == 20
    assert page["has_more"] is True
    rest = (
        await client.get(f"/v1/people?cursor={page['next_cursor']}", headers=tenant.headers)
    ).json()
    assert len(rest["data"]) == 1
    assert rest["has_more"] is False


async def test_empty_list(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get("/v1/people", headers=auth)
    assert response.json() == {"data": [], "next_cursor": None, "has_more": False}
    assert "Link" not in response.headers
