"""Who sees what and who may do what, for every role and every operation of the document.

Written from the two tables of openapi.md ("Who sees what"), not from the code. Every
operation an API key reaches is classified in ``ROUTES``; one that is not fails
``test_every_operation_has_a_rule`` (a new route without a rule fails). Reads: one test
per (role, ``managers_see_reports``) asks every read and list operation about every
subject of the world (tests/visibility_world.py) and compares the whole answer with the
table. Writes: one test per write operation builds the world once and runs the write as
each role inside a SAVEPOINT rolled back after it, so every role meets the same state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import TenantKey
from tests.factories_feedback import in_days
from tests.visibility_world import (
    HAS_PERSON_SESSIONS,
    HAS_SEALED,
    OPERATIONS,
    ROLES,
    World,
    build,
    new_key,
)

# operationId → (resource kind, read | list | write | platform-only). Platform-only
# operations answer 403 not_permitted to any person (a session token included).
ROUTES: dict[str, tuple[str, str]] = {
    "create_person": ("person", "platform-only"),
    "list_people": ("person", "list"),
    "get_person": ("person", "read"),
    "get_person_cadence": ("cadence", "read"),
    "get_career_conversation_insights": ("insights", "read"),
    "update_person": ("person", "platform-only"),
    "delete_person": ("person", "platform-only"),
    "upsert_person_by_external_id": ("person", "platform-only"),
    "sync_people_batch": ("person", "platform-only"),
    "create_mentorship": ("mentorship", "platform-only"),
    "list_mentorships": ("mentorship", "list"),
    "get_mentorship": ("mentorship", "read"),
    "update_mentorship": ("mentorship", "platform-only"),
    "delete_mentorship": ("mentorship", "platform-only"),
    "end_mentorship": ("mentorship", "write"),
    "create_conversation": ("conversation", "write"),
    "list_conversations": ("conversation", "list"),
    "get_conversation": ("conversation", "read"),
    "get_conversation_calendar": ("conversation", "read"),
    "update_conversation": ("conversation", "write"),
    "delete_conversation": ("conversation", "write"),
    "schedule_conversation": ("conversation", "write"),
    "reschedule_conversation": ("conversation", "write"),
    "complete_conversation": ("conversation", "write"),
    "cancel_conversation": ("conversation", "write"),
    "prepare_conversation": ("conversation", "write"),
    "create_conversation_series": ("conversation series", "write"),
    "list_conversation_series": ("conversation series", "list"),
    "get_conversation_series": ("conversation series", "read"),
    "pause_conversation_series": ("conversation series", "write"),
    "resume_conversation_series": ("conversation series", "write"),
    "end_conversation_series": ("conversation series", "write"),
    "update_conversation_series": ("conversation series", "write"),
    "get_conversation_series_calendar": ("conversation series", "read"),
    "create_agenda_item": ("agenda item", "write"),
    "list_agenda_items": ("agenda item", "list"),
    "get_agenda_item": ("agenda item", "read"),
    "update_agenda_item": ("agenda item", "write"),
    "delete_agenda_item": ("agenda item", "write"),
    "create_note": ("note", "write"),
    "list_notes": ("note", "list"),
    "get_note": ("note", "read"),
    "update_note": ("note", "write"),
    "delete_note": ("note", "write"),
    "create_goal": ("goal", "write"),
    "list_goals": ("goal", "list"),
    "get_goal": ("goal", "read"),
    "update_goal": ("goal", "write"),
    "delete_goal": ("goal", "write"),
    "agree_goal": ("goal", "write"),
    "start_goal": ("goal", "write"),
    "achieve_goal": ("goal", "write"),
    "abandon_goal": ("goal", "write"),
    "link_goal_conversation": ("goal", "write"),
    "unlink_goal_conversation": ("goal", "write"),
    "create_action_plan": ("action plan", "write"),
    "list_action_plans": ("action plan", "list"),
    "get_action_plan": ("action plan", "read"),
    "update_action_plan": ("action plan", "write"),
    "delete_action_plan": ("action plan", "write"),
    "create_action_item": ("action item", "write"),
    "list_action_items": ("action item", "list"),
    "get_action_item": ("action item", "read"),
    "update_action_item": ("action item", "write"),
    "delete_action_item": ("action item", "write"),
    "list_all_action_items": ("action item", "list"),
    "create_feedback": ("feedback", "write"),
    "list_feedback": ("feedback", "list"),
    "get_feedback": ("feedback", "read"),
    "update_feedback": ("feedback", "write"),
    "delete_feedback": ("feedback", "write"),
    "create_feedback_request": ("feedback request", "write"),
    "list_feedback_requests": ("feedback request", "list"),
    "get_feedback_request": ("feedback request", "read"),
    "update_feedback_request": ("feedback request", "write"),
    "delete_feedback_request": ("feedback request", "write"),
    "answer_feedback_request": ("feedback request", "write"),
    "decline_feedback_request": ("feedback request", "write"),
    "create_follow_up": ("follow-up", "write"),
    "list_follow_ups": ("follow-up", "list"),
    "get_follow_up": ("follow-up", "read"),
    "update_follow_up": ("follow-up", "write"),
    "delete_follow_up": ("follow-up", "write"),
    "complete_follow_up": ("follow-up", "write"),
    "cancel_follow_up": ("follow-up", "write"),
    "list_events": ("event", "list"),
    "get_event": ("event", "read"),
    "list_event_types": ("event type", "list"),
    "create_webhook_endpoint": ("webhook", "platform-only"),
    "list_webhook_endpoints": ("webhook", "platform-only"),
    "get_webhook_endpoint": ("webhook", "platform-only"),
    "update_webhook_endpoint": ("webhook", "platform-only"),
    "delete_webhook_endpoint": ("webhook", "platform-only"),
    "get_webhook_endpoint_secret": ("webhook", "platform-only"),
    "rotate_webhook_endpoint_secret": ("webhook", "platform-only"),
    "test_webhook_endpoint": ("webhook", "platform-only"),
    "list_webhook_deliveries": ("webhook", "platform-only"),
    "recover_webhook_endpoint": ("webhook", "platform-only"),
    "get_webhook_delivery": ("webhook", "platform-only"),
    "retry_webhook_delivery": ("webhook", "platform-only"),
    "get_current_tenant": ("tenant", "platform-only"),
    "update_current_tenant": ("tenant", "platform-only"),
    "create_person_session": ("person session", "platform-only"),
    "get_person_session": ("person session", "platform-only"),
    "revoke_person_session": ("person session", "platform-only"),
    "create_agenda_template": ("agenda template", "platform-only"),
    "list_agenda_templates": ("agenda template", "list"),
    "get_agenda_template": ("agenda template", "read"),
    "update_agenda_template": ("agenda template", "platform-only"),
    "delete_agenda_template": ("agenda template", "platform-only"),
    "copy_agenda_template": ("agenda template", "platform-only"),
    "create_competency": ("competency", "platform-only"),
    "create_competencies": ("competency", "platform-only"),
    "list_competencies": ("competency", "list"),
    "get_competency": ("competency", "read"),
    "update_competency": ("competency", "platform-only"),
    "delete_competency": ("competency", "platform-only"),
    "create_career_track": ("career track", "platform-only"),
    "create_career_tracks": ("career track", "platform-only"),
    "list_career_tracks": ("career track", "list"),
    "get_career_track": ("career track", "read"),
    "update_career_track": ("career track", "platform-only"),
    "delete_career_track": ("career track", "platform-only"),
    "create_calendar_feed": ("calendar feed", "write"),
    "revoke_calendar_feed": ("calendar feed", "write"),
    "put_aspiration": ("aspiration", "write"),
    "get_aspiration": ("aspiration", "read"),
    "list_aspiration_versions": ("aspiration", "list"),
    "put_assessment": ("assessment", "write"),
    "get_assessment": ("assessment", "read"),
    "list_assessment_versions": ("assessment", "list"),
    "get_alignment": ("alignment", "read"),
    "create_person_export": ("export", "write"),
    "get_export_schema": ("export schema", "read"),
    "get_export": ("export", "read"),
    "download_export": ("export", "read"),
}
# Operations classified ahead of their landing on another branch (none now).
NOT_YET: set[str] = set()


def test_every_operation_has_a_rule() -> None:
    """A new route without a rule fails; a rule for a route that is gone fails too."""
    assert sorted(set(OPERATIONS) - set(ROUTES)) == []
    assert sorted(set(ROUTES) - set(OPERATIONS) - NOT_YET) == []


# ---------------------------------------------------------------------------- reads

MANAGERS = {"chain": {"manager", "skip"}, "direct": {"manager"}, "none": set()}


def seers(mode: str) -> dict[str, set[str]]:
    """Subject → the roles that see it, from the visibility table (the session acts as
    the employee and sees what they see)."""
    managers = MANAGERS[mode]
    career = {"employee", "manager", "platform"} | managers
    table = {
        "person": set(ROLES),
        # whoever sees the employee's conversations as such: not a mentor
        "cadence": {"employee", "platform"} | managers,
        # expectations: the person and their managers; a mentor may assess but not read
        "aspiration": {"employee", "platform"} | managers,
        "assessment": {"employee", "platform"} | managers,
        "alignment": {"employee", "platform"} | managers,
        "mentorship": {"mentor", "employee", "platform"} | managers,
        "career": career,
        "mentoring": {"employee", "mentor", "platform"} | managers,
        # a mentorship conversation the manager facilitates: the mentor sees it as the
        # employee's mentor in an active mentorship
        "mentoring_m": {"employee", "manager", "mentor", "platform"} | managers,
        "draft": career,
        # a series is seen by whoever would see its conversations
        "series": career,
        "agenda_shared": career,
        "note_shared": career,
        "note_private_employee": {"employee"},
        "note_private_manager": {"manager"},
        # the manager facilitates the linked conversation; the mentor is the owner's
        # active mentor
        "goal": {"employee", "manager", "mentor", "platform"} | managers,
        # the manager facilitates its conversation
        "plan": {"employee", "manager", "platform"} | managers,
        "item": {"employee", "manager", "platform"} | managers,
        "feedback_recipient": {"mentor", "employee", "platform"},
        # the recipient's direct manager, whatever the setting
        "feedback_recipient_and_manager": {"mentor", "employee", "manager", "platform"},
        "request": {"employee", "mentor", "platform"},
        # the conversation's parties and the assignee; managers do not see follow-ups
        "follow_up": {"employee", "manager", "platform"},
        # the person the export is about (GDPR art. 15): not their managers
        "export": {"employee", "platform"},
    }
    if HAS_SEALED:
        table["agenda_sealed_employee"] = {"employee"}
        table["agenda_sealed_manager"] = {"manager"}
    for roles in table.values():
        if "employee" in roles:
            roles.add("session")
    return table


# Read operations: (operationId, subject, path). Lists: (operationId, path, subjects
# whose ids the list holds for whoever sees them); a nested list is a 404 to whoever
# does not see its parent (the subject named after the path).
GETS = [
    ("get_person", "person", "/v1/people/{employee}"),
    ("get_person_cadence", "cadence", "/v1/people/{employee}/cadence"),
    ("get_aspiration", "aspiration", "/v1/people/{employee}/aspiration"),
    ("get_assessment", "assessment", "/v1/people/{employee}/assessment"),
    ("get_alignment", "alignment", "/v1/people/{employee}/alignment"),
    ("get_mentorship", "mentorship", "/v1/mentorships/{mentorship}"),
    ("get_conversation_series", "series", "/v1/conversation-series/{series}"),
    (
        "get_conversation_series_calendar",
        "series",
        "/v1/conversation-series/{series}/calendar.ics",
    ),
    *[
        ("get_conversation", c, f"/v1/conversations/{{{c}}}")
        for c in ("career", "mentoring", "mentoring_m", "draft")
    ],
    *[
        # the mentorship ones have no start (409); they follow the same rule
        ("get_conversation_calendar", c, f"/v1/conversations/{{{c}}}/calendar.ics")
        for c in ("career", "draft")
    ],
    *[
        ("get_agenda_item", a, f"/v1/conversations/{{career}}/agenda-items/{{{a}}}")
        for a in ("agenda_shared", "agenda_sealed_employee", "agenda_sealed_manager")
    ],
    *[
        ("get_note", n, f"/v1/conversations/{{career}}/notes/{{{n}}}")
        for n in ("note_shared", "note_private_employee", "note_private_manager")
    ],
    ("get_goal", "goal", "/v1/goals/{goal}"),
    ("get_action_plan", "plan", "/v1/action-plans/{plan}"),
    ("get_action_item", "item", "/v1/action-plans/{plan}/items/{item}"),
    *[
        ("get_feedback", f, f"/v1/feedback/{{{f}}}")
        for f in ("feedback_recipient", "feedback_recipient_and_manager")
    ],
    ("get_feedback_request", "request", "/v1/feedback-requests/{request}"),
    ("get_follow_up", "follow_up", "/v1/follow-ups/{follow_up}"),
    ("get_export", "export", "/v1/exports/{export}"),
]
AGENDA = ("agenda_shared", "agenda_sealed_employee", "agenda_sealed_manager")
NOTES = ("note_shared", "note_private_employee", "note_private_manager")
LISTS: list[tuple[str, str, str | None, tuple[str, ...]]] = [
    ("list_people", "/v1/people", None, ("person",)),
    ("list_mentorships", "/v1/mentorships", None, ("mentorship",)),
    (
        "list_conversations",
        "/v1/conversations",
        None,
        ("career", "mentoring", "mentoring_m", "draft"),
    ),
    ("list_conversation_series", "/v1/conversation-series", None, ("series",)),
    ("list_agenda_items", "/v1/conversations/{career}/agenda-items", "career", AGENDA),
    ("list_notes", "/v1/conversations/{career}/notes", "career", NOTES),
    ("list_goals", "/v1/goals", None, ("goal",)),
    ("list_action_plans", "/v1/action-plans", None, ("plan",)),
    ("list_action_items", "/v1/action-plans/{plan}/items", "plan", ("item",)),
    ("list_all_action_items", "/v1/action-items", None, ("item",)),
    (
        "list_feedback",
        "/v1/feedback",
        None,
        ("feedback_recipient", "feedback_recipient_and_manager"),
    ),
    ("list_feedback_requests", "/v1/feedback-requests", None, ("request",)),
    ("list_follow_ups", "/v1/follow-ups", None, ("follow_up",)),
    (
        "list_aspiration_versions",
        "/v1/people/{employee}/aspiration/history",
        "aspiration",
        ("aspiration",),
    ),
    (
        "list_assessment_versions",
        "/v1/people/{employee}/assessment/history",
        "assessment",
        ("assessment",),
    ),
]
# Subjects whose creation event ``get_event`` and ``list_events`` are asked about.
EVENT_SUBJECTS = (
    "person",
    "mentorship",
    "career",
    "mentoring",
    "mentoring_m",
    "agenda_shared",
    "note_shared",
    "goal",
    "plan",
    "item",
    "feedback_recipient",
    "feedback_recipient_and_manager",
    "request",
    "follow_up",
    "aspiration",
    "assessment",
)
READ_OPS = {op for op, _, _ in GETS} | {op for op, *_ in LISTS} | {"get_event", "list_events"}
READ_OPS |= {"list_event_types", "list_agenda_templates", "get_agenda_template"}
# The career framework is tenant configuration too: everyone reads it.
READ_OPS |= {"list_competencies", "get_competency", "list_career_tracks", "get_career_track"}
FRAMEWORK = {"competency": "/v1/competencies", "track": "/v1/career-tracks"}
# Insights aggregate over the people the acting person sees as for a cadence (themselves and
# the people they manage): the employee's conversations (the only ones of the world) count
# in the figures exactly for the roles that see the employee's cadence.
READ_OPS |= {"get_career_conversation_insights"}
INSIGHTS = "get_career_conversation_insights cadence"
READ_OPS |= {"get_export_schema", "download_export"}
# Agenda templates are tenant configuration: everyone reads them, the built-ins included.
BUILTIN_TEMPLATES = [
    "00000000-0000-7000-8000-00000000a003",
    "00000000-0000-7000-8000-00000000a002",
    "00000000-0000-7000-8000-00000000a001",
]


def test_every_read_is_asked() -> None:
    """Each read or list operation of the document is exercised by the read test."""
    reads = {op for op, (_, kind) in ROUTES.items() if kind in ("read", "list")}
    assert sorted(reads - READ_OPS) == []


def fill(path: str, w: World) -> str:
    def one(match: re.Match[str]) -> str:
        name = match[1]
        return w.person[name] if name in w.person else w.ids[name]

    return re.sub(r"\{(\w+)\}", one, path)


async def all_pages(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    """Every item of a list (following cursors), or the status of a refusal."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        response = await client.get(path, params=params, headers=headers)
        if response.status_code != 200:
            return response.status_code
        page = response.json()
        if "data" not in page or not isinstance(page["data"], list):
            return page  # not a list (the tenant)
        items += page["data"]
        if not page.get("has_more"):
            return items
        if "next_cursor" in page:
            params = {"limit": 100, "cursor": page["next_cursor"]}
        else:  # events page by ``after``
            params = {"limit": 100, "after": page["data"][-1]["id"]}


