"""SSRF: internal addresses are refused at registration and again when sending."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.background.webhook_delivery import Claimed, send
from app.core import ssrf
from app.core.config import Settings
from app.main import create_app
from app.models.base import utcnow
from tests.conftest import make_tenant
from tests.webhook_receiver import running_receiver

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link_local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not_global"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link_local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link_local"),
        ("2002:a00:1::1", "private"),  # 6to4 wrapping 10.0.0.1
    ],
)
def test_internal_addresses_are_refused(address: str, reason: str) -> None:
    assert ssrf.address_problem(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_accepted(address: str) -> None:
    assert ssrf.address_problem(ipaddress.ip_address(address)) is None


def test_allowed_networks_admit_their_addresses_only() -> None:
    assert ssrf.address_problem(ipaddress.ip_address("127.0.0.1"), LOOPBACK) is None
    assert ssrf.address_problem(ipaddress.ip_address("127.3.2.1"), LOOPBACK) is None
    assert ssrf.address_problem(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK) is None
    assert ssrf.address_problem(ipaddress.ip_address("::1"), LOOPBACK) == "loopback"
    assert ssrf.address_problem(ipaddress.ip_address("10.0.0.1"), LOOPBACK) == "private"


async def test_check_url_rules(settings: Settings) -> None:
    strict = settings.model_copy(
        update={"webhook_allow_http": False, "webhook_allowed_networks": []}
    )
    cases = {
        "http://93.184.216.34/hook": "scheme_not_allowed",
        "ftp://93.184.216.34/hook": "scheme_not_allowed",
        "https:///hook": "invalid_url",
        "https://93.184.216.34/hook#frag": "invalid_url",
        "https://93.184.216.34:99999/hook": "invalid_url",
        "https://10.0.0.1/hook": "forbidden_address",
        "https://[::1]/hook": "forbidden_address",
        "https://[::ffff:7f00:1]/hook": "forbidden_address",
        "https://localhost/hook": "forbidden_address",
        "https://no-such-host.invalid/hook": "unresolvable_host",
    }
    for url, code in cases.items():
        with pytest.raises(ssrf.UnsafeUrl) as refused:
            await ssrf.check_url(url, strict)
        assert refused.value.code == code, url
    await ssrf.check_url("https://93.184.216.34/hook", strict)
    # The test settings allow http and 127.0.0.0/8.
    await ssrf.check_url("http://127.0.0.1:8080/hook", settings)


@pytest.fixture
async def strict_client(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with loopback no longer allowed (http still is)."""
    strict = settings.model_copy(update={"webhook_allowed_networks": []})
    app = create_app(strict, engine=engine, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_api_refuses_a_private_url(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": "http://10.0.0.1/hook"}, headers=auth
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["pointer"] == "/body/url"
    assert error["code"] == "forbidden_address"
    assert "10.0.0.1 (private)" in error["detail"]
    listed = await client.get("/v1/webhook-endpoints", headers=auth)
    assert listed.json()["data"] == []


async def test_api_refuses_a_host_that_does_not_resolve(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A 422 naming the field; the resolver's OSError behind it once made it a 503 as if the
    database were down."""
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": "https://no-such-host.invalid/hook"}, headers=auth
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["pointer"], error["code"]) == ("/body/url", "unresolvable_host")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hook",
    ],
)
async def test_api_refuses_loopback_unless_allowed(
    strict_client: httpx.AsyncClient, auth: dict[str, str], url: str
) -> None:
    response = await strict_client.post("/v1/webhook-endpoints", json={"url": url}, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "/body/url"
    assert response.json()["errors"][0]["code"] == "forbidden_address"


async def test_api_requires_https_unless_http_allowed(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    https_only = settings.model_copy(update={"webhook_allow_http": False})
    app = create_app(https_only, engine=engine, sessionmaker=sessionmaker)
    tenant = await make_tenant(sessionmaker)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:8080/hook"},
            headers=tenant.headers,
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "scheme_not_allowed"


async def test_api_refuses_changing_the_url_to_a_private_one(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:8080/hook"}, headers=auth
    )
    assert created.status_code == 201
    endpoint_id = created.json()["id"]
    response = await client.patch(
        f"/v1/webhook-endpoints/{endpoint_id}",
        json={"url": "http://192.168.1.1/hook"},
        headers=auth,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/body/url"
    unchanged = await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=auth)
    assert unchanged.json()["url"] == "http://127.0.0.1:8080/hook"


def _claimed(url: str) -> Claimed:
    return Claimed(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        endpoint_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        payload=b"{}",
        lease_token=uuid.uuid4(),
        attempt_count=0,
        cycle_attempts=0,
        created_at=utcnow(),
        url=url,
        enabled=True,
        secrets=("whsec_" + "A" * 43 + "=",),
    )


async def test_send_refuses_an_address_no_longer_allowed(settings: Settings) -> None:
    """Registered while loopback was allowed; at send time it is not: nothing is sent."""
    strict = settings.model_copy(update={"webhook_allowed_networks": []})
    async with running_receiver() as receiver:
        async with httpx.AsyncClient(
            transport=ssrf.GuardedTransport(strict, max_connections=2), trust_env=False
        ) as client:
            for url in (receiver.url(), receiver.url().replace("127.0.0.1", "localhost")):
                outcome = await send(client, _claimed(url), strict)
                assert outcome.result == "refused", url
                assert outcome.status_code is None
                assert "(loopback)" in (outcome.error or "")
        assert receiver.requests == []
        async with httpx.AsyncClient(
            transport=ssrf.GuardedTransport(settings, max_connections=2), trust_env=False
        ) as client:
            outcome = await send(client, _claimed(receiver.url()), settings)
        assert outcome.result == "succeeded"
        assert len(receiver.requests) == 1
