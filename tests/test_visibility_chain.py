"""The management chain checked two ways agrees: walking down from the acting person (a
page's filter) and walking up from the row (a GET one, a write's check, one event)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_conversation
from tests.factories_goals import create_goal

# Who sees Emma's conversation and goal, per managers_see_reports: Emma reports to Max,
# who reports to Boss; Coach facilitates; Sam is unrelated.
EXPECTED = {
    "chain": {"emma", "max", "boss", "coach"},
    "direct": {"emma", "max", "coach"},
    "none": {"emma", "coach"},
}


async def test_one_row_and_page_agree_on_the_chain(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    auth = tenant.headers
    boss = await create_person(client, auth, name="Boss")
    max_ = await create_person(client, auth, name="Max", manager_id=boss["id"])
    emma = await create_person(client, auth, name="Emma", manager_id=max_["id"])
    coach = await create_person(client, auth, name="Coach")
    sam = await create_person(client, auth, name="Sam")
    everyone = {"boss": boss, "max": max_, "emma": emma, "coach": coach, "sam": sam}
    conversation = await create_conversation(
        client, auth, employee_id=emma["id"], facilitator_id=coach["id"]
    )
    goal = await create_goal(client, auth, emma["id"])
    events = (await client.get("/v1/events?type=goal.created", headers=auth)).json()["data"]
    [goal_event] = events

    for mode, expected in EXPECTED.items():
        changed = await client.patch(
            "/v1/tenant", json={"settings": {"managers_see_reports": mode}}, headers=auth
        )
        assert changed.status_code == 200, changed.text
        for name, person in everyone.items():
            headers = {**auth, "Acting-Person": person["id"]}
            sees: dict[str, Any] = {}
            one = await client.get(f"/v1/conversations/{conversation['id']}", headers=headers)
            sees["conversation one"] = one.status_code == 200
            page = await client.get("/v1/conversations", headers=headers)
            sees["conversation page"] = [c["id"] for c in page.json()["data"]] == [
                conversation["id"]
            ]
            one = await client.get(f"/v1/goals/{goal['id']}", headers=headers)
            sees["goal one"] = one.status_code == 200
            page = await client.get("/v1/goals", headers=headers)
            sees["goal page"] = [g["id"] for g in page.json()["data"]] == [goal["id"]]
            one = await client.get(f"/v1/events/{goal_event['id']}", headers=headers)
            sees["event one"] = one.status_code == 200
            page = await client.get("/v1/events?type=goal.created", headers=headers)
            sees["event page"] = [e["id"] for e in page.json()["data"]] == [goal_event["id"]]
            # A write checks the row it names with the same rule (404 if not visible).
            write = await client.post(
                f"/v1/conversations/{conversation['id']}/agenda-items",
                json={"author_id": person["id"], "topic": "Growth"},
                headers=headers,
            )
            sees["conversation write"] = write.status_code != 404
            # The coach facilitates the conversation but has no claim on Emma's goal.
            want = name in expected
            assert sees == {
                "conversation one": want,
                "conversation page": want,
                "conversation write": want,
                "goal one": want and name != "coach",
                "goal page": want and name != "coach",
                "event one": want and name != "coach",
                "event page": want and name != "coach",
            }, (mode, name)