async def creation_events(w: World) -> dict[str, str]:
    """Subject → the id of its first event (as the platform sees the feed)."""
    feed = await all_pages(w.client, "/v1/events", w.tenant.headers)
    assert isinstance(feed, list)
    first: dict[str, str] = {}
    for event in feed:
        first.setdefault(event["subject_id"], event["id"])
    by_subject = {s: w.ids.get(s) or w.person["employee"] for s in EVENT_SUBJECTS}
    return {s: first[ident] for s, ident in by_subject.items()}


async def observe(w: World, role: str, events: dict[str, str]) -> dict[str, Any]:
    """What ``role`` gets from every read: ``visible`` / ``invisible`` per (op, subject)."""
    headers = w.headers(role)
    seen: dict[str, Any] = {}
    for op, subject, path in GETS:
        if subject not in w.ids and subject not in ("person", "cadence", "alignment"):
            continue  # sealed items before their landing
        response = await w.client.get(fill(path, w), headers=headers)
        seen[f"{op} {subject}"] = {200: "visible", 404: "invisible"}.get(
            response.status_code, response.status_code
        )
        if op == "get_person" and response.status_code == 200:
            body = response.json()
            seen["person external_id, metadata"] = (body["external_id"], body["metadata"])
    for op, path, _, subjects in LISTS:
        listed = await all_pages(w.client, fill(path, w), headers)
        if isinstance(listed, int):
            seen[op] = {404: "invisible"}.get(listed, listed)
            continue
        present = {item["id"] for item in listed}
        for subject in subjects:
            if subject in w.ids or subject == "person":
                ident = w.person["employee"] if subject == "person" else w.ids[subject]
                seen[f"{op} {subject}"] = "visible" if ident in present else "invisible"
    feed = await all_pages(w.client, "/v1/events", headers)
    present = {e["id"] for e in feed} if isinstance(feed, list) else set()
    for subject, event_id in events.items():
        response = await w.client.get(f"/v1/events/{event_id}", headers=headers)
        seen[f"get_event {subject}"] = {200: "visible", 404: "invisible"}.get(
            response.status_code, response.status_code
        )
        seen[f"list_events {subject}"] = "visible" if event_id in present else "invisible"
    seen["list_event_types"] = (await w.client.get("/v1/event-types", headers=headers)).status_code
    window = {"from": in_days(-1), "to": in_days(60)}
    insights = await w.client.get(
        "/v1/insights/career-conversations", params=window, headers=headers
    )
    assert insights.status_code == 200, insights.text
    counted = insights.json()["groups"][0]["conversations"]["total"]
    seen[INSIGHTS] = "visible" if counted > 0 else "invisible"
    schema = await w.client.get("/v1/exports/schema.json", headers=headers)
    seen["get_export_schema"] = schema.status_code
    # The export is still pending: its person is told it is not ready (409); the platform,
    # who sees the job, may not read the document (403: it holds the person's private notes).
    download = await w.client.get(fill("/v1/exports/{export}/download", w), headers=headers)
    seen["download_export export"] = {409: "visible", 404: "invisible"}.get(
        download.status_code, download.status_code
    )
    templates = await all_pages(w.client, "/v1/agenda-templates", headers)
    seen["list_agenda_templates"] = (
        [t["id"] for t in templates] if isinstance(templates, list) else templates
    )
    for template in (w.ids["template"], BUILTIN_TEMPLATES[0]):
        response = await w.client.get(f"/v1/agenda-templates/{template}", headers=headers)
        seen[f"get_agenda_template {template}"] = response.status_code
    for subject, path in FRAMEWORK.items():
        listed = await all_pages(w.client, path, headers)
        seen[f"list {subject}"] = [x["id"] for x in listed] if isinstance(listed, list) else listed
        response = await w.client.get(f"{path}/{w.ids[subject]}", headers=headers)
        seen[f"get {subject}"] = response.status_code
    return seen


