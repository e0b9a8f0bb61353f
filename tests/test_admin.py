"""Platform administration: tenants and API keys, provisioned with the admin token."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.api_key import ApiKey
from tests.conftest import ADMIN_TOKEN


async def _create_tenant(
    client: httpx.AsyncClient, admin_headers: dict[str, str], name: str
) -> dict[str, object]:
    response = await client.post("/v1/admin/tenants", json={"name": name}, headers=admin_headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_create_tenant_returns_a_first_key_shown_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/admin/tenants",
        json={"name": "Initech", "metadata": {"plan": "gold"}},
        headers=admin_headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Initech"
    assert body["metadata"] == {"plan": "gold"}
    key = body["api_key"]
    secret = key["secret"]
    assert secret.startswith("cck_live_")
    assert len(secret) == len("cck_live_") + 43
    assert key["prefix"] == secret[:15]
    assert key["tenant_id"] == body["id"]
    assert key["scopes"] == ["read", "webhooks", "write"]
    assert key["name"] == "default"
    assert key["last_used_at"] is None
    assert key["revoked_at"] is None

    me = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]
    assert me.json()["name"] == "Initech"

    listed = await client.get("/v1/admin/tenants", headers=admin_headers)
    assert listed.status_code == 200
    assert secret not in listed.text
    assert "secret" not in listed.text
    tenant = {k: v for k, v in body.items() if k != "api_key"}
    assert listed.json() == {"data": [tenant], "next_cursor": None, "has_more": False}


async def test_list_tenants_is_paginated_newest_first(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = [await _create_tenant(client, admin_headers, f"T{i}") for i in range(5)]
    expected = [t["id"] for t in reversed(created)]

    seen: list[str] = []
    url = "/v1/admin/tenants?limit=2"
    pages = 0
    while True:
        response = await client.get(url, headers=admin_headers)
        assert response.status_code == 200
        page = response.json()
        pages += 1
        seen.extend(t["id"] for t in page["data"])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            assert "Link" not in response.headers
            break
        assert 'rel="next"' in response.headers["Link"]
        url = f"/v1/admin/tenants?limit=2&cursor={page['next_cursor']}"
    assert pages == 3
    assert seen == expected


async def test_create_api_key_with_scopes(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    tenant = await _create_tenant(client, admin_headers, "Initech")
    response = await client.post(
        f"/v1/admin/tenants/{tenant['id']}/api-keys",
        json={"name": "HRIS sync", "scopes": ["read"]},
        headers=admin_headers,
    )
    assert response.status_code == 201
    key = response.json()
    assert key["name"] == "HRIS sync"
    assert key["scopes"] == ["read"]
    assert key["tenant_id"] == tenant["id"]
    assert key["secret"].startswith("cck_live_")
    headers = {"Authorization": f"Bearer {key['secret']}"}

    assert (await client.get("/v1/tenant", headers=headers)).status_code == 200
    assert (await client.get("/v1/people", headers=headers)).status_code == 200
    refused = await client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"


async def test_create_api_key_refuses_unknown_scopes(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    tenant = await _create_tenant(client, admin_headers, "Initech")
    response = await client.post(
        f"/v1/admin/tenants/{tenant['id']}/api-keys",
        json={"scopes": ["root"]},
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/body/scopes/0"]


async def test_revoked_key_is_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    tenant = await _create_tenant(client, admin_headers, "Initech")
    key = tenant["api_key"]
    assert isinstance(key, dict)
    headers = {"Authorization": f"Bearer {key['secret']}"}
    assert (await client.get("/v1/tenant", headers=headers)).status_code == 200

    revoked = await client.delete(f"/v1/admin/api-keys/{key['id']}", headers=admin_headers)
    assert revoked.status_code == 200
    assert revoked.json()["id"] == key["id"]
    assert revoked.json()["revoked_at"] is not None
    assert "secret" not in revoked.json()

    refused = await client.get("/v1/tenant", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "The API key has been revoked."

    again = await client.delete(f"/v1/admin/api-keys/{key['id']}", headers=admin_headers)
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


async def test_unknown_tenant_and_key_are_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    missing = uuid.uuid4()
    key = await client.post(
        f"/v1/admin/tenants/{missing}/api-keys", json={"scopes": ["read"]}, headers=admin_headers
    )
    assert key.status_code == 404
    assert key.headers["content-type"] == "application/problem+json"
    assert key.json()["code"] == "not_found"
    assert key.json()["instance"] == f"/v1/admin/tenants/{missing}/api-keys"

    revoke = await client.delete(f"/v1/admin/api-keys/{missing}", headers=admin_headers)
    assert revoke.status_code == 404
    assert revoke.json()["code"] == "not_found"


async def test_admin_routes_need_the_admin_token(client: httpx.AsyncClient) -> None:
    cases = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
    ]
    for headers in cases:
        response = await client.post("/v1/admin/tenants", json={"name": "X"}, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="ccapi"'
        assert response.json()["code"] == "unauthorized"
        listed = await client.get("/v1/admin/tenants", headers=headers)
        assert listed.status_code == 401


async def test_tenant_key_is_not_an_admin_token(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    tenant = await _create_tenant(client, admin_headers, "Initech")
    key = tenant["api_key"]
    assert isinstance(key, dict)
    response = await client.get(
        "/v1/admin/tenants", headers={"Authorization": f"Bearer {key['secret']}"}
    )
    assert response.status_code == 401


async def test_key_is_stored_only_as_a_hash_and_prefix(
    client: httpx.AsyncClient, admin_headers: dict[str, str], session: AsyncSession
) -> None:
    tenant = await _create_tenant(client, admin_headers, "Initech")
    created = await client.post(
        f"/v1/admin/tenants/{tenant['id']}/api-keys",
        json={"name": "ci", "scopes": ["read", "write"]},
        headers=admin_headers,
    )
    secret = created.json()["secret"]

    key = await session.get(ApiKey, uuid.UUID(created.json()["id"]))
    assert key is not None
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.prefix == secret[:15]
    assert key.scopes == ["read", "write"]
    row = (
        (await session.execute(sa.text("SELECT * FROM api_keys WHERE id = :id"), {"id": key.id}))
        .mappings()
        .one()
    )
    assert all(secret not in str(value) for value in row.values())
    random_part = secret[len("cck_live_") :]
    assert all(random_part not in str(value) for value in row.values())
