from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.demo import DemoBuilder
from app.main import create_app
from app.schemas.common import EXAMPLE_CONVERSATION_ID, EXAMPLE_EMPLOYEE_ID, EXAMPLE_MANAGER_ID


async def test_demo_builds_a_believable_organisation(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings, engine=engine, sessionmaker=sessionmaker)
    tenant = await DemoBuilder(app, settings.admin_token).build("Demo")
    headers = {"Authorization": f"Bearer {tenant['api_key']['secret']}"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def count(path: str) -> int:
            return len(
                (await client.get(path, params={"limit": 100}, headers=headers)).json()["data"]
            )

        async def statuses(path: str) -> list[str]:
            body = (await client.get(path, params={"limit": 100}, headers=headers)).json()
            return sorted(item["status"] for item in body["data"])

        assert await count("/v1/people") == 8
        assert await count("/v1/mentorships") == 1
        assert await statuses("/v1/conversations") == [
            "canceled",
            "completed",
            "draft",
            "scheduled",
        ]
        assert await statuses("/v1/goals") == ["agreed"]
        assert await count("/v1/action-plans") == 1
        assert await count("/v1/feedback") == 1
        assert await statuses("/v1/feedback-requests") == ["open"]
        assert await statuses("/v1/follow-ups") == ["pending", "pending"]
        managers = (await client.get("/v1/people?limit=100", headers=headers)).json()["data"]
        assert sum(1 for p in managers if p["manager_id"] is None) == 1


async def test_request_examples_succeed_on_the_demo_tenant(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """What "Try it out" on /docs sends: the documented example of each create, its ids
    replaced by the ones `ccapi demo` prints (a person needs none), and ids in the path
    taken from what the examples created. Each is sent twice: no external_id collides."""
    app = create_app(settings, engine=engine, sessionmaker=sessionmaker)
    builder = DemoBuilder(app, settings.admin_token)
    tenant = await builder.build("Demo")
    headers = {"Authorization": f"Bearer {tenant['api_key']['secret']}"}
    ids = list(builder.sample_ids.values())
    assert list(builder.sample_ids) == [
        "employee_id, owner_id (Ada Lovelace, an engineer)",
        "facilitator_id (Grace Hopper, her manager)",
        "conversation_ids (their completed career conversation)",
    ]
    paste = dict(
        zip([EXAMPLE_EMPLOYEE_ID, EXAMPLE_MANAGER_ID, EXAMPLE_CONVERSATION_ID], ids, strict=True)
    )

    def pasted(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: pasted(v) for k, v in value.items()}
        if isinstance(value, list):
            return [pasted(v) for v in value]
        return paste.get(value, value) if isinstance(value, str) else value

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        document = (await client.get("/openapi.json")).json()
        schemas = document["components"]["schemas"]

        def example(path: str, method: str) -> Any:
            body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
            return schemas[body["schema"]["$ref"].rsplit("/", 1)[1]]["examples"][0]

        person = example("/v1/people", "post")
        assert "manager_id" not in person and "external_id" not in person
        created: dict[str, str] = {}
        for path in (
            "/v1/people",
            "/v1/conversations",
            "/v1/goals",
            "/v1/feedback",
            "/v1/feedback-requests",
            "/v1/follow-ups",
            "/v1/action-plans",
            "/v1/action-plans/{plan_id}/items",
            "/v1/conversations/{conversation_id}/agenda-items",
            "/v1/conversations/{conversation_id}/notes",
            "/v1/agenda-templates",
            "/v1/conversation-series",
            "/v1/career-tracks",
        ):
            # The path's own ids: what the examples above created (a draft conversation).
            url = path.format(
                plan_id=created.get("/v1/action-plans"),
                conversation_id=created.get("/v1/conversations"),
            )
            for _ in range(2):
                response = await client.post(
                    url, json=pasted(example(path, "post")), headers=headers
                )
                assert response.status_code == 201, (path, response.text)
                created[path] = response.json()["id"]
        # A competency's name is unique in the tenant (ignoring case): its create and batch
        # examples work once.
        for path in ("/v1/competencies", "/v1/competencies/batch", "/v1/career-tracks/batch"):
            response = await client.post(path, json=example(path, "post"), headers=headers)
            assert response.status_code == 201, (path, response.text)
        competencies = (await client.get("/v1/competencies", headers=headers)).json()["data"]
        created["/v1/competencies"] = competencies[0]["id"]
        # One active pairing per mentor and mentee: this one works once.
        mentorship = pasted(example("/v1/mentorships", "post"))
        response = await client.post("/v1/mentorships", json=mentorship, headers=headers)
        assert response.status_code == 201, response.text
        # Every create example leaves external_id out (a second try would be a 409).
        for name, component in schemas.items():
            if name.endswith("Create"):
                for value in component.get("examples", []):
                    assert "external_id" not in value, name

        # Every PATCH example, sent to what the create examples made (and the tenant's own).
        created["/v1/mentorships"] = response.json()["id"]
        # Its create example's host resolves nowhere here: a loopback receiver (allowed in
        # the test settings) stands in.
        endpoint = {"url": "http://127.0.0.1:9/hook"}
        response = await client.post("/v1/webhook-endpoints", json=endpoint, headers=headers)
        created["/v1/webhook-endpoints"] = response.json()["id"]
        patched = []
        for path, operations in document["paths"].items():
            if "patch" not in operations:
                continue
            collection, _, _ = path.rpartition("/")
            url = path if "{" not in path else f"{collection}/{created[collection]}"
            url = url.format(
                plan_id=created.get("/v1/action-plans"),
                conversation_id=created.get("/v1/conversations"),
            )
            response = await client.patch(url, json=pasted(example(path, "patch")), headers=headers)
            assert response.status_code == 200, (path, response.text)
            patched.append(path)
        assert len(patched) == 17  # 16 resources and the tenant
        upsert = example("/v1/people/by-external-id/{external_id}", "put")
        response = await client.put("/v1/people/by-external-id/HR-1", json=upsert, headers=headers)
        assert response.status_code == 201, response.text