def expected(w: World, role: str, mode: str) -> dict[str, Any]:
    table = seers(mode)

    def state(subject: str) -> str:
        return "visible" if role in table[subject] else "invisible"

    want: dict[str, Any] = {}
    for op, subject, _ in GETS:
        if subject in table:
            want[f"{op} {subject}"] = state(subject)
    # a directory: external_id and metadata only for the platform
    want["person external_id, metadata"] = (
        ("HR-E", {"k": "v"}) if role == "platform" else (None, {})
    )
    for op, _, parent, subjects in LISTS:
        if parent is not None and role not in table[parent]:
            want[op] = "invisible"
            continue
        for subject in subjects:
            if subject in table:
                want[f"{op} {subject}"] = state(subject)
    for subject in EVENT_SUBJECTS:
        want[f"get_event {subject}"] = state(subject)
        want[f"list_events {subject}"] = state(subject)
    want["list_event_types"] = 200
    want[INSIGHTS] = state("cadence")
    want["get_export_schema"] = 200
    want["download_export export"] = 403 if role == "platform" else state("export")
    want["list_agenda_templates"] = [w.ids["template"], *BUILTIN_TEMPLATES]
    for template in (w.ids["template"], BUILTIN_TEMPLATES[0]):
        want[f"get_agenda_template {template}"] = 200
    for subject in FRAMEWORK:
        want[f"list {subject}"] = [w.ids[subject]]
        want[f"get {subject}"] = 200
    return want


