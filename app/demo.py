"""``ccapi demo``: a demo tenant with a believable organisation, built through the API itself
(in-process), so the demo data passes every rule and writes every event a client's would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI


class DemoBuilder:
    def __init__(self, app: FastAPI, admin_token: str) -> None:
        self.app = app
        self.admin_token = admin_token
        self.client: httpx.AsyncClient
        self.headers: dict[str, str] = {}
        # Ids to paste over the request examples' placeholders on /docs: what each stands
        # for -> this demo's id.
        self.sample_ids: dict[str, str] = {}

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = await self.client.request(method, path, json=body, headers=self.headers)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
        result: dict[str, Any] = response.json()
        return result

    async def person(
        self,
        name: str,
        title: str,
        manager: dict[str, Any] | None = None,
        timezone: str = "Europe/London",
    ) -> dict[str, Any]:
        slug = name.lower().replace(" ", ".")
        return await self._call(
            "POST",
            "/v1/people",
            {
                "name": name,
                "email": f"{slug}@acme.example",
                "title": title,
                "manager_id": manager["id"] if manager else None,
                "timezone": timezone,
                "external_id": f"HR-{slug}",
            },
        )

    async def build(self, tenant_name: str) -> dict[str, Any]:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            self.client = client
            self.headers = {"Authorization": f"Bearer {self.admin_token}"}
            tenant = await self._call("POST", "/v1/admin/tenants", {"name": tenant_name})
            self.headers = {"Authorization": f"Bearer {tenant['api_key']['secret']}"}
            await self._organisation()
            return tenant

    async def _organisation(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        cto = await self.person("Margaret Hamilton", "CTO")
        eng_mgr = await self.person("Grace Hopper", "Engineering Manager", cto)
        design_mgr = await self.person("Susan Kare", "Design Manager", cto)
        ada = await self.person("Ada Lovelace", "Software Engineer", eng_mgr)
        alan = await self.person("Alan Turing", "Senior Engineer", eng_mgr, "Europe/Paris")
        katherine = await self.person(
            "Katherine Johnson", "Data Analyst", eng_mgr, "America/New_York"
        )
        dieter = await self.person("Dieter Rams", "Product Designer", design_mgr, "Europe/Berlin")
        mentor = await self.person("Barbara Liskov", "Principal Engineer", cto, "America/New_York")

        self.sample_ids["employee_id, owner_id (Ada Lovelace, an engineer)"] = ada["id"]
        self.sample_ids["facilitator_id (Grace Hopper, her manager)"] = eng_mgr["id"]
        await self._call(
            "POST",
            "/v1/mentorships",
            {"mentor_id": mentor["id"], "mentee_id": ada["id"], "focus": "Path to staff engineer"},
        )

        # A completed career conversation with agenda, goal, plan, feedback and follow-up.
        done = await self._call(
            "POST",
            "/v1/conversations",
            {
                "employee_id": ada["id"],
                "facilitator_id": eng_mgr["id"],
                "kind": "career",
                "timezone": "Europe/London",
                "meeting_url": "https://meet.example.com/ada-grace",
                "employee_objectives": "Understand what it takes to lead a project.",
                "facilitator_objectives": "Agree on one stretch goal for the next half.",
            },
        )
        self.sample_ids["conversation_ids (their completed career conversation)"] = done["id"]
        for topic, category in [
            ("Where I want to be in two years", "aspirations"),
            ("What went well on the billing migration", "strengths"),
            ("Public speaking", "growth_areas"),
        ]:
            await self._call(
                "POST",
                f"/v1/conversations/{done['id']}/agenda-items",
                {"author_id": ada["id"], "topic": topic, "category": category},
            )
        await self._call(
            "POST",
            f"/v1/conversations/{done['id']}/schedule",
            {"scheduled_start": (now - timedelta(days=7)).isoformat()},
        )
        for person in (ada, eng_mgr):
            await self._call(
                "POST", f"/v1/conversations/{done['id']}/prepare", {"person_id": person["id"]}
            )
        await self._call(
            "POST",
            f"/v1/conversations/{done['id']}/complete",
            {"summary": "Ada will lead the next migration; Grace will find a speaking slot."},
        )
        goal = await self._call(
            "POST",
            "/v1/goals",
            {
                "owner_id": ada["id"],
                "title": "Lead a cross-team project",
                "category": "project",
                "target_date": (date.today() + timedelta(days=180)).isoformat(),
                "success_criteria": "Ships on time with two teams involved.",
                "target_role": "Tech Lead",
                "conversation_ids": [done["id"]],
            },
        )
        await self._call(
            "POST", f"/v1/goals/{goal['id']}/agree", {"party": "employee", "person_id": ada["id"]}
        )
        await self._call(
            "POST",
            f"/v1/goals/{goal['id']}/agree",
            {"party": "facilitator", "person_id": eng_mgr["id"]},
        )
        plan = await self._call(
            "POST",
            "/v1/action-plans",
            {
                "title": "Towards tech lead",
                "owner_id": ada["id"],
                "goal_id": goal["id"],
                "conversation_id": done["id"],
            },
        )
        steps = [
            ("Draft the migration plan", ada, 10, "in_progress"),
            ("Introduce Ada to the platform team", eng_mgr, 3, "done"),
            ("Give a talk at the engineering all-hands", ada, -2, "todo"),
        ]
        for title, assignee, days, status in steps:
            await self._call(
                "POST",
                f"/v1/action-plans/{plan['id']}/items",
                {
                    "title": title,
                    "assignee_id": assignee["id"],
                    "due_date": (date.today() + timedelta(days=days)).isoformat(),
                    "status": status,
                },
            )
        await self._call(
            "POST",
            "/v1/feedback",
            {
                "giver_id": eng_mgr["id"],
                "recipient_id": ada["id"],
                "kind": "strength",
                "body": "Your write-up of the billing migration made the trade-offs clear.",
                "visibility": "recipient_and_manager",
                "conversation_id": done["id"],
            },
        )
        await self._call(
            "POST",
            "/v1/feedback-requests",
            {
                "requester_id": ada["id"],
                "responder_id": alan["id"],
                "prompt": "How did my design review go?",
                "due_at": (now + timedelta(days=5)).isoformat(),
            },
        )
        await self._call(
            "POST",
            "/v1/follow-ups",
            {
                "conversation_id": done["id"],
                "assignee_id": eng_mgr["id"],
                "due_at": (now + timedelta(hours=20)).isoformat(),
                "note": "Check the speaking slot and the migration plan.",
            },
        )

        # One conversation in each other status.
        scheduled = await self._call(
            "POST",
            "/v1/conversations",
            {"employee_id": alan["id"], "facilitator_id": eng_mgr["id"], "kind": "stay"},
        )
        await self._call(
            "POST",
            f"/v1/conversations/{scheduled['id']}/schedule",
            {"scheduled_start": (now + timedelta(hours=2)).isoformat()},
        )
        await self._call(
            "POST",
            f"/v1/conversations/{scheduled['id']}/reschedule",
            {
                "scheduled_start": (now + timedelta(days=1)).isoformat(),
                "reason": "Alan is out sick",
            },
        )
        await self._call(
            "POST",
            "/v1/conversations",
            {"employee_id": katherine["id"], "facilitator_id": mentor["id"], "kind": "mentorship"},
        )
        canceled = await self._call(
            "POST",
            "/v1/conversations",
            {"employee_id": dieter["id"], "facilitator_id": cto["id"], "kind": "skip_level"},
        )
        await self._call(
            "POST",
            f"/v1/conversations/{canceled['id']}/cancel",
            {"reason": "Replaced by the quarterly skip-level lunch."},
        )
        await self._call(
            "POST",
            "/v1/follow-ups",
            {
                "conversation_id": done["id"],
                "assignee_id": ada["id"],
                "due_at": (now + timedelta(minutes=30)).isoformat(),
                "note": "Share the migration plan draft with Grace.",
            },
        )
