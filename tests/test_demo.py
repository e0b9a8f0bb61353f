from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.demo import DemoBuilder
from app.main import create_app


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