def differences(got: dict[str, Any], want: dict[str, Any]) -> str:
    """Every (op, subject) whose answer differs from the table, one per line."""
    keys = sorted(set(got) | set(want))
    return "\n".join(
        f"{key}: got {got.get(key)!r}, table says {want.get(key)!r}"
        for key in keys
        if got.get(key) != want.get(key)
    )


CASES = [(role, "chain") for role in ROLES] + [
    ("manager", "direct"),
    ("skip", "direct"),
    ("mentor", "direct"),
    ("manager", "none"),
    ("skip", "none"),
    ("employee", "none"),
]


def skip_without_sessions(role: str) -> None:
    if role == "session" and not HAS_PERSON_SESSIONS:
        pytest.skip("POST /v1/person-sessions is not in the OpenAPI document yet")


@pytest.mark.parametrize(("role", "mode"), CASES, ids=[f"{r}-{m}" for r, m in CASES])
async def test_reads_follow_the_visibility_table(
    role: str, mode: str, client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    skip_without_sessions(role)
    w = await build(client, tenant)
    await with_expectations(w)
    events = await creation_events(w)
    await with_template(w)
    await with_framework(w)
    await with_series(w)
    await with_export(w)
    await w.set_reports(mode)
    got, want = await observe(w, role, events), expected(w, role, mode)
    assert got == want, differences(got, want)


@pytest.mark.parametrize("role", ROLES)
async def test_platform_only_reads_refuse_people(
    role: str, client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """Webhook endpoints, deliveries and the tenant: 403 not_permitted to any person."""
    skip_without_sessions(role)
    w = await build(client, tenant)
    endpoint = await w.post("/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook"})
    tested = await client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/test", json={}, headers=tenant.headers
    )
    assert tested.status_code == 202, tested.text
    deliveries = await client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=tenant.headers
    )
    delivery = deliveries.json()["data"][0]["id"]
    minted = await w.post("/v1/person-sessions", {"person_id": w.person["employee"]})
    paths = {
        "get_person_session": f"/v1/person-sessions/{minted['id']}",
        "list_webhook_endpoints": "/v1/webhook-endpoints",
        "get_webhook_endpoint": f"/v1/webhook-endpoints/{endpoint['id']}",
        "get_webhook_endpoint_secret": f"/v1/webhook-endpoints/{endpoint['id']}/secret",
        "list_webhook_deliveries": f"/v1/webhook-endpoints/{endpoint['id']}/deliveries",
        "get_webhook_delivery": f"/v1/webhook-deliveries/{delivery}",
        "get_current_tenant": "/v1/tenant",
    }
    assert set(paths) == {
        op
        for op, (_, kind) in ROUTES.items()
        if kind == "platform-only" and OPERATIONS.get(op, ("",))[0] == "get"
    }
    answers = {}
    for op, path in paths.items():
        response = await client.get(path, headers=w.headers(role))
        answers[op] = (response.status_code, response.json().get("code"))
    want = (200, None) if role == "platform" else (403, "not_permitted")
    assert answers == dict.fromkeys(paths, want)


