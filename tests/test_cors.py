"""CORS for browser front-ends: a tenant's ``cors_origins`` let pages of those origins call
the API with the tenant's person session tokens; other origins (and API keys) get no CORS
headers. Preflights pass for an origin any tenant allows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantKey
from tests.factories import create_person

Client = httpx.AsyncClient
HR = "https://hr.example.com"
EXPOSED = (
    "ETag, Location, Link, RateLimit, RateLimit-Policy, Retry-After, X-Request-ID, "
    "Idempotent-Replayed"
)
CORS_HEADERS = {
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
    "vary",
}


def cors(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name in CORS_HEADERS}


async def allow(client: Client, tenant: TenantKey, *origins: str) -> httpx.Response:
    return await client.patch(
        "/v1/tenant", json={"settings": {"cors_origins": list(origins)}}, headers=tenant.headers
    )


async def session_token(client: Client, tenant: TenantKey) -> dict[str, str]:
    ada = await create_person(client, tenant.headers, name="Ada")
    minted = await client.post(
        "/v1/person-sessions", json={"person_id": ada["id"]}, headers=tenant.headers
    )
    return {"Authorization": f"Bearer {minted.json()['token']}"}


async def test_origins_are_normalised_and_validated(client: Client, tenant: TenantKey) -> None:
    assert (await client.get("/v1/tenant", headers=tenant.headers)).json()["settings"][
        "cors_origins"
    ] == []
    saved = await allow(
        client,
        tenant,
        "HTTPS://HR.Example.com:443/",
        "http://localhost:5173",
        "https://hr.example.com",
        "http://[::1]:8080",
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["cors_origins"] == [
        HR,
        "http://localhost:5173",
        "http://[::1]:8080",
    ]
    for bad in (
        "*",
        "ftp://hr.example.com",
        "https://",
        "https://hr.example.com/app",
        "https://hr.example.com?x=1",
        "https://user@hr.example.com",
        "https://hr.example.com:99999",
        "https://bücher.example",
        "hr.example.com",
    ):
        refused = await allow(client, tenant, bad)
        assert refused.status_code == 422, bad
        assert [e["pointer"] for e in refused.json()["errors"]] == [
            "/body/settings/cors_origins/0"
        ], bad
    too_many = await allow(client, tenant, *(f"https://h{n}.example.com" for n in range(21)))
    assert too_many.status_code == 422
    cleared = await client.patch(
        "/v1/tenant", json={"settings": {"cors_origins": None}}, headers=tenant.headers
    )
    assert cleared.status_code == 422
    unchanged = (await client.get("/v1/tenant", headers=tenant.headers)).json()
    assert unchanged["settings"]["cors_origins"] == [
        HR,
        "http://localhost:5173",
        "http://[::1]:8080",
    ]


async def test_an_allowed_origin_reads_session_answers(client: Client, tenant: TenantKey) -> None:
    await allow(client, tenant, HR)
    token = await session_token(client, tenant)
    allowed = await client.get("/v1/people", headers={**token, "Origin": HR})
    assert allowed.status_code == 200
    assert cors(allowed) == {
        "access-control-allow-origin": HR,
        "access-control-expose-headers": EXPOSED,
        "vary": "Origin",
    }
    other = await client.get("/v1/people", headers={**token, "Origin": "https://evil.example"})
    assert other.status_code == 200
    assert cors(other) == {}
    # A platform key never gets CORS headers: it must not be in a browser.
    keyed = await client.get("/v1/people", headers={**tenant.headers, "Origin": HR})
    assert cors(keyed) == {}
    # Errors of an allowed origin's session are readable too (the page learns to re-mint).
    refused = await client.get("/v1/tenant", headers={**token, "Origin": HR})
    assert refused.status_code == 403
    assert cors(refused)["access-control-allow-origin"] == HR
    # Without Origin nothing changes.
    assert cors(await client.get("/v1/people", headers=token)) == {}


async def test_origins_are_per_tenant(
    client: Client, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    await allow(client, other_tenant, HR)
    token = await session_token(client, tenant)
    answer = await client.get("/v1/people", headers={**token, "Origin": HR})
    assert answer.status_code == 200
    assert cors(answer) == {}


def preflight_headers(origin: str, **extra: str) -> dict[str, Any]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        **extra,
    }


async def test_preflight_passes_for_an_origin_some_tenant_allows(
    client: Client, tenant: TenantKey
) -> None:
    before = await client.options("/v1/conversations", headers=preflight_headers(HR))
    assert cors(before) == {}
    await allow(client, tenant, HR)
    answer = await client.options("/v1/conversations", headers=preflight_headers(HR))
    assert answer.status_code == 204
    assert answer.content == b""
    assert cors(answer) == {
        "access-control-allow-origin": HR,
        "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE",
        "access-control-allow-headers": (
            "Authorization, Content-Type, Idempotency-Key, If-Match, Acting-Person"
        ),
        "access-control-max-age": "600",
        "vary": "Origin",
    }
    assert answer.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("path", "origin"),
    [
        ("/v1/conversations", "https://evil.example"),
        ("/v1/conversations", "https://hr.example.com:8443"),
        ("/v1/admin/tenants", HR),
        ("/docs", HR),
    ],
)
async def test_preflight_refused_gets_no_cors_headers(
    client: Client, tenant: TenantKey, path: str, origin: str
) -> None:
    await allow(client, tenant, HR)
    answer = await client.options(path, headers=preflight_headers(origin))
    assert answer.status_code == 405
    assert cors(answer) == {}


async def test_removing_an_origin_ends_its_preflights(client: Client, tenant: TenantKey) -> None:
    await allow(client, tenant, HR)
    ok = await client.options("/v1/people", headers=preflight_headers(HR))
    assert ok.status_code == 204
    await allow(client, tenant)
    gone = await client.options("/v1/people", headers=preflight_headers(HR))
    assert cors(gone) == {}
