"""The seed article's workflow, end to end, as an HRIS would drive it — and the event log
telling that story in order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from tests.factories import create_person


async def test_a_career_conversation_from_preparation_to_follow_up(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def call(method: str, path: str, body: object = None, status: int = 200) -> dict:  # type: ignore[type-arg]
        response = await client.request(method, path, json=body, headers=auth)
        assert response.status_code == status, response.text
        return response.json()  # type: ignore[no-any-return]

    manager = await create_person(client, auth, name="Grace Hopper", title="Engineering Manager")
    employee = await create_person(
        client, auth, name="Ada Lovelace", title="Engineer", manager_id=manager["id"]
    )
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    # Both come prepared with clear objectives and talking points.
    talk = await call(
        "POST",
        "/v1/conversations",
        {
            "employee_id": employee["id"],
            "facilitator_id": manager["id"],
            "kind": "career",
            "employee_objectives": "Understand the path to tech lead.",
            "facilitator_objectives": "Agree on one stretch goal.",
        },
        201,
    )
    cid = talk["id"]
    await call("POST", f"/v1/conversations/{cid}/schedule", {"scheduled_start": start.isoformat()})
    await call(
        "POST",
        f"/v1/conversations/{cid}/agenda-items",
        {"author_id": employee["id"], "topic": "Leading a project", "category": "aspirations"},
        201,
    )
    await call(
        "POST",
        f"/v1/conversations/{cid}/agenda-items",
        {"author_id": manager["id"], "topic": "Design reviews", "category": "strengths"},
        201,
    )
    prepared = await call("POST", f"/v1/conversations/{cid}/prepare", {"person_id": employee["id"]})
    assert prepared["preparation"]["unprepared"] == [manager["id"]]
    prepared = await call("POST", f"/v1/conversations/{cid}/prepare", {"person_id": manager["id"]})
    assert prepared["preparation"]["unprepared"] == []

    # They talk; the conversation closes with a summary.
    done = await call(
        "POST", f"/v1/conversations/{cid}/complete", {"summary": "Ada will lead the migration."}
    )
    assert done["status"] == "completed"

    # A specific goal, agreed by both so they work towards the same target.
    goal = await call(
        "POST",
        "/v1/goals",
        {
            "owner_id": employee["id"],
            "title": "Lead the billing migration",
            "category": "project",
            "target_date": (date.today() + timedelta(days=120)).isoformat(),
            "success_criteria": "Migrated with no customer-visible downtime.",
            "conversation_ids": [cid],
        },
        201,
    )
    await call(
        "POST", f"/v1/goals/{goal['id']}/agree", {"party": "employee", "person_id": employee["id"]}
    )
    agreed = await call(
        "POST",
        f"/v1/goals/{goal['id']}/agree",
        {"party": "facilitator", "person_id": manager["id"]},
    )
    assert agreed["status"] == "agreed"

    # Actionable steps, for the employee and for the manager.
    plan = await call(
        "POST",
        "/v1/action-plans",
        {
            "title": "Towards tech lead",
            "owner_id": employee["id"],
            "goal_id": goal["id"],
            "conversation_id": cid,
        },
        201,
    )
    mine = await call(
        "POST",
        f"/v1/action-plans/{plan['id']}/items",
        {"title": "Draft the migration plan", "assignee_id": employee["id"]},
        201,
    )
    await call(
        "POST",
        f"/v1/action-plans/{plan['id']}/items",
        {"title": "Introduce Ada to the platform team", "assignee_id": manager["id"]},
        201,
    )
    await call("PATCH", f"/v1/action-plans/{plan['id']}/items/{mine['id']}", {"status": "done"})

    # Constructive feedback, and the follow-up that keeps development going.
    await call(
        "POST",
        "/v1/feedback",
        {
            "giver_id": manager["id"],
            "recipient_id": employee["id"],
            "kind": "guidance",
            "body": "Write down the trade-offs before the design review.",
            "conversation_id": cid,
        },
        201,
    )
    await call(
        "POST",
        "/v1/follow-ups",
        {
            "conversation_id": cid,
            "assignee_id": manager["id"],
            "due_at": (start + timedelta(days=30)).isoformat(),
            "note": "Check progress on the migration plan.",
        },
        201,
    )

    log = await call("GET", "/v1/events?limit=100")
    story = [e["type"] for e in log["data"] if not e["type"].startswith("person.")]
    assert story == [
        "conversation.created",
        "conversation.scheduled",
        "agenda_item.created",
        "agenda_item.created",
        "conversation.prepared",
        "conversation.prepared",
        "conversation.completed",
        "goal.created",
        "goal.updated",
        "goal.agreed",
        "action_plan.created",
        "action_item.created",
        "action_item.created",
        "action_item.completed",
        "feedback.created",
        "follow_up.created",
    ]
    completed = next(e for e in log["data"] if e["type"] == "conversation.completed")
    assert completed["data"]["summary"] == "Ada will lead the migration."
    assert completed["subject_id"] == cid