# ---------------------------------------------------------------------------- writes

E, M, S, C, R, P, T = "employee", "manager", "skip", "colleague", "mentor", "platform", "session"
Body = Callable[[World, str], Any]


def rule(ok: int, allowed: set[str], forbidden: set[str] = frozenset(), **others: int) -> Any:
    """Expected status per role: ``ok`` for ``allowed``, 403 for ``forbidden``, the given
    code for roles named in ``others``, 404 (invisible) for the rest. The session acts as
    the employee."""
    allowed, forbidden = set(allowed), set(forbidden)
    for roles in (allowed, forbidden):
        if E in roles:
            roles.add(T)
    out = {}
    for role in ROLES:
        if role in others:
            out[role] = others[role]
        elif role in allowed:
            out[role] = ok
        elif role in forbidden:
            out[role] = 403
        else:
            out[role] = 404
    return out


def platform_only(ok: int) -> Any:
    return {role: ok if role == P else 403 for role in ROLES}


def me(w: World, role: str, default: str = E) -> str:
    """The acting person's id, or ``default``'s when the platform acts."""
    return w.acting(role) or w.person[default]


def other(w: World, role: str, default: str, first: str, second: str) -> str:
    """``first``'s id, or ``second``'s when ``first`` is the one acting (or ``default``)."""
    return w.person[second] if me(w, role, default) == w.person[first] else w.person[first]


async def with_expectations(w: World) -> None:
    """The employee's aspiration and their manager's assessment of them."""
    aspiration = {"target_role": "Staff", "horizon_months": 12}
    response = await w.client.put(
        f"/v1/people/{w.person[E]}/aspiration", json=aspiration, headers=w.tenant.headers
    )
    assert response.status_code == 201, response.text
    w.ids["aspiration"] = response.json()["id"]
    assessment = {"assessed_by": w.person[M], "realistic_role": "Staff", "readiness": "ready_now"}
    response = await w.client.put(
        f"/v1/people/{w.person[E]}/assessment", json=assessment, headers=w.tenant.headers
    )
    assert response.status_code == 201, response.text
    w.ids["assessment"] = response.json()["id"]


async def with_export(w: World) -> None:
    """An export of the employee's data, asked for by the platform (still pending)."""
    response = await w.client.post(
        f"/v1/people/{w.person[E]}/exports", headers=w.headers("platform")
    )
    assert response.status_code == 202, response.text
    w.ids["export"] = response.json()["id"]


async def with_template(w: World) -> None:
    template = {"name": "Quarterly", "items": [{"category": "aspirations", "title": "Next"}]}
    w.ids["template"] = (await w.post("/v1/agenda-templates", template))["id"]


async def with_framework(w: World) -> None:
    """A competency and a career track whose one level expects it."""
    w.ids["competency"] = (await w.post("/v1/competencies", {"name": "Design"}))["id"]
    expectation = {"competency_id": w.ids["competency"], "expectation": "Leads a design."}
    track = {"name": "Engineering", "levels": [{"name": "Senior", "expectations": [expectation]}]}
    w.ids["track"] = (await w.post("/v1/career-tracks", track))["id"]


async def with_unused_competency(w: World) -> None:
    w.ids["competency"] = (await w.post("/v1/competencies", {"name": "Unused"}))["id"]


async def with_series(w: World) -> None:
    """A career series of the employee with the manager (weekly, in Berlin)."""
    series = {
        "employee_id": w.person[E],
        "facilitator_id": w.person[M],
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "start": "2030-01-01T10:00:00",
        "timezone": "Europe/Berlin",
    }
    w.ids["series"] = (await w.post("/v1/conversation-series", series))["id"]


async def with_paused_series(w: World) -> None:
    await with_series(w)
    await w.post(f"/v1/conversation-series/{w.ids['series']}/pause", {})


async def with_feed(w: World) -> None:
    await w.post(f"/v1/people/{w.person[E]}/calendar-feed", {})


async def agree_both(w: World) -> None:
    goal = w.ids["goal"]
    await w.post(f"/v1/goals/{goal}/agree", {"party": "employee", "person_id": w.person[E]})
    await w.post(f"/v1/goals/{goal}/agree", {"party": "facilitator", "person_id": w.person[M]})


