"""API key authentication and scopes, seen through ``GET /v1/tenant`` and ``/v1/people``."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from app.core.security import generate_api_key
from app.models.api_key import ApiKey
from tests.conftest import TenantKey, make_tenant

WWW_AUTHENTICATE = 'Bearer realm="ccapi"'


def _assert_unauthorized(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["type"] == "https://ccapi.dev/problems/unauthorized"
    assert body["detail"] == detail


async def test_valid_key_gets_its_tenant(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await client.get("/v1/tenant", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(tenant.tenant_id)
    assert body["name"] == "Acme"
    assert body["metadata"] == {}


async def test_missing_header_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tenant")
    _assert_unauthorized(response, "Send an API key as `Authorization: Bearer cck_live_…`.")
    assert response.json()["instance"] == "/v1/tenant"


async def test_malformed_keys_are_401(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    not_ours = await client.get("/v1/tenant", headers={"Authorization": "Bearer sk_live_abc"})
    _assert_unauthorized(not_ours, "The API key is malformed.")

    too_long = await client.get(
        "/v1/tenant", headers={"Authorization": "Bearer cck_live_" + "a" * 300}
    )
    _assert_unauthorized(too_long, "The API key is malformed.")

    # Another scheme is not a bearer credential at all: treated as missing.
    basic = await client.get("/v1/tenant", headers={"Authorization": "Basic xyz"})
    _assert_unauthorized(basic, "Send an API key as `Authorization: Bearer cck_live_…`.")

    bare = await client.get("/v1/tenant", headers={"Authorization": tenant.secret})
    _assert_unauthorized(bare, "Send an API key as `Authorization: Bearer cck_live_…`.")


async def test_unknown_key_is_401(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await client.get(
        "/v1/tenant", headers={"Authorization": f"Bearer {generate_api_key()}"}
    )
    _assert_unauthorized(response, "The API key is not valid.")

    # One changed character is another (unknown) key.
    tampered = tenant.secret[:-1] + ("A" if tenant.secret[-1] != "A" else "B")
    response = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {tampered}"})
    _assert_unauthorized(response, "The API key is not valid.")


async def test_revoked_key_is_401(
    client: httpx.AsyncClient, tenant: TenantKey, admin_headers: dict[str, str]
) -> None:
    assert (await client.get("/v1/tenant", headers=tenant.headers)).status_code == 200
    revoke = await client.delete(f"/v1/admin/api-keys/{tenant.key_id}", headers=admin_headers)
    assert revoke.status_code == 200

    response = await client.get("/v1/tenant", headers=tenant.headers)
    _assert_unauthorized(response, "The API key has been revoked.")
    people = await client.get("/v1/people", headers=tenant.headers)
    _assert_unauthorized(people, "The API key has been revoked.")


async def test_scopes_are_enforced(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    webhooks_only = await make_tenant(sessionmaker, "Hooks", scopes=("webhooks",))
    read_only = await make_tenant(sessionmaker, "Reader", scopes=("read",))
    writer = await make_tenant(sessionmaker, "Writer", scopes=("write",))

    refused = await client.get("/v1/people", headers=webhooks_only.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "WWW-Authenticate" not in refused.headers
    assert refused.json()["code"] == "forbidden"
    assert refused.json()["detail"] == "This API key lacks the 'read' scope."

    # Any valid key may read its own tenant.
    assert (await client.get("/v1/tenant", headers=webhooks_only.headers)).status_code == 200

    assert (await client.get("/v1/people", headers=read_only.headers)).status_code == 200
    write = await client.post("/v1/people", json={"name": "Ada"}, headers=read_only.headers)
    assert write.status_code == 403
    assert write.json()["detail"] == "This API key lacks the 'write' scope."

    # `write` implies `read`.
    created = await client.post("/v1/people", json={"name": "Ada"}, headers=writer.headers)
    assert created.status_code == 201
    listed = await client.get("/v1/people", headers=writer.headers)
    assert [p["name"] for p in listed.json()["data"]] == ["Ada"]


async def test_forbidden_write_changes_nothing(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    read_only = await make_tenant(sessionmaker, "Reader", scopes=("read",))
    refused = await client.post("/v1/people", json={"name": "Ada"}, headers=read_only.headers)
    assert refused.status_code == 403
    listed = await client.get("/v1/people", headers=read_only.headers)
    assert listed.json()["data"] == []


async def test_last_used_at_is_recorded(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    before = await session.scalar(select(ApiKey).where(ApiKey.id == tenant.key_id))
    assert before is not None
    assert before.last_used_at is None

    response = await client.get("/v1/tenant", headers=tenant.headers)
    assert response.status_code == 200

    after = await session.scalar(
        select(ApiKey).where(ApiKey.id == tenant.key_id).execution_options(populate_existing=True)
    )
    assert after is not None
    assert after.last_used_at is not None
    assert after.last_used_at >= after.created_at


async def test_refused_key_does_not_record_use(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    hooks = await make_tenant(sessionmaker, "Hooks", scopes=("webhooks",))
    refused = await client.get("/v1/people", headers=hooks.headers)
    assert refused.status_code == 403
    key = await session.get(ApiKey, hooks.key_id)
    assert key is not None
    # A refused request is rolled back as a whole.
    assert key.last_used_at is None


async def test_tenants_only_see_themselves(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    mine = await client.get("/v1/tenant", headers=tenant.headers)
    theirs = await client.get("/v1/tenant", headers=other_tenant.headers)
    assert (mine.json()["id"], mine.json()["name"]) == (str(tenant.tenant_id), "Acme")
    assert (theirs.json()["id"], theirs.json()["name"]) == (str(other_tenant.tenant_id), "Globex")
    assert tenant.tenant_id != other_tenant.tenant_id

    await client.post("/v1/people", json={"name": "Ada"}, headers=tenant.headers)
    assert (await client.get("/v1/people", headers=other_tenant.headers)).json()["data"] == []


async def test_admin_token_is_not_an_api_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.get("/v1/tenant", headers=admin_headers)
    _assert_unauthorized(response, "The API key is malformed.")


async def test_key_ids_do_not_authenticate(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await client.get(
        "/v1/tenant", headers={"Authorization": f"Bearer cck_live_{uuid.uuid4()}"}
    )
    _assert_unauthorized(response, "The API key is not valid.")
