"""The webhook endpoints API, and deliveries queued in the event's own transaction."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.models.base import utcnow
from tests.conftest import TenantKey, make_tenant
from tests.factories import create_person
from tests.webhook_receiver import create_endpoint as register

URL = "http://127.0.0.1:8080/hook"
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]+={0,2}$")


async def create_endpoint(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    return await register(client, headers, fields.pop("url", URL), **fields)


async def deliveries(
    client: httpx.AsyncClient, headers: dict[str, str], endpoint_id: str, **params: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_create_returns_the_secret_once_and_reads_omit_it(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/webhook-endpoints",
        json={
            "url": URL,
            "description": "HRIS sync",
            "event_types": ["person.created", "goal.agreed"],
            "metadata": {"team": "integrations"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == f"/v1/webhook-endpoints/{created['id']}"
    assert SECRET.match(created["secret"])
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    assert created["url"] == URL
    assert created["event_types"] == ["person.created", "goal.agreed"]
    assert created["payload"] == "full"
    assert created["enabled"] is True
    assert created["disabled_reason"] is None
    assert created["metadata"] == {"team": "integrations"}

    fetched = await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=auth)
    assert fetched.status_code == 200
    assert "secret" not in fetched.json()
    assert fetched.json() == {k: v for k, v in created.items() if k != "secret"}
    assert fetched.headers["ETag"] == response.headers["ETag"]

    secret = await client.get(f"/v1/webhook-endpoints/{created['id']}/secret", headers=auth)
    assert secret.json() == {"secret": created["secret"], "previous_secret_expires_at": None}

    listed = await client.get("/v1/webhook-endpoints", headers=auth)
    assert [e["id"] for e in listed.json()["data"]] == [created["id"]]
    assert "secret" not in listed.json()["data"][0]


async def test_event_types_are_checked_against_the_catalog(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": URL, "event_types": ["person.created", "person.exploded"], "payload": "x"},
        headers=auth,
    )
    assert response.status_code == 422
    pointers = sorted(e["pointer"] for e in response.json()["errors"])
    assert pointers == ["/body/event_types/1", "/body/payload"]

    deduplicated = await create_endpoint(
        client, auth, event_types=["person.created", "person.created", "person.updated"]
    )
    assert deduplicated["event_types"] == ["person.created", "person.updated"]


async def test_the_webhooks_scope_is_required(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[Any], auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth)
    writer = await make_tenant(sessionmaker, "Writer", scopes=("read", "write"))
    for method, path in [
        ("GET", "/v1/webhook-endpoints"),
        ("POST", "/v1/webhook-endpoints"),
        ("GET", f"/v1/webhook-endpoints/{endpoint['id']}/secret"),
        ("GET", f"/v1/webhook-deliveries/{endpoint['id']}"),
    ]:
        response = await client.request(method, path, json={"url": URL}, headers=writer.headers)
        assert response.status_code == 403, path
        assert response.json()["code"] == "forbidden"


async def test_update_honours_if_match_and_delete_removes(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth)
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    updated = await client.patch(
        path,
        json={"description": "Workday", "payload": "thin", "event_types": ["person.updated"]},
        headers={**auth, "If-Match": etag},
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["description"], body["payload"], body["event_types"]) == (
        "Workday",
        "thin",
        ["person.updated"],
    )
    stale = await client.patch(path, json={"description": "x"}, headers={**auth, "If-Match": etag})
    assert stale.status_code == 412
    null = await client.patch(path, json={"url": None}, headers=auth)
    assert null.status_code == 422
    assert null.json()["errors"][0]["pointer"] == "/body/url"

    deleted = await client.delete(path, headers=auth)
    assert deleted.status_code == 204
    assert (await client.get(path, headers=auth)).status_code == 404


async def test_rotation_keeps_the_previous_secret_for_a_day(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth)
    before = utcnow()
    rotated = await client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=auth
    )
    assert rotated.status_code == 200
    body = rotated.json()
    assert SECRET.match(body["secret"])
    assert body["secret"] != endpoint["secret"]
    expires = datetime.fromisoformat(body["previous_secret_expires_at"])
    assert before + timedelta(hours=24) <= expires <= utcnow() + timedelta(hours=24)
    secret = await client.get(f"/v1/webhook-endpoints/{endpoint['id']}/secret", headers=auth)
    assert secret.json() == body


async def test_events_queue_one_delivery_per_subscribed_endpoint(
    client: httpx.AsyncClient, auth: dict[str, str], other_tenant: TenantKey
) -> None:
    everything = await create_endpoint(client, auth)
    updates_only = await create_endpoint(client, auth, event_types=["person.updated"])
    thin = await create_endpoint(client, auth, payload="thin")
    disabled = await create_endpoint(client, auth, enabled=False)
    foreign = await create_endpoint(client, other_tenant.headers)

    person = await create_person(client, auth, name="Ada")
    assert [d["event_type"] for d in await deliveries(client, auth, everything["id"])] == [
        "person.created"
    ]
    assert await deliveries(client, auth, updates_only["id"]) == []
    assert await deliveries(client, auth, disabled["id"]) == []
    assert await deliveries(client, other_tenant.headers, foreign["id"]) == []

    patched = await client.patch(f"/v1/people/{person['id']}", json={"title": "CTO"}, headers=auth)
    assert patched.status_code == 200
    [update] = await deliveries(client, auth, updates_only["id"])
    assert update["event_type"] == "person.updated"
    assert update["status"] == "pending"
    assert update["attempt_count"] == 0

    events = (await client.get("/v1/events", headers=auth)).json()["data"]
    event = next(e for e in events if e["type"] == "person.updated")
    assert update["event_id"] == event["id"]

    detail = (await client.get(f"/v1/webhook-deliveries/{update['id']}", headers=auth)).json()
    assert detail["attempts"] == []
    assert detail["payload"] == {
        "type": "person.updated",
        "timestamp": event["occurred_at"].replace("+00:00", "Z"),
        "data": patched.json(),
    }

    thin_deliveries = await deliveries(client, auth, thin["id"])
    assert [d["event_type"] for d in thin_deliveries] == ["person.updated", "person.created"]
    for item in thin_deliveries:
        thin_detail = (
            await client.get(f"/v1/webhook-deliveries/{item['id']}", headers=auth)
        ).json()
        assert thin_detail["payload"]["data"] == {"object": "person", "id": person["id"]}

    filtered = await deliveries(client, auth, everything["id"], event_type="person.updated")
    assert [d["event_type"] for d in filtered] == ["person.updated"]
    pending = await deliveries(client, auth, everything["id"], status="pending")
    assert len(pending) == 2
    assert await deliveries(client, auth, everything["id"], status="failed") == []
    bad = await client.get(
        f"/v1/webhook-endpoints/{everything['id']}/deliveries",
        params={"status": "lost"},
        headers=auth,
    )
    assert bad.status_code == 422


async def test_test_event_goes_to_that_endpoint_only(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    tested = await create_endpoint(client, auth)
    bystander = await create_endpoint(client, auth)
    response = await client.post(f"/v1/webhook-endpoints/{tested['id']}/test", headers=auth)
    assert response.status_code == 202
    delivery = response.json()
    assert response.headers["Location"] == f"/v1/webhook-deliveries/{delivery['id']}"
    assert delivery["event_type"] == "webhook.test"
    assert delivery["endpoint_id"] == tested["id"]
    assert [d["id"] for d in await deliveries(client, auth, tested["id"])] == [delivery["id"]]
    assert await deliveries(client, auth, bystander["id"]) == []
    detail = (await client.get(f"/v1/webhook-deliveries/{delivery['id']}", headers=auth)).json()
    assert detail["payload"]["type"] == "webhook.test"
    assert detail["payload"]["data"]["id"] == tested["id"]
    assert "secret" not in detail["payload"]["data"]


async def test_disabling_fails_queued_deliveries_and_recover_requeues_them(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth)
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    start = utcnow()
    await create_person(client, auth, name="Ada")
    await create_person(client, auth, name="Grace")

    disabled = await client.patch(path, json={"enabled": False}, headers=auth)
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] is None
    failed = await deliveries(client, auth, endpoint["id"], status="failed")
    assert len(failed) == 2
    assert {d["last_error"] for d in failed} == {"The endpoint was disabled."}

    for action in (f"{path}/test", f"/v1/webhook-deliveries/{failed[0]['id']}/retry"):
        refused = await client.post(action, headers=auth)
        assert refused.status_code == 409, action
    refused = await client.post(
        f"{path}/recover", params={"since": start.isoformat()}, headers=auth
    )
    assert refused.status_code == 409

    enabled = await client.patch(path, json={"enabled": True}, headers=auth)
    assert enabled.json()["enabled"] is True
    # `since` is an instant like every time filter: no naive times, no Unix numbers.
    for vague in ("2026-01-31T09:00:00", "1767225600"):
        unclear = await client.post(f"{path}/recover", params={"since": vague}, headers=auth)
        assert unclear.status_code == 422, vague
        assert unclear.headers["content-type"] == "application/problem+json"
        assert [e["pointer"] for e in unclear.json()["errors"]] == ["/query/since"]
    later = await client.post(
        f"{path}/recover", params={"since": utcnow().isoformat()}, headers=auth
    )
    assert later.json()["recovered"] == 0
    recovered = await client.post(
        f"{path}/recover", params={"since": start.isoformat()}, headers=auth
    )
    assert recovered.status_code == 200
    assert recovered.json() == {
        "endpoint_id": endpoint["id"],
        "since": start.isoformat().replace("+00:00", "Z"),
        "recovered": 2,
    }
    pending = await deliveries(client, auth, endpoint["id"], status="pending")
    assert len(pending) == 2
    assert all(d["completed_at"] is None for d in pending)


async def test_openapi_lists_every_event_under_webhooks(client: httpx.AsyncClient) -> None:
    from app.core.event_types import EVENT_TYPES

    schema = (await client.get("/openapi.json")).json()
    webhooks = schema["webhooks"]
    assert sorted(webhooks) == sorted(EVENT_TYPES)
    created = webhooks["person.created"]["post"]
    body = created["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["type", "timestamp", "data"]
    assert body["properties"]["type"] == {"type": "string", "const": "person.created"}
    assert body["properties"]["data"]["oneOf"] == [
        {"$ref": "#/components/schemas/PersonRead"},
        {"$ref": "#/components/schemas/ThinData"},
    ]
    assert {p["name"] for p in created["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    for name in ("PersonRead", "ThinData", "WebhookEndpointRead"):
        assert name in schema["components"]["schemas"]
    test_data = webhooks["webhook.test"]["post"]["requestBody"]["content"]["application/json"]
    assert test_data["schema"]["properties"]["data"]["oneOf"][0] == {
        "$ref": "#/components/schemas/WebhookEndpointRead"
    }
    assert "secret" not in schema["components"]["schemas"]["WebhookEndpointRead"]["properties"]
