"""SCIM 2.0 (/scim/v2): Users over the people of /v1/people, discovery, SCIM errors and
the ``scim`` scope. scim2-tester's run is tests/test_scim_tester.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.models.event import Event
from app.services import tenants
from tests.conftest import TenantKey

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


@pytest.fixture
async def scim_auth(
    tenant: TenantKey, sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, str]:
    """A key of ``tenant`` holding only the ``scim`` scope."""
    async with sessionmaker() as session:
        _, secret = await tenants.create_api_key(session, tenant.tenant_id, "idp", ["scim"])
        await session.commit()
    return {"Authorization": f"Bearer {secret}"}


def user(user_name: str, **more: Any) -> dict[str, Any]:
    return {"schemas": [CORE], "userName": user_name, **more}


def assert_error(response: httpx.Response, status: int, scim_type: str | None, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == SCIM_JSON
    want: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type is not None:
        want["scimType"] = scim_type
    assert response.json() == want


async def create(client: httpx.AsyncClient, auth: dict[str, str], body: Any) -> dict[str, Any]:
    response = await client.post("/scim/v2/Users", json=body, headers=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_user_is_a_person(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    scim_auth: dict[str, str],
    session: AsyncSession,
) -> None:
    boss = await create(client, scim_auth, user("grace@example.com", displayName="Grace"))
    response = await client.post(
        "/scim/v2/Users",
        json={
            "schemas": [CORE, ENTERPRISE],
            "userName": "ada@example.com",
            "externalId": "HR-1",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "title": "Engineer",
            "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
            ENTERPRISE: {"department": "R&D", "manager": {"value": boss["id"]}},
        },
        headers=scim_auth,
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == SCIM_JSON
    body = response.json()
    person_id = body["id"]
    meta = body.pop("meta")
    assert body == {
        "schemas": [CORE, ENTERPRISE],
        "id": person_id,
        "externalId": "HR-1",
        "userName": "ada@example.com",
        "displayName": "Ada Lovelace",
        "title": "Engineer",
        "active": True,
        "emails": [{"value": "ada@example.com"}],
        ENTERPRISE: {"department": "R&D", "manager": {"value": boss["id"]}},
    }
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"http://test/scim/v2/Users/{person_id}"
    assert response.headers["Location"] == meta["location"]
    assert response.headers["ETag"] == meta["version"]

    # The same person in /v1/people.
    person = (await client.get(f"/v1/people/{person_id}", headers=auth)).json()
    assert {k: person[k] for k in ("name", "email", "title", "manager_id", "external_id")} == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "title": "Engineer",
        "manager_id": boss["id"],
        "external_id": "HR-1",
    }
    assert person["status"] == "active"
    got = await client.get(f"/scim/v2/Users/{person_id}", headers=scim_auth)
    assert got.status_code == 200
    assert got.json() == {**body, "meta": meta}
    types = (
        await session.scalars(
            select(Event.type).where(col(Event.subject_id) == person_id).order_by(col(Event.id))
        )
    ).all()
    assert list(types) == ["person.created"]


async def test_a_person_of_v1_is_a_scim_user(
    client: httpx.AsyncClient, auth: dict[str, str], scim_auth: dict[str, str]
) -> None:
    # An address SCIM's own email check would refuse (a special-use domain) is answered.
    made = await client.post(
        "/v1/people", json={"name": "Linus", "email": "linus@kernel.test"}, headers=auth
    )
    person = made.json()
    got = await client.get(f"/scim/v2/Users/{person['id']}", headers=scim_auth)
    body = got.json()
    del body["meta"]
    # No userName of its own: the email stands for it.
    assert body == {
        "schemas": [CORE],
        "id": person["id"],
        "userName": "linus@kernel.test",
        "displayName": "Linus",
        "active": True,
        "emails": [{"value": "linus@kernel.test"}],
    }


async def test_user_name_and_external_id_are_unique(
    client: httpx.AsyncClient, scim_auth: dict[str, str]
) -> None:
    await create(client, scim_auth, user("bjensen", externalId="E-1"))
    taken = await client.post("/scim/v2/Users", json=user("BJensen"), headers=scim_auth)
    assert_error(taken, 409, "uniqueness", "userName 'BJensen' is taken.")
    again = await client.post(
        "/scim/v2/Users", json=user("other", externalId="E-1"), headers=scim_auth
    )
    assert_error(again, 409, "uniqueness", "externalId 'E-1' is taken.")


async def test_filters_and_pagination(client: httpx.AsyncClient, scim_auth: dict[str, str]) -> None:
    ids = []
    for n in range(5):
        made = await create(
            client,
            scim_auth,
            user(
                f"u{n}",
                externalId=f"X-{n}",
                emails=[{"value": f"u{n}@example.com"}],
                active=n != 3,
            ),
        )
        ids.append(made["id"])

    async def listed(**params: Any) -> tuple[int, list[str]]:
        response = await client.get("/scim/v2/Users", params=params, headers=scim_auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["schemas"] == [LIST]
        assert body["itemsPerPage"] == len(body["Resources"])
        return body["totalResults"], [r["id"] for r in body["Resources"]]

    assert await listed() == (5, ids)
    assert await listed(filter='userName eq "U2"') == (1, [ids[2]])
    assert await listed(filter='externalId eq "X-4"') == (1, [ids[4]])
    assert await listed(filter='externalId eq "x-4"') == (0, [])  # caseExact
    assert await listed(filter='emails.value eq "u1@example.com"') == (1, [ids[1]])
    assert await listed(filter="active eq false") == (1, [ids[3]])
    assert await listed(filter='active eq true and userName eq "u3"') == (0, [])
    assert await listed(filter='active eq true and emails.value eq "u0@example.com"') == (
        1,
        [ids[0]],
    )
    assert await listed(startIndex=2, count=2) == (5, ids[1:3])
    assert await listed(startIndex=5, count=10) == (5, ids[4:])
    assert await listed(count=0) == (5, [])
    assert await listed(startIndex=0, count=1) == (5, ids[:1])  # below 1 reads as 1

    for bad, detail in [
        (
            'userName co "u"',
            "Only `eq` comparisons on userName, externalId, emails.value "
            "and active, joined by `and`, are supported.",
        ),
        (
            'userName eq "u1" or userName eq "u2"',
            "Only `eq` comparisons on userName, "
            "externalId, emails.value and active, joined by `and`, are supported.",
        ),
        (
            'title eq "x"',
            "Cannot filter on title: only userName, externalId, emails.value and active.",
        ),
    ]:
        response = await client.get("/scim/v2/Users", params={"filter": bad}, headers=scim_auth)
        assert_error(response, 400, "invalidFilter", detail)
    broken = await client.get("/scim/v2/Users", params={"filter": "userName eq"}, headers=scim_auth)
    assert broken.status_code == 400
    assert broken.json()["scimType"] == "invalidFilter"
    count = await client.get("/scim/v2/Users", params={"count": "many"}, headers=scim_auth)
    assert_error(count, 400, "invalidValue", "count must be an integer.")


async def test_patch_add_replace_remove(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    scim_auth: dict[str, str],
    session: AsyncSession,
) -> None:
    boss = await create(client, scim_auth, user("boss"))
    made = await create(client, scim_auth, user("ada", displayName="Ada", title="Engineer"))
    url = f"/scim/v2/Users/{made['id']}"

    async def patch(*operations: dict[str, Any]) -> dict[str, Any]:
        response = await client.patch(
            url, json={"schemas": [PATCH], "Operations": list(operations)}, headers=scim_auth
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        del body["meta"]
        return body

    # replace without path: a map of attributes
    body = await patch({"op": "replace", "value": {"displayName": "Ada L.", "active": False}})
    assert (body["displayName"], body["active"]) == ("Ada L.", False)
    # add with a path, into the extension
    body = await patch(
        {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": boss["id"]}},
        {"op": "add", "path": f"{ENTERPRISE}:department", "value": "R&D"},
        {"op": "add", "path": "emails", "value": [{"value": "ada@example.com"}]},
    )
    assert body[ENTERPRISE] == {"department": "R&D", "manager": {"value": boss["id"]}}
    assert body["emails"] == [{"value": "ada@example.com"}]
    # add without a path
    body = await patch({"op": "add", "value": {"title": "Staff Engineer", "active": True}})
    assert (body["title"], body["active"]) == ("Staff Engineer", True)
    # replace with a path
    body = await patch({"op": "replace", "path": "userName", "value": "ada.l"})
    assert body["userName"] == "ada.l"
    # remove with a path
    body = await patch(
        {"op": "remove", "path": "title"}, {"op": "remove", "path": f"{ENTERPRISE}:manager"}
    )
    assert "title" not in body
    assert body[ENTERPRISE] == {"department": "R&D"}
    assert body == {
        "schemas": [CORE, ENTERPRISE],
        "id": made["id"],
        "userName": "ada.l",
        "displayName": "Ada L.",
        "active": True,
        "emails": [{"value": "ada@example.com"}],
        ENTERPRISE: {"department": "R&D"},
    }
    person = (await client.get(f"/v1/people/{made['id']}", headers=auth)).json()
    assert (person["name"], person["title"], person["manager_id"], person["status"]) == (
        "Ada L.",
        None,
        None,
        "active",
    )
    types = (
        await session.scalars(
            select(Event.type).where(col(Event.subject_id) == made["id"]).order_by(col(Event.id))
        )
    ).all()
    # The manager added, then removed: each a re-org (app/services/reorg.py) after its update.
    assert list(types) == [
        "person.created",
        "person.updated",
        "person.updated",
        "person.manager_changed",
        "person.updated",
        "person.updated",
        "person.updated",
        "person.manager_changed",
    ]

    bad = await client.patch(
        url,
        json={"schemas": [PATCH], "Operations": [{"op": "move", "path": "title"}]},
        headers=scim_auth,
    )
    assert bad.status_code == 400
    assert bad.json()["schemas"] == [ERROR]
    cycle = await client.patch(
        f"/scim/v2/Users/{boss['id']}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": boss["id"]}}
            ],
        },
        headers=scim_auth,
    )
    assert_error(cycle, 400, "invalidValue", "manager_id: A person cannot manage themselves.")


async def test_put_replaces_the_user(client: httpx.AsyncClient, scim_auth: dict[str, str]) -> None:
    made = await create(
        client,
        scim_auth,
        {
            "schemas": [CORE, ENTERPRISE],
            "userName": "ada",
            "title": "Engineer",
            ENTERPRISE: {"department": "R&D"},
        },
    )
    url = f"/scim/v2/Users/{made['id']}"
    response = await client.put(
        url, json=user("ada", displayName="Ada Lovelace", active=False), headers=scim_auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    del body["meta"]
    assert body == {
        "schemas": [CORE],
        "id": made["id"],
        "userName": "ada",
        "displayName": "Ada Lovelace",
        "active": False,
    }
    stale = await client.put(
        url, json=user("ada"), headers={**scim_auth, "If-Match": made["meta"]["version"]}
    )
    assert_error(
        stale,
        412,
        None,
        "The user changed since you read it (If-Match does not match its version); fetch it "
        "again and retry.",
    )
    current = response.headers["ETag"]
    fresh = await client.put(url, json=user("ada"), headers={**scim_auth, "If-Match": current})
    assert fresh.status_code == 200


async def test_delete_deactivates_and_then_404s(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    scim_auth: dict[str, str],
    session: AsyncSession,
) -> None:
    made = await create(client, scim_auth, user("ada", externalId="HR-9"))
    url = f"/scim/v2/Users/{made['id']}"
    deleted = await client.delete(url, headers=scim_auth)
    assert deleted.status_code == 204
    assert deleted.content == b""
    detail = f"No user with id {made['id']}."
    assert_error(await client.get(url, headers=scim_auth), 404, None, detail)
    assert_error(await client.delete(url, headers=scim_auth), 404, None, detail)
    listed = await client.get("/scim/v2/Users", headers=scim_auth)
    assert listed.json()["totalResults"] == 0
    person = (await client.get(f"/v1/people/{made['id']}", headers=auth)).json()
    assert (person["status"], person["external_id"]) == ("inactive", "HR-9")
    # The userName is free again: a new user may take it.
    other = await create(client, scim_auth, user("ada"))
    assert other["id"] != made["id"]
    filtered = await client.get(
        "/scim/v2/Users", params={"filter": 'externalId eq "HR-9"'}, headers=scim_auth
    )
    assert filtered.json()["totalResults"] == 0
    # Provisioned again (same externalId), the deleted person comes back: a replace, 201.
    again = await client.post(
        "/scim/v2/Users",
        json=user("ada2", externalId="HR-9", displayName="Ada L", title="CTO"),
        headers=scim_auth,
    )
    assert again.status_code == 201, again.text
    body = again.json()
    assert body["id"] == made["id"]
    assert again.headers["Location"] == f"http://test{url}"
    assert again.headers["ETag"] == body["meta"]["version"]
    assert {k: body[k] for k in ("userName", "externalId", "displayName", "title", "active")} == {
        "userName": "ada2",
        "externalId": "HR-9",
        "displayName": "Ada L",
        "title": "CTO",
        "active": True,
    }
    assert (await client.get(url, headers=scim_auth)).json() == body
    person = (await client.get(f"/v1/people/{made['id']}", headers=auth)).json()
    assert (person["status"], person["name"], person["title"]) == ("active", "Ada L", "CTO")
    types = (
        await session.scalars(
            select(Event.type).where(col(Event.subject_id) == made["id"]).order_by(col(Event.id))
        )
    ).all()
    assert list(types) == ["person.created", "person.updated", "person.updated"]
    # Deleted again and reactivated through /v1, the person is a SCIM user again.
    assert (await client.delete(url, headers=scim_auth)).status_code == 204
    await client.patch(f"/v1/people/{made['id']}", json={"status": "active"}, headers=auth)
    back = await client.get(url, headers=scim_auth)
    assert back.status_code == 200
    assert back.json()["active"] is True


async def test_bad_requests_are_scim_errors(
    client: httpx.AsyncClient, scim_auth: dict[str, str], other_tenant: TenantKey
) -> None:
    post = await client.post(
        "/scim/v2/Users",
        content=b"{not json",
        headers={**scim_auth, "Content-Type": SCIM_JSON},
    )
    assert_error(post, 400, "invalidSyntax", "The body is not JSON.")
    missing = await client.post("/scim/v2/Users", json={"schemas": [CORE]}, headers=scim_auth)
    assert missing.status_code == 400
    assert missing.json()["schemas"] == [ERROR]
    unknown_manager = await client.post(
        "/scim/v2/Users",
        json={
            "schemas": [CORE, ENTERPRISE],
            "userName": "x",
            ENTERPRISE: {"manager": {"value": "01a22f2f-280e-7c14-835e-49662bab77fb"}},
        },
        headers=scim_auth,
    )
    assert_error(
        unknown_manager,
        400,
        "invalidValue",
        "manager_id: No person with id 01a22f2f-280e-7c14-835e-49662bab77fb in this tenant.",
    )
    not_an_id = await client.post(
        "/scim/v2/Users",
        json={
            "schemas": [CORE, ENTERPRISE],
            "userName": "x",
            ENTERPRISE: {"manager": {"value": "7"}},
        },
        headers=scim_auth,
    )
    assert_error(
        not_an_id,
        400,
        "invalidValue",
        "manager.value must be the SCIM id of a user of this service.",
    )
    nul = await client.post("/scim/v2/Users", json=user("a\u0000b"), headers=scim_auth)
    assert_error(nul, 400, "invalidValue", "A value cannot be stored (U+0000?).")
    long_name = await client.post("/scim/v2/Users", json=user("x" * 257), headers=scim_auth)
    assert_error(long_name, 400, "invalidValue", "userName is at most 256 characters.")
    assert_error(
        await client.get("/scim/v2/Users/nope", headers=scim_auth),
        404,
        None,
        "No user with id nope.",
    )
    assert_error(
        await client.get("/scim/v2/Groups", headers=scim_auth),
        404,
        None,
        "No SCIM endpoint /scim/v2/Groups.",
    )
    # Another tenant's user is not found.
    foreign = await client.post("/v1/people", json={"name": "Other"}, headers=other_tenant.headers)
    foreign_id = foreign.json()["id"]
    assert_error(
        await client.get(f"/scim/v2/Users/{foreign_id}", headers=scim_auth),
        404,
        None,
        f"No user with id {foreign_id}.",
    )


async def test_the_scim_scope_is_needed(
    client: httpx.AsyncClient, auth: dict[str, str], scim_auth: dict[str, str]
) -> None:
    # ``auth`` holds read, write and webhooks: not scim.
    assert_error(
        await client.get("/scim/v2/Users", headers=auth),
        403,
        None,
        "This API key lacks the 'scim' scope.",
    )
    assert_error(
        await client.get("/scim/v2/ServiceProviderConfig"),
        401,
        None,
        "Send an API key as `Authorization: Bearer cck_live_…`.",
    )
    person = (await client.post("/v1/people", json={"name": "P"}, headers=auth)).json()
    acting = await client.get(
        "/scim/v2/Users", headers={**scim_auth, "Acting-Person": person["id"]}
    )
    assert_error(acting, 403, None, "Only the platform may do this; it cannot be done as a person.")
    # A scim-only key reaches nothing of /v1.
    assert (await client.get("/v1/people", headers=scim_auth)).status_code == 403


async def test_discovery(client: httpx.AsyncClient, scim_auth: dict[str, str]) -> None:
    config = await client.get("/scim/v2/ServiceProviderConfig", headers=scim_auth)
    assert config.status_code == 200
    body = config.json()
    assert {k: body[k] for k in ("patch", "bulk", "filter", "sort", "etag")} == {
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 200},
        "sort": {"supported": False},
        "etag": {"supported": True},
    }
    types = (await client.get("/scim/v2/ResourceTypes", headers=scim_auth)).json()
    assert types["totalResults"] == 1
    assert {k: types["Resources"][0][k] for k in ("id", "endpoint", "schema")} == {
        "id": "User",
        "endpoint": "/Users",
        "schema": CORE,
    }
    assert types["Resources"][0]["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    schemas = (await client.get("/scim/v2/Schemas", headers=scim_auth)).json()
    attributes = {s["id"]: sorted(a["name"] for a in s["attributes"]) for s in schemas["Resources"]}
    assert attributes == {
        CORE: ["active", "displayName", "emails", "title", "userName"],
        ENTERPRISE: ["department", "manager"],
    }
    one = await client.get(f"/scim/v2/Schemas/{ENTERPRISE}", headers=scim_auth)
    assert one.json()["id"] == ENTERPRISE
    refused = await client.post("/scim/v2/Schemas", json={}, headers=scim_auth)
    assert_error(refused, 405, None, "POST is not allowed on /Schemas; use GET.")
    assert refused.headers["Allow"] == "GET"


async def test_a_start_index_past_anything_is_an_empty_page(
    client: httpx.AsyncClient, scim_auth: dict[str, str]
) -> None:
    await client.post("/scim/v2/Users", json=user("bjensen"), headers=scim_auth)
    for start in ("99999999999999999999", "9223372036854775807", "2147483648"):
        response = await client.get(
            "/scim/v2/Users", params={"startIndex": start}, headers=scim_auth
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["totalResults"], body.get("Resources", [])) == (1, [])
