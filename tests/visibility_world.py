"""One small tenant world for the visibility tests, built through the API as the platform.

People: ``skip`` manages ``manager``, who manages ``employee`` and ``colleague`` (the
employee's peer, who has nothing to do with the employee's career); ``mentor`` is in an
active mentorship of the employee. The employee's things: a career conversation with the
manager (scheduled, in the future), a ``mentorship``-kind conversation facilitated by the
mentor, another facilitated by the manager (the mentor sees it through the mentorship
only), a draft conversation, agenda items (shared; sealed by the employee, and by the
manager), notes (shared; private by the employee, and by the manager), a goal linked to
the career conversation, an action plan of that conversation with an item, feedback from
the mentor in both visibilities, a feedback request to the mentor and a follow-up.

The roles are the five people, ``platform`` (the key without ``Acting-Person``) and
``session`` (a person-session token of the employee, when ``POST /v1/person-sessions``
is in the document).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.core.config import Settings
from app.main import create_app
from tests.conftest import TenantKey
from tests.factories_feedback import in_days

DOCUMENT = create_app(Settings(env="development")).openapi()
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]

PEOPLE = ("employee", "manager", "skip", "colleague", "mentor")
ROLES = (*PEOPLE, "platform", "session")


def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (method, path, operation) for every operation an API key reaches."""
    found = {}
    for path, ops in DOCUMENT["paths"].items():
        for method, operation in ops.items():
            if operation.get("security") == [{"ApiKey": []}]:
                found[operation["operationId"]] = (method, path, operation)
    return found


OPERATIONS = operations()
HAS_PERSON_SESSIONS = "/v1/person-sessions" in DOCUMENT["paths"]
HAS_SEALED = "visibility" in SCHEMAS["AgendaItemCreate"].get("properties", {})


@dataclass
class World:
    client: httpx.AsyncClient
    tenant: TenantKey
    person: dict[str, str] = field(default_factory=dict)  # role → person id
    ids: dict[str, str] = field(default_factory=dict)  # subject → id
    session_token: str | None = None

    def headers(self, role: str) -> dict[str, str]:
        if role == "platform":
            return dict(self.tenant.headers)
        if role == "session":
            assert self.session_token is not None, "no person sessions in the document"
            return {"Authorization": f"Bearer {self.session_token}"}
        return {**self.tenant.headers, "Acting-Person": self.person[role]}

    def acting(self, role: str) -> str | None:
        """The person ``role`` acts for (``None`` for the platform)."""
        if role == "platform":
            return None
        return self.person["employee" if role == "session" else role]

    async def post(self, path: str, body: dict[str, Any], role: str = "platform") -> Any:
        response = await self.client.post(path, json=body, headers=self.headers(role))
        assert response.status_code in (200, 201), (path, role, response.text)
        return response.json()

    async def set_reports(self, mode: str) -> None:
        response = await self.client.patch(
            "/v1/tenant",
            json={"settings": {"managers_see_reports": mode}},
            headers=self.tenant.headers,
        )
        assert response.status_code == 200, response.text


async def build(
    client: httpx.AsyncClient, tenant: TenantKey, sentinels: dict[str, str] | None = None
) -> World:
    """The world; ``sentinels`` (key → unique text) go into the private notes and sealed
    items: ``note_private_<role>``, ``sealed_topic_<role>``, ``sealed_notes_<role>``."""
    s = sentinels or {}
    w = World(client, tenant)
    p = w.person

    async def person(role: str, **fields: Any) -> None:
        p[role] = (await w.post("/v1/people", {"name": role.title(), **fields}))["id"]

    await person("skip")
    await person("manager", manager_id=p["skip"])
    await person("employee", manager_id=p["manager"], external_id="HR-E", metadata={"k": "v"})
    await person("colleague", manager_id=p["manager"])
    await person("mentor")
    await person("spare")
    ids = w.ids
    ids["mentorship"] = (
        await w.post("/v1/mentorships", {"mentor_id": p["mentor"], "mentee_id": p["employee"]})
    )["id"]

    async def conversation(facilitator: str, **fields: Any) -> str:
        body = {"employee_id": p["employee"], "facilitator_id": p[facilitator], **fields}
        return str((await w.post("/v1/conversations", body))["id"])

    career = ids["career"] = await conversation("manager", scheduled_start=in_days(10))
    await w.post(f"/v1/conversations/{career}/schedule", {})
    ids["mentoring"] = await conversation("mentor", kind="mentorship")
    ids["mentoring_m"] = await conversation("manager", kind="mentorship")
    ids["draft"] = await conversation("manager", scheduled_start=in_days(11))
    agenda = f"/v1/conversations/{career}/agenda-items"
    notes = f"/v1/conversations/{career}/notes"
    ids["agenda_shared"] = (
        await w.post(agenda, {"author_id": p["employee"], "topic": "Next role"}, "employee")
    )["id"]
    ids["note_shared"] = (
        await w.post(notes, {"author_id": p["employee"], "body": "Shared"}, "employee")
    )["id"]
    for role in ("employee", "manager"):
        ids[f"note_private_{role}"] = (
            await w.post(
                notes,
                {
                    "author_id": p[role],
                    "visibility": "private",
                    "body": s.get(f"note_private_{role}", "Private"),
                },
                role,
            )
        )["id"]
        if HAS_SEALED:
            ids[f"agenda_sealed_{role}"] = (
                await w.post(
                    agenda,
                    {
                        "author_id": p[role],
                        "visibility": "sealed",
                        "topic": s.get(f"sealed_topic_{role}", "Sealed"),
                        "notes": s.get(f"sealed_notes_{role}", "Sealed notes"),
                    },
                    role,
                )
            )["id"]
    ids["goal"] = (
        await w.post(
            "/v1/goals", {"owner_id": p["employee"], "title": "Staff", "conversation_ids": [career]}
        )
    )["id"]
    ids["plan"] = (
        await w.post(
            "/v1/action-plans",
            {"owner_id": p["employee"], "title": "Steps", "conversation_id": career},
        )
    )["id"]
    ids["item"] = (
        await w.post(
            f"/v1/action-plans/{ids['plan']}/items",
            {"title": "Shadow", "assignee_id": p["employee"]},
        )
    )["id"]
    for visibility in ("recipient", "recipient_and_manager"):
        ids[f"feedback_{visibility}"] = (
            await w.post(
                "/v1/feedback",
                {
                    "giver_id": p["mentor"],
                    "recipient_id": p["employee"],
                    "kind": "strength",
                    "body": "Calm write-up.",
                    "visibility": visibility,
                },
            )
        )["id"]
    ids["request"] = (
        await w.post(
            "/v1/feedback-requests",
            {
                "requester_id": p["employee"],
                "responder_id": p["mentor"],
                "prompt": "My review?",
                "due_at": in_days(7),
            },
        )
    )["id"]
    ids["follow_up"] = (
        await w.post(
            "/v1/follow-ups",
            {"conversation_id": career, "assignee_id": p["employee"], "due_at": in_days(14)},
        )
    )["id"]
    if HAS_PERSON_SESSIONS:
        minted = await w.post(
            "/v1/person-sessions", {"person_id": p["employee"], "ttl_seconds": 900}
        )
        w.session_token = minted["token"]
        w.ids["session"] = minted["id"]
    return w


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}
