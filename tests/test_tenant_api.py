from __future__ import annotations

import httpx

from tests.conftest import TenantKey


async def test_get_tenant_returns_the_callers_tenant(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    mine = await client.get("/v1/tenant", headers=tenant.headers)
    theirs = await client.get("/v1/tenant", headers=other_tenant.headers)

    assert mine.status_code == 200
    assert mine.json()["id"] == str(tenant.tenant_id)
    assert mine.json()["name"] == "Acme"
    assert theirs.json()["id"] == str(other_tenant.tenant_id)
    assert theirs.json()["name"] == "Globex"
