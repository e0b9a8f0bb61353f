"""GET /v1/insights/career-conversations against a fixture whose answers are computed by
hand below (every expected number is a literal with its arithmetic in a comment).

The window of most tests is [2026-01-01, 2026-04-01): 90 days (31 + 28 + 31). The
organisation, three levels below Rita:

    Rita ── Mia ──┬── Max ──┬── Eve
         │        │         └── Eli
         │        └── Ed (inactive)
         └── Otto

Rows are written with the ORM to set their instants exactly (the API stamps "now").
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from app.models.action_plan import ActionItem, ActionPlan
from app.models.career_framework import Competency
from app.models.conversation import Conversation
from app.models.feedback import Feedback, FeedbackRequest
from app.models.follow_up import FollowUp
from app.models.goal import Goal, GoalConversation
from app.models.person import Person
from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_feedback import in_days

URL = "/v1/insights/career-conversations"
WINDOW = {"from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Org:
    def __init__(self) -> None:
        self.ids: dict[str, uuid.UUID] = {}


@pytest.fixture
async def org(session: AsyncSession, tenant: TenantKey) -> Org:
    t = tenant.tenant_id
    o = Org()

    def person(name: str, manager: str | None, status: str = "active") -> Person:
        p = Person(
            tenant_id=t,
            name=name,
            manager_id=None if manager is None else o.ids[manager],
            status=status,
        )
        o.ids[name] = p.id
        session.add(p)
        return p

    person("Rita", None)
    person("Mia", "Rita")
    person("Max", "Mia")
    person("Eve", "Max")
    person("Eli", "Max")
    person("Ed", "Mia", status="inactive")
    person("Otto", "Rita")
    await session.flush()

    def conv(name: str, employee: str, facilitator: str, **fields: Any) -> Conversation:
        c = Conversation(
            tenant_id=t, employee_id=o.ids[employee], facilitator_id=o.ids[facilitator], **fields
        )
        o.ids[name] = c.id
        session.add(c)
        return c

    # c1: completed exactly at `from` (inclusive: counts); scheduled 12 days ahead; both
    # parties prepared the day before.
    conv(
        "c1", "Eve", "Max", status="completed", completed_at=at("2026-01-01T00:00:00"),
        scheduled_start=at("2026-01-01T00:00:00"), scheduled_at=at("2025-12-20T00:00:00"),
        employee_prepared_at=at("2025-12-31T00:00:00"),
        facilitator_prepared_at=at("2025-12-31T00:00:00"),
    )  # fmt: skip
    # c2: completed exactly at `to` (exclusive: left out).
    conv(
        "c2", "Eli", "Max", status="completed", completed_at=at("2026-04-01T00:00:00"),
        scheduled_start=at("2026-04-01T00:00:00"),
    )  # fmt: skip
    # c3: before the window: Eli's last completed one before `to`.
    conv(
        "c3", "Eli", "Max", status="completed", completed_at=at("2025-11-01T00:00:00"),
        scheduled_start=at("2025-11-01T00:00:00"),
    )  # fmt: skip
    # c4: Max with Mia; moved once; scheduled 5 days ahead; Mia prepared after the start.
    conv(
        "c4", "Max", "Mia", status="completed", completed_at=at("2026-02-15T00:00:00"),
        scheduled_start=at("2026-02-15T00:00:00"), scheduled_at=at("2026-02-10T00:00:00"),
        reschedule_count=1, employee_prepared_at=at("2026-02-14T00:00:00"),
        facilitator_prepared_at=at("2026-02-16T00:00:00"),
    )  # fmt: skip
    # c5: a mentorship one, canceled 2026-03-10 (its date), scheduled 11 days ahead.
    conv(
        "c5", "Eve", "Max", kind="mentorship", status="canceled",
        canceled_at=at("2026-03-10T00:00:00"), scheduled_start=at("2026-03-12T00:00:00"),
        scheduled_at=at("2026-03-01T00:00:00"),
    )  # fmt: skip
    # c6: scheduled for 2026-03-20, 15 days ahead.
    conv(
        "c6", "Eve", "Max", status="scheduled", scheduled_start=at("2026-03-20T00:00:00"),
        scheduled_at=at("2026-03-05T00:00:00"),
    )  # fmt: skip
    # c7: a draft created 2026-02-01 (its date), no start.
    conv("c7", "Eli", "Max", created_at=at("2026-02-01T00:00:00"))
    # c8: Otto, outside Mia's subtree.
    conv(
        "c8", "Otto", "Rita", status="completed", completed_at=at("2026-03-15T00:00:00"),
        scheduled_start=at("2026-03-15T00:00:00"),
    )  # fmt: skip
    # c9: Ed (inactive): counted as a conversation, never as an employee.
    conv(
        "c9", "Ed", "Mia", status="completed", completed_at=at("2026-01-20T00:00:00"),
        scheduled_start=at("2026-01-20T00:00:00"),
    )  # fmt: skip
    await session.flush()

    def goal(name: str, owner: str, **fields: Any) -> None:
        g = Goal(tenant_id=t, owner_id=o.ids[owner], title=name, **fields)
        o.ids[name] = g.id
        session.add(g)

    # g1: proposed Jan 10, agreed Jan 15 (the later agreement; 5 days), achieved Mar 1.
    goal(
        "g1", "Eve", created_at=at("2026-01-10T00:00:00"), status="achieved",
        employee_agreed_at=at("2026-01-12T00:00:00"),
        facilitator_agreed_at=at("2026-01-15T00:00:00"), achieved_at=at("2026-03-01T00:00:00"),
    )  # fmt: skip
    goal("g2", "Eli", created_at=at("2026-02-01T00:00:00"))
    # g3: proposed before the window, agreed in it (Jan 4: 15 days).
    goal(
        "g3", "Max", created_at=at("2025-12-20T00:00:00"), status="agreed",
        employee_agreed_at=at("2026-01-04T00:00:00"),
        facilitator_agreed_at=at("2026-01-04T00:00:00"),
    )  # fmt: skip
    # g4: only the employee agreed: not agreed.
    goal(
        "g4", "Eve", created_at=at("2026-03-30T00:00:00"),
        employee_agreed_at=at("2026-03-31T00:00:00"),
    )  # fmt: skip
    await session.flush()
    session.add(GoalConversation(goal_id=o.ids["g1"], conversation_id=o.ids["c1"], tenant_id=t))

    def follow_up(conversation: str, assignee: str, due: str, **fields: Any) -> None:
        session.add(
            FollowUp(
                tenant_id=t,
                conversation_id=o.ids[conversation],
                assignee_id=o.ids[assignee],
                due_at=at(due),
                **fields,
            )
        )

    follow_up(
        "c1", "Eve", "2026-01-05T00:00:00", status="completed",
        completed_at=at("2026-01-04T00:00:00"),
    )  # fmt: skip  # on time
    follow_up(
        "c4", "Max", "2026-02-20T00:00:00", status="completed",
        completed_at=at("2026-02-25T00:00:00"),
    )  # fmt: skip  # late
    follow_up("c4", "Max", "2026-03-01T00:00:00")  # pending: open overdue
    follow_up(
        "c1", "Eve", "2026-03-15T00:00:00", status="canceled",
        canceled_at=at("2026-03-02T00:00:00"),
    )  # fmt: skip  # canceled: left out
    follow_up("c1", "Eve", "2026-05-01T00:00:00")  # due after the window

    plan = ActionPlan(tenant_id=t, title="Plan", owner_id=o.ids["Eve"], conversation_id=o.ids["c1"])
    session.add(plan)
    await session.flush()

    def item(assignee: str, due: date | None, **fields: Any) -> None:
        session.add(
            ActionItem(
                tenant_id=t, plan_id=plan.id, title="Step", assignee_id=o.ids[assignee],
                due_date=due, **fields,
            )
        )  # fmt: skip

    # Eve's own: done an hour before the end of its due day: on time.
    item("Eve", date(2026, 1, 31), status="done", completed_at=at("2026-01-31T23:00:00"))
    # Max's: done at the first instant of the next day: late.
    item("Max", date(2026, 2, 10), status="done", completed_at=at("2026-02-11T00:00:00"))
    item("Max", date(2026, 3, 5))  # still to do
    item("Eve", None)  # no due date: left out

    session.add(
        Feedback(
            tenant_id=t, giver_id=o.ids["Max"], recipient_id=o.ids["Eve"], kind="guidance",
            body="Good", created_at=at("2026-02-02T00:00:00"),
        )
    )  # fmt: skip
    session.add(
        Feedback(
            tenant_id=t, giver_id=o.ids["Eve"], recipient_id=o.ids["Eli"], kind="guidance",
            body="Old", created_at=at("2025-12-01T00:00:00"),
        )
    )  # fmt: skip
    # Eve asked Max on Jan 10, answered Jan 13 (3 days); Eli asked on Mar 1, still open.
    session.add(
        FeedbackRequest(
            tenant_id=t, requester_id=o.ids["Eve"], responder_id=o.ids["Max"], prompt="?",
            due_at=at("2026-01-20T00:00:00"), created_at=at("2026-01-10T00:00:00"),
            status="answered", answered_at=at("2026-01-13T00:00:00"),
        )
    )  # fmt: skip
    session.add(
        FeedbackRequest(
            tenant_id=t, requester_id=o.ids["Eli"], responder_id=o.ids["Max"], prompt="?",
            due_at=at("2026-03-20T00:00:00"), created_at=at("2026-03-01T00:00:00"),
        )
    )  # fmt: skip
    await session.commit()
    return o


def zeros_goals() -> dict[str, Any]:
    return {
        "proposed": 0,
        "agreed": 0,
        "agreement_rate": None,
        "median_days_to_agreement": None,
        "achieved": 0,
    }


EMPTY_ROLE = {"due": 0, "on_time": 0, "on_time_rate": None}

# Mia's subtree (Max, Eve, Eli, Ed) over the window, every figure by hand.
MIA_SUBTREE = {
    "key": "all",
    "label": None,
    # Max, Eve, Eli (Ed is inactive)
    "employees": 3,
    # Eve (c1 at `from`, inclusive) and Max (c4); not Eli (c2 at `to` is excluded): 2 / 3
    "coverage": 0.6667,
    # days to `to`: Eve 90 (c1: 31 + 28 + 31), Eli 151 (c3: 30 + 31 + 31 + 28 + 31),
    # Max 45 (c4: 14 + 31): median of (45, 90, 151)
    "median_days_since_last": 90.0,
    # c7 draft; c6 scheduled; c1, c4, c9 completed; c5 canceled (c2, c3 outside)
    "conversations": {"draft": 1, "scheduled": 1, "completed": 3, "canceled": 1, "total": 6},
    # c1 only of (c1, c4, c9): 1 / 3
    "preparation_rate": 0.3333,
    # c4 of the 5 scheduled + completed + canceled: 1 / 5
    "reschedule_rate": 0.2,
    # c5 of the same 5: 1 / 5
    "cancel_rate": 0.2,
    # c4 5, c5 11, c1 12, c6 15 (c9 has no scheduled_at): (11 + 12) / 2
    "median_lead_days": 11.5,
    "goals": {
        "proposed": 3,  # g1, g2, g4
        "agreed": 2,  # g1 (Jan 15), g3 (Jan 4)
        "agreement_rate": 0.3333,  # g1 of (g1, g2, g4): 1 / 3
        "median_days_to_agreement": 10.0,  # (5 + 15) / 2
        "achieved": 1,  # g1
    },
    "follow_ups": {"completed_on_time": 1, "completed_late": 1, "open_overdue": 1},
    "action_items": {
        "employee": {"due": 1, "on_time": 1, "on_time_rate": 1.0},
        "manager": {"due": 2, "on_time": 0, "on_time_rate": 0.0},
    },
    # Max → Eve on Feb 2; Eve's request answered, Eli's open: 1 / 2; Eve's took 3 days
    "feedback": {
        "given": 1,
        "requests": 2,
        "requests_answered_rate": 0.5,
        "median_days_to_answer": 3.0,
    },
}


async def get(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get(URL, params={**WINDOW, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_manager_subtree_every_figure(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = await get(client, auth, manager_id=str(org.ids["Mia"]))
    assert body == {
        "from": "2026-01-01T00:00:00Z",
        "to": "2026-04-01T00:00:00Z",
        "group_by": "none",
        "groups": [MIA_SUBTREE],
    }


async def test_three_levels_below_the_top(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = await get(client, auth, manager_id=str(org.ids["Rita"]))
    (group,) = body["groups"]
    # Mia, Max, Eve, Eli, Otto (levels 1 to 3; Rita herself excluded, Ed inactive)
    assert group["employees"] == 5
    # Eve, Max, Otto (c8): 3 / 5
    assert group["coverage"] == 0.6
    # Mia has none (left out): Max 45, Eve 90, Eli 151, Otto 17 (c8: 16 + 1): (45 + 90) / 2
    assert group["median_days_since_last"] == 67.5
    # Mia's subtree's six and c8
    assert group["conversations"] == {
        "draft": 1, "scheduled": 1, "completed": 4, "canceled": 1, "total": 7,
    }  # fmt: skip
    # Eve's subtree: only Eve's own conversations (she manages nobody)
    eve = await get(client, auth, manager_id=str(org.ids["Eve"]))
    assert eve["groups"][0]["employees"] == 0
    assert eve["groups"][0]["coverage"] is None
    assert eve["groups"][0]["conversations"]["total"] == 0


async def test_group_by_manager(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    body = await get(client, auth, group_by="manager")
    brief = [
        (
            g["key"],
            g["label"],
            g["employees"],
            g["coverage"],
            g["conversations"]["total"],
            g["goals"]["proposed"],
        )
        for g in body["groups"]
    ]
    assert brief == [
        # Max's reports Eve, Eli: Eve covered, 1 / 2; c1, c5, c6, c7; g1, g2, g4
        (str(org.ids["Max"]), "Max", 2, 0.5, 4, 3),
        # Mia's: Max (covered by c4), Ed inactive: 1 / 1; c4, c9; nothing proposed (g3 is
        # older than the window)
        (str(org.ids["Mia"]), "Mia", 1, 1.0, 2, 0),
        # Rita's: Mia, Otto (c8): 1 / 2
        (str(org.ids["Rita"]), "Rita", 2, 0.5, 1, 0),
        # Nobody manages Rita: a group with no fact at all
        (None, None, 1, 0.0, 0, 0),
    ]
    assert body["groups"][3]["median_days_since_last"] is None


async def test_group_by_kind_has_every_kind(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = await get(client, auth, group_by="kind", manager_id=str(org.ids["Mia"]))
    assert [g["key"] for g in body["groups"]] == ["career", "mentorship", "skip_level", "stay"]
    career, mentorship, skip_level, stay = body["groups"]
    # career: c1, c4, c6, c7, c9
    assert career["conversations"] == {
        "draft": 1, "scheduled": 1, "completed": 3, "canceled": 0, "total": 5,
    }  # fmt: skip
    assert career["coverage"] == 0.6667  # as for all kinds: Eve and Max of 3
    # only g1 is linked to a (career) conversation: proposed, agreed (5 days), achieved
    assert career["goals"] == {
        "proposed": 1,
        "agreed": 1,
        "agreement_rate": 1.0,
        "median_days_to_agreement": 5.0,
        "achieved": 1,
    }
    assert career["follow_ups"] == MIA_SUBTREE["follow_ups"]  # all on c1 and c4
    assert career["action_items"] == MIA_SUBTREE["action_items"]  # the plan is c1's
    # feedback and requests are not linked to conversations: left out
    assert career["feedback"] == {
        "given": 0, "requests": 0, "requests_answered_rate": None, "median_days_to_answer": None,
    }  # fmt: skip
    # mentorship: c5, canceled: 1 / 1; nobody completed one
    assert mentorship["conversations"]["canceled"] == 1
    assert mentorship["cancel_rate"] == 1.0
    assert (mentorship["coverage"], mentorship["median_days_since_last"]) == (0.0, None)
    assert mentorship["median_lead_days"] == 11.0
    # empty kinds still appear, every figure zero or null
    for empty, kind in ((skip_level, "skip_level"), (stay, "stay")):
        assert empty == {
            "key": kind,
            "label": None,
            "employees": 3,
            "coverage": 0.0,
            "median_days_since_last": None,
            "conversations": {
                "draft": 0,
                "scheduled": 0,
                "completed": 0,
                "canceled": 0,
                "total": 0,
            },
            "preparation_rate": None,
            "reschedule_rate": None,
            "cancel_rate": None,
            "median_lead_days": None,
            "goals": zeros_goals(),
            "follow_ups": {"completed_on_time": 0, "completed_late": 0, "open_overdue": 0},
            "action_items": {"employee": EMPTY_ROLE, "manager": EMPTY_ROLE},
            "feedback": {
                "given": 0,
                "requests": 0,
                "requests_answered_rate": None,
                "median_days_to_answer": None,
            },
        }


async def test_group_by_month(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    body = await get(client, auth, group_by="month", manager_id=str(org.ids["Mia"]))
    brief = [
        (
            g["key"],
            g["employees"],
            g["coverage"],
            g["median_days_since_last"],
            g["conversations"]["total"],
            g["goals"]["proposed"],
            g["goals"]["agreed"],
            g["goals"]["achieved"],
        )
        for g in body["groups"]
    ]
    assert brief == [
        # Jan: Eve covered (c1 at Jan 1), 1 / 3; to Feb 1: Eve 31, Eli 92 (30 + 31 + 31),
        # Max none yet: (31 + 92) / 2; c1, c9; g1 proposed; g1, g3 agreed
        ("2026-01", 3, 0.3333, 61.5, 2, 1, 2, 0),
        # Feb: Max (c4), 1 / 3; to Mar 1: Max 14, Eve 59, Eli 120: 59; c4, c7; g2
        ("2026-02", 3, 0.3333, 59.0, 2, 1, 0, 0),
        # Mar: nobody, 0 / 3; to Apr 1: 45, 90, 151; c5, c6; g4; g1 achieved
        ("2026-03", 3, 0.0, 90.0, 2, 1, 0, 1),
    ]
    # A longer window: April appears, and c2 (at the first window's `to`) is in it.
    longer = await get(
        client, auth, group_by="month", manager_id=str(org.ids["Mia"]), to="2026-05-01T00:00:00Z"
    )
    april = longer["groups"][3]
    assert (april["key"], april["conversations"]["completed"], april["coverage"]) == (
        "2026-04",
        1,
        0.3333,  # Eli, by c2
    )


async def test_window_boundaries(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    mia = str(org.ids["Mia"])
    # [Apr 1, May 1): c2, completed exactly at `from`, counts
    april = await get(
        client,
        auth,
        manager_id=mia,
        **{"from": "2026-04-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"},
    )
    assert april["groups"][0]["conversations"]["completed"] == 1
    # [Dec 1, Jan 1): c1, completed exactly at `to`, does not
    december = await get(
        client,
        auth,
        manager_id=mia,
        **{"from": "2025-12-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    )
    assert december["groups"][0]["conversations"]["completed"] == 0
    assert december["groups"][0]["coverage"] == 0.0


async def test_csv(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    response = await client.get(
        URL,
        params={**WINDOW, "manager_id": str(org.ids["Mia"])},
        headers={**auth, "Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == (
        "key,label,employees,coverage,median_days_since_last,conversations.draft,"
        "conversations.scheduled,conversations.completed,conversations.canceled,"
        "conversations.total,preparation_rate,reschedule_rate,cancel_rate,median_lead_days,"
        "goals.proposed,goals.agreed,goals.agreement_rate,goals.median_days_to_agreement,"
        "goals.achieved,follow_ups.completed_on_time,follow_ups.completed_late,"
        "follow_ups.open_overdue,action_items.employee.due,action_items.employee.on_time,"
        "action_items.employee.on_time_rate,action_items.manager.due,"
        "action_items.manager.on_time,action_items.manager.on_time_rate,feedback.given,"
        "feedback.requests,feedback.requests_answered_rate,feedback.median_days_to_answer\r\n"
        "all,,3,0.6667,90.0,1,1,3,1,6,0.3333,0.2,0.2,11.5,3,2,0.3333,10.0,1,1,1,1,1,1,1.0,"
        "2,0,0.0,1,2,0.5,3.0\r\n"
    )


async def test_acting_person_sees_themselves_and_their_reports(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    as_max = await get(client, {**auth, "Acting-Person": str(org.ids["Max"])})
    (group,) = as_max["groups"]
    # Max, Eve, Eli: as Mia's subtree without Ed (c9)
    assert group["employees"] == 3
    assert group["coverage"] == 0.6667
    assert group["conversations"] == {
        "draft": 1, "scheduled": 1, "completed": 2, "canceled": 1, "total": 5,
    }  # fmt: skip
    # Eve sees only herself: c1, c5, c6
    as_eve = await get(client, {**auth, "Acting-Person": str(org.ids["Eve"])})
    assert as_eve["groups"][0]["employees"] == 1
    assert as_eve["groups"][0]["conversations"]["total"] == 3
    # Eve asking about Mia's subtree still sees only herself
    scoped = await get(
        client, {**auth, "Acting-Person": str(org.ids["Eve"])}, manager_id=str(org.ids["Mia"])
    )
    assert scoped["groups"][0]["employees"] == 1


async def test_an_acting_person_counts_only_the_feedback_they_may_see(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org: Org,
    session: AsyncSession,
    tenant: TenantKey,
) -> None:
    t = tenant.tenant_id
    # Eli's feedback to Eve for her only, and one her manager (Max) may read too; a request
    # Eve asked of Eli (Max is neither party).
    for visibility in ("recipient", "recipient_and_manager"):
        session.add(
            Feedback(
                tenant_id=t, giver_id=org.ids["Eli"], recipient_id=org.ids["Eve"],
                kind="guidance", body="Peer", visibility=visibility,
                created_at=at("2026-02-03T00:00:00"),
            )
        )  # fmt: skip
    session.add(
        FeedbackRequest(
            tenant_id=t, requester_id=org.ids["Eve"], responder_id=org.ids["Eli"], prompt="?",
            due_at=at("2026-02-20T00:00:00"), created_at=at("2026-02-05T00:00:00"),
        )
    )  # fmt: skip
    await session.commit()
    below_max = await get(client, auth, manager_id=str(org.ids["Mia"]))
    # The platform: Max's to Eve and Eli's two; Eve's and Eli's requests to Max, Eve's to Eli
    assert below_max["groups"][0]["feedback"] == {
        "given": 3,
        "requests": 3,
        "requests_answered_rate": 0.3333,
        "median_days_to_answer": 3.0,
    }
    as_max = await get(client, {**auth, "Acting-Person": str(org.ids["Max"])})
    # Max: his own to Eve and Eli's for Eve and her manager, not Eli's for Eve only; the
    # two requests he was asked, not Eve's to Eli
    assert as_max["groups"][0]["feedback"] == {
        "given": 2,
        "requests": 2,
        "requests_answered_rate": 0.5,
        "median_days_to_answer": 3.0,
    }


async def test_defaults_to_the_last_90_days(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    response = await client.get(URL, headers=auth)
    assert response.status_code == 200
    body = response.json()
    span = datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"])
    assert span.days == 90
    assert body["group_by"] == "none"


@pytest.mark.parametrize(
    ("params", "pointer", "code"),
    [
        (
            {"from": "2026-04-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
            "/query/to",
            "empty_window",
        ),
        (
            {"from": "2026-05-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
            "/query/to",
            "empty_window",
        ),
        (
            {"from": "2023-01-01T00:00:00Z", "to": "2026-01-02T00:00:01Z"},
            "/query/from",
            "window_too_long",
        ),
        # Years the API does not hold (and 90 days before year 1 would overflow).
        ({"to": "0001-02-01T00:00:00Z"}, "/query/to", "out_of_range"),
        (
            {"from": "0001-01-01T00:00:00Z", "to": "0001-06-01T00:00:00Z"},
            "/query/from",
            "out_of_range",
        ),
        ({"from": "2200-01-01T00:00:00Z"}, "/query/from", "out_of_range"),
    ],
)
async def test_bad_windows(
    client: httpx.AsyncClient, auth: dict[str, str], params: dict[str, str], pointer: str, code: str
) -> None:
    response = await client.get(URL, params=params, headers=auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [(pointer, code)]


async def test_three_years_exactly_is_allowed(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # 2023-01-01 → 2026-01-01 is 1096 days (2024 is a leap year)
    response = await client.get(
        URL, params={"from": "2023-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, headers=auth
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-04-01"},
        {"group_by": "team"},
        {"manager_id": "not-a-uuid"},
        {"manager_id": str(uuid.UUID(int=1))},
    ],
)
async def test_bad_parameters(
    client: httpx.AsyncClient, auth: dict[str, str], params: dict[str, str]
) -> None:
    response = await client.get(URL, params=params, headers=auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_lead_time_comes_from_the_schedule_action(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """`POST …/schedule` stamps `scheduled_at`; the lead is the start minus that moment."""
    boss = await create_person(client, auth, name="Boss")
    worker = await create_person(client, auth, name="Worker", manager_id=boss["id"])
    body = {
        "employee_id": worker["id"],
        "facilitator_id": boss["id"],
        "scheduled_start": in_days(10),
    }
    created = await client.post("/v1/conversations", json=body, headers=auth)
    assert created.status_code == 201, created.text
    scheduled = await client.post(
        f"/v1/conversations/{created.json()['id']}/schedule", json={}, headers=auth
    )
    assert scheduled.status_code == 200, scheduled.text
    response = await client.get(URL, params={"to": in_days(30)}, headers=auth)
    (group,) = response.json()["groups"]
    # 10 days ahead, less the moments between sending the start and scheduling
    assert group["median_lead_days"] == 10.0
    assert group["conversations"]["scheduled"] == 1
    assert group["reschedule_rate"] == 0.0


async def test_whole_tenant(client: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    (group,) = (await get(client, auth))["groups"]
    # everyone active: Rita, Mia, Max, Eve, Eli, Otto
    assert group["employees"] == 6
    # Eve, Max, Otto: 3 / 6
    assert group["coverage"] == 0.5
    # Mia's subtree's six and c8 (Otto)
    assert group["conversations"] == {
        "draft": 1, "scheduled": 1, "completed": 4, "canceled": 1, "total": 7,
    }  # fmt: skip
    assert group["goals"] == MIA_SUBTREE["goals"]
    assert group["follow_ups"] == MIA_SUBTREE["follow_ups"]
    assert group["action_items"] == MIA_SUBTREE["action_items"]
    assert group["feedback"] == MIA_SUBTREE["feedback"]


# ------------------------------------------------------------------ group_by=competency

NOT_BY_COMPETENCY: dict[str, Any] = {
    "employees": None,
    "coverage": None,
    "median_days_since_last": None,
    "conversations": dict.fromkeys(("draft", "scheduled", "completed", "canceled", "total")),
    "preparation_rate": None,
    "reschedule_rate": None,
    "cancel_rate": None,
    "median_lead_days": None,
    "follow_ups": dict.fromkeys(("completed_on_time", "completed_late", "open_overdue")),
    "action_items": {
        "employee": dict.fromkeys(("due", "on_time", "on_time_rate")),
        "manager": dict.fromkeys(("due", "on_time", "on_time_rate")),
    },
}


def by_competency(key: str | None, label: str | None, goals: Any, given: int) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        **NOT_BY_COMPETENCY,
        "goals": goals,
        "feedback": {
            "given": given,
            "requests": None,
            "requests_answered_rate": None,
            "median_days_to_answer": None,
        },
    }


@pytest.fixture
async def competencies(session: AsyncSession, tenant: TenantKey, org: Org) -> dict[str, str]:
    """Design, Influence and Unused; g1 names Design and Influence, g2 Design, g4
    Influence, g3 none; the feedback in the window (Max → Eve, Feb 2) names Influence, the
    one before it (Eve → Eli, Dec 1) Design."""
    made = {
        name: Competency(tenant_id=tenant.tenant_id, name=name)
        for name in ("Influence", "Design", "Unused")
    }
    session.add_all(made.values())
    await session.flush()
    ids = {name: c.id for name, c in made.items()}
    for goal, names in (("g1", ["Design", "Influence"]), ("g2", ["Design"]), ("g4", ["Influence"])):
        row = await session.get(Goal, org.ids[goal])
        assert row is not None
        row.competency_ids = [ids[n] for n in names]
    feedback = (await session.execute(select(Feedback))).scalars().all()
    for row in feedback:
        row.competency_ids = [ids["Influence" if row.body == "Good" else "Design"]]
    await session.commit()
    return {name: str(ident) for name, ident in ids.items()}


async def test_group_by_competency(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org, competencies: dict[str, str]
) -> None:
    body = await get(client, auth, group_by="competency")
    assert body["group_by"] == "competency"
    assert body["groups"] == [
        # g1 (proposed Jan 10, agreed Jan 15: 5 days, achieved Mar 1) and g2 (proposed Feb 1,
        # not agreed): proposed 2, agreed 1 (g1), 1 / 2; the Dec 1 feedback is before `from`
        by_competency(
            competencies["Design"],
            "Design",
            {
                "proposed": 2,
                "agreed": 1,
                "agreement_rate": 0.5,
                "median_days_to_agreement": 5.0,
                "achieved": 1,
            },
            0,
        ),
        # g1 and g4 (proposed Mar 30, only the employee agreed): as Design; the Feb 2 feedback
        by_competency(
            competencies["Influence"],
            "Influence",
            {
                "proposed": 2,
                "agreed": 1,
                "agreement_rate": 0.5,
                "median_days_to_agreement": 5.0,
                "achieved": 1,
            },
            1,
        ),
        # no goal, no feedback: an empty group, zeros
        by_competency(competencies["Unused"], "Unused", zeros_goals(), 0),
        # g3 names none: proposed Dec 20 (before `from`), agreed Jan 4 (15 days)
        by_competency(
            None,
            None,
            {
                "proposed": 0,
                "agreed": 1,
                "agreement_rate": None,
                "median_days_to_agreement": 15.0,
                "achieved": 0,
            },
            0,
        ),
    ]
    # g1 counts in both of its groups: Design + Influence proposed 4 > the tenant's 3
    (whole,) = (await get(client, auth))["groups"]
    assert whole["goals"]["proposed"] == 3


async def test_group_by_competency_for_a_person(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org, competencies: dict[str, str]
) -> None:
    # Eli sees only his own: g2 (Design); no goal or feedback of his names none: no null group
    body = await get(client, {**auth, "Acting-Person": str(org.ids["Eli"])}, group_by="competency")
    g2 = {**zeros_goals(), "proposed": 1, "agreement_rate": 0.0}
    assert body["groups"] == [
        by_competency(competencies["Design"], "Design", g2, 0),
        by_competency(competencies["Influence"], "Influence", zeros_goals(), 0),
        by_competency(competencies["Unused"], "Unused", zeros_goals(), 0),
    ]
    # the subtree below Max (Eve, Eli): g3 (Max's) is out, so no null group either
    below_max = await get(client, auth, group_by="competency", manager_id=str(org.ids["Max"]))
    assert [(g["label"], g["goals"]["proposed"]) for g in below_max["groups"]] == [
        ("Design", 2),
        ("Influence", 2),
        ("Unused", 0),
    ]


async def test_group_by_competency_csv(
    client: httpx.AsyncClient, auth: dict[str, str], org: Org, competencies: dict[str, str]
) -> None:
    response = await client.get(
        URL, params={**WINDOW, "group_by": "competency"}, headers={**auth, "Accept": "text/csv"}
    )
    assert response.status_code == 200
    lines = response.text.split("\r\n")
    assert lines[0].startswith("key,label,employees,coverage,")

    # 12 empty employee and conversation fields, the goals, 9 empty follow-up and action
    # item fields, feedback.given, 3 empty request fields
    def skip(n: int) -> str:
        return "," * (n + 1)

    assert lines[1:] == [
        f"{competencies['Design']},Design{skip(12)}2,1,0.5,5.0,1{skip(9)}0,,,",
        f"{competencies['Influence']},Influence{skip(12)}2,1,0.5,5.0,1{skip(9)}1,,,",
        f"{competencies['Unused']},Unused{skip(12)}0,0,,,0{skip(9)}0,,,",
        f",{skip(12)}0,1,,15.0,0{skip(9)}0,,,",
        "",
    ]