# operationId → (method, path, body(world, role), setup as the platform, expected).
WRITES: dict[str, tuple[str, str, Body | None, Any, dict[str, int]]] = {
    "create_person": ("post", "/v1/people", lambda w, r: {"name": "New"}, None, platform_only(201)),
    # GDPR art. 15 is the person's right: they and the platform; no one else who sees them.
    "create_person_export": (
        "post", "/v1/people/{employee}/exports", None, None, rule(202, {E, P}, {M, S, C, R})
    ),
    "update_person": (
        "patch", "/v1/people/{colleague}", lambda w, r: {"title": "Lead"}, None, platform_only(200)
    ),
    "delete_person": ("delete", "/v1/people/{spare}", None, None, platform_only(204)),
    "upsert_person_by_external_id": (
        "put", "/v1/people/by-external-id/HR-NEW", lambda w, r: {"name": "New"}, None,
        platform_only(201),
    ),
    "sync_people_batch": (
        "post", "/v1/people/batch",
        lambda w, r: {"people": [{"external_id": "HR-BATCH", "name": "New"}]}, None,
        platform_only(200),
    ),
    "create_mentorship": (
        "post", "/v1/mentorships",
        lambda w, r: {"mentor_id": w.person[C], "mentee_id": w.person[M]}, None,
        platform_only(201),
    ),
    "update_mentorship": (
        "patch", "/v1/mentorships/{mentorship}", lambda w, r: {"focus": "Talks"}, None,
        platform_only(200),
    ),
    "delete_mentorship": ("delete", "/v1/mentorships/{mentorship}", None, None, platform_only(204)),
    "end_mentorship": (
        "post", "/v1/mentorships/{mentorship}/end", lambda w, r: {}, None,
        rule(200, {E, R, P}, {M, S}),
    ),
    "create_conversation": (
        "post", "/v1/conversations",
        lambda w, r: {"employee_id": w.person[E], "facilitator_id": w.person[M]}, None,
        rule(201, {E, M, S, P}, {C, R}),
    ),
    # a party or a manager of the employee creates a series; pause/resume/end: a party
    "create_conversation_series": (
        "post", "/v1/conversation-series",
        lambda w, r: {
            "employee_id": w.person[E], "facilitator_id": w.person[M],
            "rrule": "FREQ=MONTHLY;BYDAY=1TU", "start": "2030-01-01T10:00:00",
            "timezone": "Europe/Berlin",
        },
        None, rule(201, {E, M, S, P}, {C, R}),
    ),
    "pause_conversation_series": (
        "post", "/v1/conversation-series/{series}/pause", lambda w, r: {}, with_series,
        rule(200, {E, M, P}, {S}),
    ),
    "resume_conversation_series": (
        "post", "/v1/conversation-series/{series}/resume", lambda w, r: {}, with_paused_series,
        rule(200, {E, M, P}, {S}),
    ),
    "end_conversation_series": (
        "post", "/v1/conversation-series/{series}/end", lambda w, r: {}, with_series,
        rule(200, {E, M, P}, {S}),
    ),
    "update_conversation_series": (
        "patch", "/v1/conversation-series/{series}", lambda w, r: {"duration_minutes": 50},
        with_series, rule(200, {E, M, P}, {S}),
    ),
    "update_conversation": (
        "patch", "/v1/conversations/{career}", lambda w, r: {"location": "Room 2"}, None,
        rule(200, {E, M, P}, {S}),
    ),
    "delete_conversation": (
        "delete", "/v1/conversations/{draft}", None, None, rule(204, {E, M, P}, {S})
    ),
    "schedule_conversation": (
        "post", "/v1/conversations/{draft}/schedule", lambda w, r: {}, None,
        rule(200, {E, M, P}, {S}),
    ),
    "reschedule_conversation": (
        "post", "/v1/conversations/{career}/reschedule",
        lambda w, r: {"scheduled_start": in_days(12)}, None, rule(200, {E, M, P}, {S}),
    ),
    "complete_conversation": (
        "post", "/v1/conversations/{career}/complete", lambda w, r: {}, None,
        rule(200, {E, M, P}, {S}),
    ),
    "cancel_conversation": (
        "post", "/v1/conversations/{career}/cancel", lambda w, r: {"reason": "Ill"}, None,
        rule(200, {E, M, P}, {S}),
    ),
    "prepare_conversation": (
        "post", "/v1/conversations/{career}/prepare", lambda w, r: {"person_id": me(w, r)}, None,
        rule(200, {E, M, P}, {S}),
    ),
    "create_agenda_item": (
        "post", "/v1/conversations/{career}/agenda-items",
        lambda w, r: {"author_id": me(w, r), "topic": "Pay"}, None, rule(201, {E, M, P}, {S}),
    ),
    "update_agenda_item": (
        "patch", "/v1/conversations/{career}/agenda-items/{agenda_shared}",
        lambda w, r: {"topic": "Scope"}, None, rule(200, {E, P}, {M, S}),
    ),
    "delete_agenda_item": (
        "delete", "/v1/conversations/{career}/agenda-items/{agenda_shared}", None, None,
        rule(204, {E, P}, {M, S}),
    ),
    "create_note": (
        "post", "/v1/conversations/{career}/notes",
        lambda w, r: {"author_id": me(w, r), "body": "Went well"}, None,
        rule(201, {E, M, P}, {S}),
    ),
    "update_note": (
        "patch", "/v1/conversations/{career}/notes/{note_shared}", lambda w, r: {"body": "B"},
        None, rule(200, {E, P}, {M, S}),
    ),
    "delete_note": (
        "delete", "/v1/conversations/{career}/notes/{note_shared}", None, None,
        rule(204, {E, P}, {M, S}),
    ),
    "create_goal": (
        "post", "/v1/goals", lambda w, r: {"owner_id": w.person[E], "title": "Lead"}, None,
        rule(201, {E, M, S, P}, {C, R}),
    ),
    "update_goal": (
        "patch", "/v1/goals/{goal}", lambda w, r: {"title": "Lead"}, None,
        rule(200, {E, M, S, P}, {R}),
    ),
    "delete_goal": ("delete", "/v1/goals/{goal}", None, None, rule(204, {E, M, S, P}, {R})),
    # as a person no body: the employee's side for the owner, the facilitator's for a
    # manager of the owner or the owner's active mentor
    "agree_goal": (
        "post", "/v1/goals/{goal}/agree",
        lambda w, r: {"party": "employee", "person_id": w.person[E]} if r == P else {}, None,
        rule(200, {E, M, S, R, P}),
    ),
    "start_goal": (
        "post", "/v1/goals/{goal}/start", lambda w, r: {}, agree_both,
        rule(200, {E, M, S, P}, {R}),
    ),
    "achieve_goal": (
        "post", "/v1/goals/{goal}/achieve", lambda w, r: {}, agree_both,
        rule(200, {E, M, S, P}, {R}),
    ),
    "abandon_goal": (
        "post", "/v1/goals/{goal}/abandon", lambda w, r: {}, None, rule(200, {E, M, S, P}, {R})
    ),
    "link_goal_conversation": (
        "post", "/v1/goals/{goal}/conversations",
        lambda w, r: {"conversation_id": w.ids["mentoring_m"]}, None,
        rule(200, {E, M, S, P}, {R}),
    ),
    "unlink_goal_conversation": (
        "delete", "/v1/goals/{goal}/conversations/{career}", None, None,
        rule(204, {E, M, S, P}, {R}),
    ),
    "create_action_plan": (
        "post", "/v1/action-plans", lambda w, r: {"owner_id": w.person[E], "title": "Plan"},
        None, rule(201, {E, M, S, P}, {C, R}),
    ),
    "update_action_plan": (
        "patch", "/v1/action-plans/{plan}", lambda w, r: {"title": "Plan B"}, None,
        rule(200, {E, M, S, P}),
    ),
    "delete_action_plan": (
        "delete", "/v1/action-plans/{plan}", None, None, rule(204, {E, M, S, P})
    ),
    "create_action_item": (
        "post", "/v1/action-plans/{plan}/items",
        lambda w, r: {"title": "Read", "assignee_id": w.person[E]}, None, rule(201, {E, M, S, P}),
    ),
    "update_action_item": (
        "patch", "/v1/action-plans/{plan}/items/{item}", lambda w, r: {"status": "done"}, None,
        rule(200, {E, M, S, P}),
    ),
    "delete_action_item": (
        "delete", "/v1/action-plans/{plan}/items/{item}", None, None, rule(204, {E, M, S, P})
    ),
    # anyone gives feedback as themselves
    "create_feedback": (
        "post", "/v1/feedback",
        lambda w, r: {
            "giver_id": me(w, r, M), "recipient_id": other(w, r, M, E, M),
            "kind": "strength", "body": "Thanks",
        },
        None, rule(201, set(ROLES)),
    ),
    "update_feedback": (
        "patch", "/v1/feedback/{feedback_recipient_and_manager}", lambda w, r: {"body": "B"},
        None, rule(200, {R, P}, {E, M}),
    ),
    "delete_feedback": (
        "delete", "/v1/feedback/{feedback_recipient_and_manager}", None, None,
        rule(204, {R, P}, {E, M}),
    ),
    "create_feedback_request": (
        "post", "/v1/feedback-requests",
        lambda w, r: {
            "requester_id": me(w, r), "responder_id": other(w, r, E, R, E),
            "prompt": "How was it?", "due_at": in_days(7),
        },
        None, rule(201, set(ROLES)),
    ),
    "update_feedback_request": (
        "patch", "/v1/feedback-requests/{request}", lambda w, r: {"prompt": "And?"}, None,
        rule(200, {E, P}, {R}),
    ),
    "delete_feedback_request": (
        "delete", "/v1/feedback-requests/{request}", None, None, rule(204, {E, P}, {R})
    ),
    "answer_feedback_request": (
        "post", "/v1/feedback-requests/{request}/answer",
        lambda w, r: {"kind": "strength", "body": "Clear"}, None, rule(200, {R, P}, {E}),
    ),
    "decline_feedback_request": (
        "post", "/v1/feedback-requests/{request}/decline", lambda w, r: {}, None,
        rule(200, {R, P}, {E}),
    ),
    # a body reference to a conversation the person does not see is a 422
    "create_follow_up": (
        "post", "/v1/follow-ups",
        lambda w, r: {
            "conversation_id": w.ids["career"], "assignee_id": w.person[E],
            "due_at": in_days(3),
        },
        None, rule(201, {E, M, P}, {S}, colleague=422, mentor=422),
    ),
    "update_follow_up": (
        "patch", "/v1/follow-ups/{follow_up}", lambda w, r: {"note": "Soon"}, None,
        rule(200, {E, M, P}),
    ),
    "delete_follow_up": ("delete", "/v1/follow-ups/{follow_up}", None, None, rule(204, {E, M, P})),
    "complete_follow_up": (
        "post", "/v1/follow-ups/{follow_up}/complete", lambda w, r: {}, None, rule(200, {E, M, P})
    ),
    "cancel_follow_up": (
        "post", "/v1/follow-ups/{follow_up}/cancel", lambda w, r: {}, None, rule(200, {E, M, P})
    ),
    "create_webhook_endpoint": (
        "post", "/v1/webhook-endpoints", lambda w, r: {"url": "http://127.0.0.1:9/new"}, None,
        platform_only(201),
    ),
    "update_webhook_endpoint": (
        "patch", "/v1/webhook-endpoints/{endpoint}", lambda w, r: {"description": "HR"}, None,
        platform_only(200),
    ),
    "delete_webhook_endpoint": (
        "delete", "/v1/webhook-endpoints/{endpoint}", None, None, platform_only(204)
    ),
    "rotate_webhook_endpoint_secret": (
        "post", "/v1/webhook-endpoints/{endpoint}/rotate-secret", lambda w, r: {}, None,
        platform_only(200),
    ),
    "test_webhook_endpoint": (
        "post", "/v1/webhook-endpoints/{endpoint}/test", lambda w, r: {}, None,
        platform_only(202),
    ),
    "recover_webhook_endpoint": (
        "post", "/v1/webhook-endpoints/{endpoint}/recover?since=2020-01-01T00:00:00Z",
        lambda w, r: {}, None, platform_only(200),
    ),
    "retry_webhook_delivery": (
        "post", "/v1/webhook-deliveries/{delivery}/retry", lambda w, r: {}, None,
        platform_only(202),
    ),
    "update_current_tenant": (
        "patch", "/v1/tenant", lambda w, r: {"name": "Acme 2"}, None, platform_only(200)
    ),
    "create_person_session": (
        "post", "/v1/person-sessions", lambda w, r: {"person_id": w.person[E], "ttl_seconds": 60},
        None, platform_only(201),
    ),
    "revoke_person_session": (
        "delete", "/v1/person-sessions/{person_session}", None, None, platform_only(204)
    ),
    "create_agenda_template": (
        "post", "/v1/agenda-templates", lambda w, r: {"name": "T", "items": [{"title": "A"}]},
        None, platform_only(201),
    ),
    "update_agenda_template": (
        "patch", "/v1/agenda-templates/{template}", lambda w, r: {"name": "U"}, with_template,
        platform_only(200),
    ),
    "delete_agenda_template": (
        "delete", "/v1/agenda-templates/{template}", None, with_template, platform_only(204)
    ),
    "copy_agenda_template": (
        "post", "/v1/agenda-templates/{template}/copy", lambda w, r: {}, with_template,
        platform_only(201),
    ),
    "create_competency": (
        "post", "/v1/competencies", lambda w, r: {"name": f"C {r}"}, None, platform_only(201)
    ),
    "create_competencies": (
        "post", "/v1/competencies/batch", lambda w, r: {"items": [{"name": f"C {r}"}]}, None,
        platform_only(201),
    ),
    "update_competency": (
        "patch", "/v1/competencies/{competency}", lambda w, r: {"category": "X"}, with_framework,
        platform_only(200),
    ),
    "delete_competency": (  # the track's level uses it: free it first
        "delete", "/v1/competencies/{competency}", None, with_unused_competency,
        platform_only(204),
    ),
    "create_career_track": (
        "post", "/v1/career-tracks", lambda w, r: {"name": "T", "levels": [{"name": "L"}]}, None,
        platform_only(201),
    ),
    "create_career_tracks": (
        "post", "/v1/career-tracks/batch",
        lambda w, r: {"items": [{"name": "T", "levels": [{"name": "L"}]}]}, None,
        platform_only(201),
    ),
    "update_career_track": (
        "patch", "/v1/career-tracks/{track}", lambda w, r: {"name": "U"}, with_framework,
        platform_only(200),
    ),
    "delete_career_track": (
        "delete", "/v1/career-tracks/{track}", None, with_framework, platform_only(204)
    ),
    # the person themselves (or the platform); everyone else sees the person: 403
    "create_calendar_feed": (
        "post", "/v1/people/{employee}/calendar-feed", None, None, rule(201, {E, P}, {M, S, C, R})
    ),
    "revoke_calendar_feed": (
        "delete", "/v1/people/{employee}/calendar-feed", None, with_feed,
        rule(204, {E, P}, {M, S, C, R}),
    ),
    # the person themselves (or the platform); everyone else sees the person: 403
    "put_aspiration": (
        "put", "/v1/people/{employee}/aspiration",
        lambda w, r: {"target_role": "Staff", "horizon_months": 12}, None,
        rule(201, {E, P}, {M, S, C, R}),
    ),
    # as themselves (assessed_by): a manager up the chain or the active mentor
    "put_assessment": (
        "put", "/v1/people/{employee}/assessment",
        lambda w, r: {
            "assessed_by": me(w, r, M), "realistic_role": "Staff", "readiness": "ready_now",
        },
        None, rule(201, {M, S, R, P}, {E, C}),
    ),
}  # fmt: skip


