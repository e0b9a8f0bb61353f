"""Person sessions: a platform key mints a short-lived ``ccs_`` token for one person; the
token acts for that person on read and write routes, expires, can be revoked, and is
stored only as a hash."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_conversation

Client = httpx.AsyncClient
SESSION_FIELDS = {
    "id", "person_id", "api_key_id", "expires_at", "revoked_at", "created_at", "updated_at",
}  # fmt: skip


async def mint(
    client: Client, headers: dict[str, str], person_id: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/person-sessions", json={"person_id": person_id, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['token']}"}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_mint_answers_the_token_once_and_stores_its_hash(
    client: Client, tenant: TenantKey, session: AsyncSession
) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    created = await client.post(
        "/v1/person-sessions", json={"person_id": ada["id"]}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == SESSION_FIELDS | {"token"}
    assert body["person_id"] == ada["id"]
    assert body["api_key_id"] == str(tenant.key_id)
    assert body["revoked_at"] is None
    assert body["token"].startswith("ccs_")
    assert len(body["token"]) == len("ccs_") + 43
    assert instant(body["expires_at"]) - instant(body["created_at"]) == timedelta(seconds=900)
    assert created.headers["location"] == f"/v1/person-sessions/{body['id']}"

    row = (
        await session.execute(
            sa.text("SELECT * FROM person_sessions WHERE id = :id"), {"id": body["id"]}
        )
    ).one()
    assert row.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in [str(value) for value in row]

    # The read never shows the token; it answers what the create did, with its ETag.
    read = await client.get(created.headers["location"], headers=tenant.headers)
    assert read.status_code == 200
    assert read.json() == {k: v for k, v in body.items() if k != "token"}
    assert read.headers["etag"] == created.headers["etag"]


async def test_ttl_is_bounded_and_the_person_must_be_of_the_tenant(
    client: Client, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    bob = await create_person(client, other_tenant.headers, name="Bob")
    for ttl in (59, 3601, 1.5, "900", None):
        refused = await client.post(
            "/v1/person-sessions",
            json={"person_id": ada["id"], "ttl_seconds": ttl},
            headers=tenant.headers,
        )
        assert refused.status_code == 422, (ttl, refused.text)
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/body/ttl_seconds"]
    short = await mint(client, tenant.headers, ada["id"], ttl_seconds=60)
    assert instant(short["expires_at"]) - instant(short["created_at"]) == timedelta(seconds=60)
    for person_id in (bob["id"], str(uuid.uuid4())):
        refused = await client.post(
            "/v1/person-sessions", json={"person_id": person_id}, headers=tenant.headers
        )
        assert refused.status_code == 422
        (error,) = refused.json()["errors"]
        assert (error["pointer"], error["code"]) == ("/body/person_id", "unknown_reference")


async def test_the_token_acts_for_its_person(client: Client, tenant: TenantKey) -> None:
    mine = await create_conversation(client, tenant.headers)
    theirs = await create_conversation(client, tenant.headers)
    ada = mine["employee_id"]
    token = bearer(await mint(client, tenant.headers, ada))

    assert (await client.get(f"/v1/conversations/{mine['id']}", headers=token)).status_code == 200
    hidden = await client.get(f"/v1/conversations/{theirs['id']}", headers=token)
    assert hidden.status_code == 404
    assert hidden.json()["detail"] == f"No conversation with id {theirs['id']}."
    listed = await client.get("/v1/conversations", headers=token)
    assert [c["id"] for c in listed.json()["data"]] == [mine["id"]]
    # The directory shows people without what only the platform sees.
    person = (await client.get(f"/v1/people/{ada}", headers=token)).json()
    assert person["metadata"] == {}

    # A write as the person: the event records the key that minted the token and the person.
    item = await client.post(
        f"/v1/conversations/{mine['id']}/agenda-items",
        json={"author_id": ada, "topic": "Next role"},
        headers=token,
    )
    assert item.status_code == 201, item.text
    events = (await client.get("/v1/events?limit=100", headers=tenant.headers)).json()["data"]
    assert events[-1]["type"] == "agenda_item.created"
    assert events[-1]["actor"] == {"api_key_id": str(tenant.key_id), "person_id": ada}

    # Acting-Person may name the session's own person, nobody else.
    same = await client.get("/v1/conversations", headers={**token, "Acting-Person": ada})
    assert same.status_code == 200
    other = await client.get(
        "/v1/conversations", headers={**token, "Acting-Person": theirs["employee_id"]}
    )
    assert other.status_code == 403
    assert other.json()["code"] == "not_permitted"


async def test_platform_routes_refuse_the_token(
    client: Client, tenant: TenantKey, admin_headers: dict[str, str]
) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    minted = await mint(client, tenant.headers, ada["id"])
    token = bearer(minted)
    refusals = {
        ("GET", "/v1/tenant"): "not_permitted",
        ("PATCH", "/v1/tenant"): "not_permitted",
        ("POST", "/v1/people"): "not_permitted",
        ("POST", "/v1/person-sessions"): "not_permitted",
        ("GET", f"/v1/person-sessions/{minted['id']}"): "not_permitted",
        ("DELETE", f"/v1/person-sessions/{minted['id']}"): "not_permitted",
        ("GET", "/v1/webhook-endpoints"): "not_permitted",
        ("POST", "/v1/webhook-endpoints"): "not_permitted",
    }
    bodies = {"PATCH": {"name": "Mine now"}, "POST": {"person_id": ada["id"], "name": "X"}}
    answers = {}
    for (method, path), _ in refusals.items():
        response = await client.request(method, path, json=bodies.get(method), headers=token)
        answers[(method, path)] = (response.status_code, response.json()["code"])
    assert answers == {route: (403, code) for route, code in refusals.items()}
    # The admin API takes only the admin token.
    admin = await client.get("/v1/admin/tenants", headers=token)
    assert admin.status_code == 401
    # The session still works (nothing above revoked it).
    assert (await client.get("/v1/people", headers=token)).status_code == 200


async def test_an_expired_session_is_refused(
    client: Client, tenant: TenantKey, session: AsyncSession
) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    minted = await mint(client, tenant.headers, ada["id"], ttl_seconds=60)
    assert (await client.get("/v1/people", headers=bearer(minted))).status_code == 200
    await session.execute(
        sa.text(
            "UPDATE person_sessions SET expires_at = now() - interval '1 second' WHERE id = :id"
        ),
        {"id": minted["id"]},
    )
    await session.flush()
    expired = await client.get("/v1/people", headers=bearer(minted))
    assert expired.status_code == 401
    assert expired.json()["detail"] == "The person session has expired; create a new one."


async def test_revoking_ends_the_session_at_once(
    client: Client, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    minted = await mint(client, tenant.headers, ada["id"])
    kept = await mint(client, tenant.headers, ada["id"])
    url = f"/v1/person-sessions/{minted['id']}"
    assert (await client.get("/v1/people", headers=bearer(minted))).status_code == 200

    assert (await client.delete(url, headers=other_tenant.headers)).status_code == 404
    revoked = await client.delete(url, headers=tenant.headers)
    assert revoked.status_code == 204
    refused = await client.get("/v1/people", headers=bearer(minted))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The person session has been revoked; create a new one."
    read = (await client.get(url, headers=tenant.headers)).json()
    assert read["revoked_at"] is not None
    # Again: nothing changes. Another session of the same person still works.
    assert (await client.delete(url, headers=tenant.headers)).status_code == 204
    assert (await client.get(url, headers=tenant.headers)).json() == read
    assert (await client.get("/v1/people", headers=bearer(kept))).status_code == 200
    missing = await client.delete(f"/v1/person-sessions/{uuid.uuid4()}", headers=tenant.headers)
    assert missing.status_code == 404


async def test_revoking_the_minting_key_ends_its_sessions(
    client: Client, tenant: TenantKey, admin_headers: dict[str, str]
) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    minted = await mint(client, tenant.headers, ada["id"])
    assert (await client.get("/v1/people", headers=bearer(minted))).status_code == 200
    revoked = await client.delete(f"/v1/admin/api-keys/{tenant.key_id}", headers=admin_headers)
    assert revoked.status_code == 200
    refused = await client.get("/v1/people", headers=bearer(minted))
    assert refused.status_code == 401
    assert refused.json()["detail"] == (
        "The API key that created this person session has been revoked."
    )


async def test_unknown_and_malformed_tokens_are_401(client: Client) -> None:
    unknown = await client.get("/v1/people", headers={"Authorization": "Bearer ccs_nope"})
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "The person session token is not valid."
    long = await client.get("/v1/people", headers={"Authorization": "Bearer ccs_" + "x" * 300})
    assert long.status_code == 401
    assert long.json()["detail"] == "The API key is malformed."


async def test_requests_count_against_the_minting_key(client: Client, tenant: TenantKey) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    token = bearer(await mint(client, tenant.headers, ada["id"]))

    def remaining(response: httpx.Response) -> int:
        return int(response.headers["RateLimit"].split("r=")[1].split(";")[0])

    first = remaining(await client.get("/v1/people", headers=tenant.headers))
    second = remaining(await client.get("/v1/people", headers=token))
    third = remaining(await client.get("/v1/people", headers=tenant.headers))
    assert (first - second, second - third) == (1, 1)


async def test_replaying_a_mint_answers_the_same_token_sealed_at_rest(
    client: Client, tenant: TenantKey, session: AsyncSession
) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    headers = {**tenant.headers, "Idempotency-Key": "mint-1"}
    first = await client.post("/v1/person-sessions", json={"person_id": ada["id"]}, headers=headers)
    again = await client.post("/v1/person-sessions", json={"person_id": ada["id"]}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    stored = await session.scalar(
        sa.text("SELECT response_body FROM idempotency_records WHERE key = 'mint-1'")
    )
    assert stored is not None
    assert first.json()["token"].encode() not in stored
    count = await session.scalar(sa.text("SELECT count(*) FROM person_sessions"))
    assert count == 1


async def test_deleting_the_person_deletes_their_sessions(
    client: Client, tenant: TenantKey
) -> None:
    ada = await create_person(client, tenant.headers, name="Ada")
    minted = await mint(client, tenant.headers, ada["id"])
    deleted = await client.delete(f"/v1/people/{ada['id']}", headers=tenant.headers)
    assert deleted.status_code == 204, deleted.text
    gone = await client.get(f"/v1/person-sessions/{minted['id']}", headers=tenant.headers)
    assert gone.status_code == 404
    assert (await client.get("/v1/people", headers=bearer(minted))).status_code == 401


async def test_erasing_the_person_ends_their_sessions(client: Client, tenant: TenantKey) -> None:
    conversation = await create_conversation(client, tenant.headers)
    ada = conversation["employee_id"]  # she has history: she is erased, not deleted
    minted = await mint(client, tenant.headers, ada)
    erased = await client.delete(f"/v1/people/{ada}?erase=true", headers=tenant.headers)
    assert erased.status_code == 200, erased.text
    refused = await client.get("/v1/people", headers=bearer(minted))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The person session token is not valid."