def test_every_write_is_asked() -> None:
    writes = {op for op, (_, kind) in ROUTES.items() if kind == "write"}
    platform_writes = {
        op
        for op, (_, kind) in ROUTES.items()
        if kind == "platform-only" and OPERATIONS.get(op, ("post",))[0] != "get"
    }
    assert sorted((writes | platform_writes) - set(WRITES)) == []
    assert sorted(set(WRITES) - writes - platform_writes) == []


async def with_webhooks(w: World) -> None:
    endpoint = await w.post("/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook"})
    w.ids["endpoint"] = endpoint["id"]
    await w.post("/v1/people", {"name": "Queued"})  # a delivery to retry
    deliveries = await w.client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=w.tenant.headers
    )
    w.ids["delivery"] = deliveries.json()["data"][0]["id"]


@pytest.mark.parametrize("operation_id", sorted(WRITES))
async def test_writes_follow_the_permission_table(
    operation_id: str,
    client: httpx.AsyncClient,
    tenant: TenantKey,
    connection: AsyncConnection,
) -> None:
    if operation_id in NOT_YET and operation_id not in OPERATIONS:
        pytest.skip(f"{operation_id} is not in the OpenAPI document yet")
    method, path, body, setup, want = WRITES[operation_id]
    assert (method, path.split("?")[0].replace("{", "").count("/")) == (
        OPERATIONS[operation_id][0],
        OPERATIONS[operation_id][1].replace("{", "").count("/"),
    )
    w = await build(client, tenant)
    if "{endpoint}" in path or "{delivery}" in path:
        await with_webhooks(w)
    if "{person_session}" in path:
        w.ids["person_session"] = (
            await w.post("/v1/person-sessions", {"person_id": w.person[M], "ttl_seconds": 60})
        )["id"]
    roles = [role for role in ROLES if role != "session" or HAS_PERSON_SESSIONS]
    answers = {}
    for role in roles:
        savepoint = await connection.begin_nested()
        try:
            if setup is not None:
                await setup(w)
            response = await client.request(
                method,
                fill(path, w),
                json=None if body is None else body(w, role),
                headers={**w.headers(role), **new_key()},
            )
            code = response.status_code
            if code == 403:
                assert response.json()["code"] == "not_permitted", (role, response.text)
            answers[role] = code
        finally:
            await savepoint.rollback()
    expected_answers = {role: want[role] for role in roles}
    assert answers == expected_answers, differences(answers, expected_answers)


@pytest.mark.parametrize(
    ("operation_id", "path", "field"),
    [
        ("create_agenda_item", "/v1/conversations/{career}/agenda-items", "author_id"),
        ("create_note", "/v1/conversations/{career}/notes", "author_id"),
        ("create_feedback", "/v1/feedback", "giver_id"),
        ("create_feedback_request", "/v1/feedback-requests", "requester_id"),
    ],
)
async def test_a_body_naming_someone_else_is_403(
    operation_id: str, path: str, field: str, client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """ "As its author" / "the giver" / "the requester": the employee cannot name the
    manager there."""
    w = await build(client, tenant)
    body = WRITES[operation_id][2]
    assert body is not None
    sent = {**body(w, E), field: w.person[M]}
    if operation_id == "create_feedback":
        sent["recipient_id"] = w.person[E]
    response = await client.post(fill(path, w), json=sent, headers=w.headers(E))
    assert (response.status_code, response.json().get("code")) == (403, "not_permitted")
