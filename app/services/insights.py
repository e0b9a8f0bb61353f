"""Insights over career conversations, goals and follow-through: one SQL statement of
aggregates (``count(*) FILTER``, ``percentile_cont``), one answer row per group; no fact
row is loaded into Python. The figures are defined in the route's description and in
openapi.md ("Insights"); this module is their SQL.

Every fact has its own date (a conversation: ``completed_at``, ``canceled_at``,
``scheduled_start`` or ``created_at``, the first set; a goal: created, agreed, achieved; a
follow-up: ``due_at``; an action item: its due day; feedback: ``created_at``; a request:
asked, answered) and counts when that date is in ``[from, to)``. ``group_by=month`` groups
each fact by the UTC month of its own date.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta
from typing import Any, get_args

import asyncpg

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import ValidationFailed
from app.models.action_plan import ItemStatus
from app.models.base import sql_value, utcnow
from app.models.conversation import ConversationStatus
from app.models.feedback import FeedbackRequestStatus
from app.models.follow_up import FollowUpStatus
from app.models.person import PersonStatus
from app.schemas.common import EARLIEST_YEAR, LATEST_YEAR
from app.schemas.conversations import ConversationKind
from app.schemas.insights import InsightsGroupBy
from app.services import visibility

DEFAULT_DAYS = 90
MAX_SPAN = timedelta(days=1096)  # three years, a leap day included
KINDS: tuple[str, ...] = get_args(ConversationKind)

_C = {s: sql_value(ConversationStatus, s) for s in get_args(ConversationStatus)}
_ACTIVE = sql_value(PersonStatus, "active")
_FU_PENDING = sql_value(FollowUpStatus, "pending")
_FU_COMPLETED = sql_value(FollowUpStatus, "completed")
_DONE = sql_value(ItemStatus, "done")
_ANSWERED = sql_value(FeedbackRequestStatus, "answered")


def window(start: datetime | None, stop: datetime | None) -> tuple[datetime, datetime]:
    """``[from, to)``: defaults to the 90 days up to now; 422 unless ``to > from`` and the
    span is at most three years (1096 days)."""
    for value, name in ((start, "from"), (stop, "to")):
        if value is not None and not EARLIEST_YEAR <= value.year < LATEST_YEAR:
            raise ValidationFailed.field(
                f"/query/{name}",
                f"`{name}` must be from the year {EARLIEST_YEAR} up to (not including) "
                f"{LATEST_YEAR}, as every instant of the API.",
                "out_of_range",
            )
    stop = stop or utcnow()
    start = start or stop - timedelta(days=DEFAULT_DAYS)
    if stop <= start:
        raise ValidationFailed.field("/query/to", "`to` must be after `from`.", "empty_window")
    if stop - start > MAX_SPAN:
        raise ValidationFailed.field(
            "/query/from", "The window spans at most 1096 days (three years).", "window_too_long"
        )
    return start, stop


# A conversation's own date (ix_conversations_tenant_insight_date indexes it).
CONVERSATION_DATE = (
    "COALESCE({t}.completed_at, {t}.canceled_at, {t}.scheduled_start, {t}.created_at)"
)


def _month(at: str) -> str:
    return f"date_trunc('month', {at} AT TIME ZONE 'UTC')"


# Keys are compared and sorted by the statement many times: a uuid for a manager (the zero
# uuid for people without one), a timestamp for a month, byte-wise text for a kind.
_NO_MANAGER = "00000000-0000-0000-0000-000000000000"
_MANAGER_KEY = f"COALESCE(s.manager_id, '{_NO_MANAGER}'::uuid)"


# How each fact finds its group: the employee's direct manager (``s`` is the employee's
# scope row), the kind of its conversation (``k.kind``, joined per fact), its own month.
def _key(group_by: str, at: str) -> str:
    if group_by == "manager":
        return _MANAGER_KEY
    if group_by == "kind":
        return 'k.kind::text COLLATE "C"'
    if group_by == "month":
        return _month(at)
    if group_by == "competency":
        return "k.competency"
    return "'all'"


def _competency_join(group_by: str, table: str) -> str:
    """``group_by=competency``: a row per competency the goal or feedback names (``k``), the
    zero uuid for one that names none."""
    if group_by != "competency":
        return ""
    ids = f"{table}.competency_ids"
    return (
        f" CROSS JOIN LATERAL unnest(CASE WHEN cardinality({ids}) > 0 THEN {ids} "
        f"ELSE ARRAY['{_NO_MANAGER}'::uuid] END) k(competency)"
    )


def _kind_join(group_by: str, conversation_id: str) -> str:
    if group_by != "kind":
        return ""
    return f" JOIN conversations k ON k.id = {conversation_id}"


_WINDOW = "$2::timestamptz AS start, $3::timestamptz AS stop"


def _periods(group_by: str) -> str:
    """(key, kind, start, stop) of the employee figures: the window, per kind, per month."""
    if group_by == "kind":
        kinds = ", ".join(f"'{kind}'" for kind in KINDS)
        # B608: the kinds are ConversationKind's literals
        return (
            f'SELECT k COLLATE "C" AS key, k AS kind, {_WINDOW} '  # nosec B608
            f"FROM unnest(ARRAY[{kinds}]) k"
        )
    if group_by == "month":
        return (
            "SELECT m AS key, 'career'::text AS kind, "
            "greatest(m AT TIME ZONE 'UTC', $2) AS start, "
            "least((m + interval '1 month') AT TIME ZONE 'UTC', $3) AS stop "
            "FROM generate_series(date_trunc('month', $2 AT TIME ZONE 'UTC'), "
            "$3 AT TIME ZONE 'UTC', interval '1 month') m WHERE m AT TIME ZONE 'UTC' < $3"
        )
    return f"SELECT 'all'::text AS key, 'career'::text AS kind, {_WINDOW}"


def _ceil_day(at: str) -> str:
    """SQL: the first UTC day starting at or after ``at``."""
    return f"(({at} AT TIME ZONE 'UTC') + interval '1 day' - interval '1 microsecond')::date"


def _days(interval: str) -> str:
    return f"extract(epoch FROM {interval}) / 86400"


def statement(
    group_by: str,
    *,
    subtree: bool,
    scope_condition: str | None,
    feedback_condition: str | None = None,
    request_condition: str | None = None,
) -> str:
    """The one statement for ``group_by``: ``$1`` tenant, ``$2`` from, ``$3`` to, ``$4`` the
    manager (``subtree``), then the acting person (``scope_condition``; and the feedback
    and feedback requests they may see: ``feedback_condition`` on ``f``,
    ``request_condition`` on ``r``)."""
    fb_visible = "" if feedback_condition is None else f" AND {feedback_condition}"
    fr_visible = "" if request_condition is None else f" AND {request_condition}"
    scope = "t.tenant_id = $1"
    sub = ""
    if subtree:
        sub = (
            "sub(id) AS (SELECT r.id FROM people r WHERE r.tenant_id = $1 AND r.manager_id = $4 "
            "UNION SELECT r.id FROM people r JOIN sub ON r.manager_id = sub.id "
            "WHERE r.tenant_id = $1), "
        )
        scope += " AND t.id IN (SELECT id FROM sub)"
    if scope_condition is not None:
        scope += " AND " + scope_condition
    whole_tenant = not subtree and scope_condition is None and group_by != "manager"

    def join(column: str) -> str:
        """Facts of the population only (nothing to join when it is the whole tenant and
        the group is not the employee's manager)."""
        return "" if whole_tenant else f" JOIN scope s ON s.id = {column}"

    emp_key = _MANAGER_KEY if group_by == "manager" else "p.key"
    conv_at = CONVERSATION_DATE.replace("{t}", "c")
    keyed = group_by == "kind"
    agreed = (
        "CASE WHEN g.employee_agreed_at IS NOT NULL AND g.facilitator_agreed_at IS NOT NULL "
        "THEN greatest(g.employee_agreed_at, g.facilitator_agreed_at) END"
    )
    goal_kind = (
        " JOIN LATERAL (SELECT DISTINCT kc.kind FROM goal_conversations l JOIN conversations kc "
        "ON kc.id = l.conversation_id WHERE l.goal_id = g.id) k ON TRUE"
        if keyed
        else _competency_join(group_by, "g")
    )
    unions = " UNION ".join(
        # B608: the names of this statement's own CTEs
        f"SELECT key FROM {name}"  # nosec B608
        for name in ("emp", "conv", "goal", "fu", "ai", "fb", "fr")
    )
    if group_by in ("kind", "month"):
        # B608: constants of this module
        unions = "SELECT key FROM periods UNION " + unions  # nosec B608
    elif group_by == "none":
        unions = "SELECT 'all'::text AS key"
    elif group_by == "competency":
        # Every competency of the tenant, even without facts; the "none" key when it has some.
        unions = (
            "SELECT id AS key FROM competencies WHERE tenant_id = $1 "
            "UNION SELECT key FROM goal UNION SELECT key FROM fb"
        )
    label = "NULL::text"
    if group_by == "manager":
        label = "(SELECT m.name FROM people m WHERE m.tenant_id = $1 AND m.id = keys.key)"
    elif group_by == "competency":
        label = "(SELECT m.name FROM competencies m WHERE m.tenant_id = $1 AND m.id = keys.key)"
    named = group_by in ("manager", "competency")
    order = "label NULLS LAST, keys.key" if named else "keys.key"
    # B608: every piece is a constant of this module (keys, joins, checked status literals)
    # or the visibility rule's constant SQL; values are bound parameters.
    head = (
        f"WITH RECURSIVE {sub}"  # nosec B608
        "scope AS MATERIALIZED (SELECT t.id, t.manager_id, "
        f"(t.status = {_ACTIVE} AND t.erased_at IS NULL) AS active FROM people t WHERE {scope}), "
    )
    ctes: dict[str, str] = {
        "periods": (f"periods AS ({_periods(group_by)}), "),
        "emp": (
            # Each employee's last completed conversation (of the period's kind) before the
            # period's end: one probe of ix_conversations_completed_by_employee per employee.
            f"emp AS (SELECT {emp_key} AS key, count(*) AS employees, "  # nosec B608
            "count(*) FILTER (WHERE l.last >= p.start) AS covered, "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {_days('p.stop - l.last')}) "
            "AS days_since FROM scope s CROSS JOIN periods p "
            "LEFT JOIN LATERAL (SELECT max(c.completed_at) AS last "
            "FROM conversations c WHERE c.tenant_id = $1 AND c.employee_id = s.id "
            "AND c.kind = p.kind "
            f"AND c.status = {_C['completed']} AND c.completed_at < p.stop) l ON TRUE "
            "WHERE s.active GROUP BY 1), "
        ),
        "conv": (
            f"conv AS (SELECT {_key(group_by, 'd.at').replace('k.kind', 'c.kind')} AS key, "
            + ", ".join(
                f"count(*) FILTER (WHERE c.status = {_C[s]}) AS {s}"
                for s in get_args(ConversationStatus)
            )
            # B608: a checked status literal
            + f", count(*) FILTER (WHERE c.status = {_C['completed']} "  # nosec B608
            "AND c.employee_prepared_at <= c.scheduled_start "
            "AND c.facilitator_prepared_at <= c.scheduled_start) AS prepared, "
            f"count(*) FILTER (WHERE c.status <> {_C['draft']} AND c.reschedule_count > 0) "
            "AS rescheduled, percentile_cont(0.5) WITHIN GROUP "
            f"(ORDER BY {_days('c.scheduled_start - c.scheduled_at')}) AS lead_days "
            f"FROM conversations c{join('c.employee_id')} "
            f"CROSS JOIN LATERAL (SELECT {conv_at} AS at) d "
            f"WHERE c.tenant_id = $1 AND {conv_at} >= $2 AND {conv_at} < $3 GROUP BY 1), "
        ),
        "goal": (
            f"goal AS (SELECT {_key(group_by, 'e.at')} AS key, "  # nosec B608
            "count(*) FILTER (WHERE e.tag = 'proposed') AS proposed, "
            "count(*) FILTER (WHERE e.tag = 'proposed' AND a.agreed_at < $3) AS proposed_agreed, "
            "count(*) FILTER (WHERE e.tag = 'agreed') AS agreed, "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {_days('a.agreed_at - g.created_at')}) "
            "FILTER (WHERE e.tag = 'agreed') AS days_to_agreement, "
            "count(*) FILTER (WHERE e.tag = 'achieved') AS achieved "
            f"FROM goals g{join('g.owner_id')} "
            f"CROSS JOIN LATERAL (SELECT {agreed} AS agreed_at) a "
            "CROSS JOIN LATERAL (VALUES ('proposed', g.created_at), ('agreed', a.agreed_at), "
            f"('achieved', g.achieved_at)) e(tag, at){goal_kind} "
            "WHERE g.tenant_id = $1 AND (g.created_at >= $2 OR g.employee_agreed_at >= $2 "
            "OR g.facilitator_agreed_at >= $2 OR g.achieved_at >= $2) "
            "AND e.at >= $2 AND e.at < $3 GROUP BY 1), "
        ),
        "fu": (
            f"fu AS (SELECT {_key(group_by, 'f.due_at')} AS key, "  # nosec B608
            f"count(*) FILTER (WHERE f.status = {_FU_COMPLETED} AND f.completed_at < $3 "
            "AND f.completed_at <= f.due_at) AS on_time, "
            f"count(*) FILTER (WHERE f.status = {_FU_COMPLETED} AND f.completed_at < $3 "
            "AND f.completed_at > f.due_at) AS late, "
            f"count(*) FILTER (WHERE f.status = {_FU_PENDING} OR (f.status = {_FU_COMPLETED} "
            "AND f.completed_at >= $3)) AS overdue "
            "FROM follow_ups f"
            + (
                f" JOIN conversations fc ON fc.id = f.conversation_id{join('fc.employee_id')}"
                if join("x")
                else ""
            )
            # B608: a join of this module
            + f"{_kind_join(group_by, 'f.conversation_id')} "  # nosec B608
            "WHERE f.tenant_id = $1 AND f.due_at >= $2 AND f.due_at < $3 GROUP BY 1), "
        ),
        "ai": (
            f"ai AS (SELECT {_key(group_by, 'd.at')} AS key, "  # nosec B608
            "count(*) FILTER (WHERE i.assignee_id = ap.owner_id) AS employee_due, "
            "count(*) FILTER (WHERE i.assignee_id = ap.owner_id AND d.on_time) "
            "AS employee_on_time, "
            "count(*) FILTER (WHERE i.assignee_id <> ap.owner_id) AS manager_due, "
            "count(*) FILTER (WHERE i.assignee_id <> ap.owner_id AND d.on_time) AS manager_on_time "
            "FROM action_items i JOIN action_plans ap ON ap.id = i.plan_id "
            f"{join('ap.owner_id')}{_kind_join(group_by, 'ap.conversation_id')} "
            "CROSS JOIN LATERAL (SELECT i.due_date::timestamp AT TIME ZONE 'UTC' AS at, "
            f"(i.status = {_DONE} AND i.completed_at < $3 AND i.completed_at < "
            "(i.due_date + 1)::timestamp AT TIME ZONE 'UTC') AS on_time) d "
            # The due day's start (00:00 UTC) is in [from, to): the day is in [ceil(from),
            # ceil(to)), ceil rounding up to a day (an index range on the due days).
            f"WHERE i.tenant_id = $1 AND i.due_date >= {_ceil_day('$2')} "
            f"AND i.due_date < {_ceil_day('$3')} "
            "GROUP BY 1), "
        ),
        "fb": (
            f"fb AS (SELECT {_key(group_by, 'f.created_at')} AS key, count(*) AS given "  # nosec B608
            f"FROM feedback f{join('f.recipient_id')}"
            f"{_kind_join(group_by, 'f.conversation_id')}{_competency_join(group_by, 'f')} "
            "WHERE f.tenant_id = $1 AND f.created_at >= $2 AND f.created_at < $3"
            f"{fb_visible} GROUP BY 1), "
        ),
        "fr": (
            f"fr AS (SELECT {_key(group_by, 'e.at')} AS key, "  # nosec B608
            "count(*) FILTER (WHERE e.tag = 'asked') AS requests, "
            f"count(*) FILTER (WHERE e.tag = 'asked' AND r.status = {_ANSWERED} "
            "AND r.answered_at < $3) AS requests_answered, "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {_days('r.answered_at - r.created_at')}) "
            "FILTER (WHERE e.tag = 'answered') AS days_to_answer "
            f"FROM feedback_requests r{join('r.requester_id')}"
            f"{_kind_join(group_by, 'r.conversation_id')} "
            "CROSS JOIN LATERAL (VALUES ('asked', r.created_at), ('answered', "
            f"CASE WHEN r.status = {_ANSWERED} THEN r.answered_at END)) e(tag, at) "
            "WHERE r.tenant_id = $1 AND (r.created_at >= $2 OR r.answered_at >= $2) "
            f"AND e.at >= $2 AND e.at < $3{fr_visible} GROUP BY 1), "
        ),
    }
    used = _COMPETENCY_CTES if group_by == "competency" else tuple(ctes)
    columns = ", ".join(
        f"{name}.{column}{alias}"
        if name in used
        else f"NULL AS {alias.removeprefix(' AS ') or column}"
        for name, column, alias in _COLUMNS
    )
    joins = " ".join(f"LEFT JOIN {name} USING (key)" for name in used if name != "periods")
    return (
        head
        + "".join(ctes[name] for name in used)
        + f"keys AS ({unions}) "
        + f"SELECT keys.key, {label} AS label, {columns} FROM keys {joins} ORDER BY {order}"  # nosec B608
    )


# The answer row's columns: (CTE, column, alias).
_COLUMNS: tuple[tuple[str, str, str], ...] = (
    *(("emp", c, "") for c in ("employees", "covered", "days_since")),
    *(
        ("conv", c, "")
        for c in ("draft", "scheduled", "completed", "canceled", "prepared", "rescheduled")
    ),
    ("conv", "lead_days", ""),
    *(
        ("goal", c, "")
        for c in ("proposed", "proposed_agreed", "agreed", "days_to_agreement", "achieved")
    ),
    ("fu", "on_time", " AS fu_on_time"),
    ("fu", "late", " AS fu_late"),
    ("fu", "overdue", " AS fu_overdue"),
    *(
        ("ai", c, "")
        for c in ("employee_due", "employee_on_time", "manager_due", "manager_on_time")
    ),
    ("fb", "given", ""),
    *(("fr", c, "") for c in ("requests", "requests_answered", "days_to_answer")),
)
# group_by=competency: the figures of goals and feedback given only (the CTEs it computes).
_COMPETENCY_CTES = ("goal", "fb")


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _median(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _key_text(group_by: str, key: Any) -> str | None:
    if group_by in ("manager", "competency"):
        return None if str(key) == _NO_MANAGER else str(key)
    if group_by == "month":
        return str(key.strftime("%Y-%m"))
    return str(key)


def _blank(figures: dict[str, Any]) -> dict[str, Any]:
    """Every figure of ``figures`` (nested too) ``None``."""
    return {k: _blank(v) if isinstance(v, dict) else None for k, v in figures.items()}


# Not computed for group_by=competency: null (the goal figures and ``feedback.given`` are).
_NOT_BY_COMPETENCY = (
    "employees",
    "coverage",
    "median_days_since_last",
    "conversations",
    "preparation_rate",
    "reschedule_rate",
    "cancel_rate",
    "median_lead_days",
    "follow_ups",
    "action_items",
)
_FEEDBACK_NOT_BY_COMPETENCY = ("requests", "requests_answered_rate", "median_days_to_answer")


def _group(row: asyncpg.Record, group_by: str) -> dict[str, Any]:
    group = _figures(row, group_by)
    if group_by == "competency":
        for name in _NOT_BY_COMPETENCY:
            value = group[name]
            group[name] = _blank(value) if isinstance(value, dict) else None
        for name in _FEEDBACK_NOT_BY_COMPETENCY:
            group["feedback"][name] = None
    return group


def _figures(row: asyncpg.Record, group_by: str) -> dict[str, Any]:
    n = {k: (row[k] or 0) for k in row.keys() if k not in ("key", "label")}  # noqa: SIM118
    moved = n["scheduled"] + n["completed"] + n["canceled"]
    key = row["key"]
    return {
        "key": _key_text(group_by, key),
        "label": row["label"],
        "employees": n["employees"],
        "coverage": _rate(n["covered"], n["employees"]),
        "median_days_since_last": _median(row["days_since"]),
        "conversations": {
            "draft": n["draft"],
            "scheduled": n["scheduled"],
            "completed": n["completed"],
            "canceled": n["canceled"],
            "total": moved + n["draft"],
        },
        "preparation_rate": _rate(n["prepared"], n["completed"]),
        "reschedule_rate": _rate(n["rescheduled"], moved),
        "cancel_rate": _rate(n["canceled"], moved),
        "median_lead_days": _median(row["lead_days"]),
        "goals": {
            "proposed": n["proposed"],
            "agreed": n["agreed"],
            "agreement_rate": _rate(n["proposed_agreed"], n["proposed"]),
            "median_days_to_agreement": _median(row["days_to_agreement"]),
            "achieved": n["achieved"],
        },
        "follow_ups": {
            "completed_on_time": n["fu_on_time"],
            "completed_late": n["fu_late"],
            "open_overdue": n["fu_overdue"],
        },
        "action_items": {
            role: {
                "due": n[f"{role}_due"],
                "on_time": n[f"{role}_on_time"],
                "on_time_rate": _rate(n[f"{role}_on_time"], n[f"{role}_due"]),
            }
            for role in ("employee", "manager")
        },
        "feedback": {
            "given": n["given"],
            "requests": n["requests"],
            "requests_answered_rate": _rate(n["requests_answered"], n["requests"]),
            "median_days_to_answer": _median(row["days_to_answer"]),
        },
    }


def _rule_on(rule: visibility.Rule, mode: str, alias: str, person: str) -> str | None:
    """``rule``'s per-row condition with its table aliased ``alias`` (the rules say ``t``),
    for the person bound at ``person``; ``$1`` is the tenant."""
    condition = rule.condition(mode, one=True)
    if condition is None:
        return None
    return re.sub(r"\bt\.", f"{alias}.", condition.format(person, "$1"))


async def compute(
    db: RequestDb,
    principal: Principal,
    *,
    start: datetime | None,
    stop: datetime | None,
    manager_id: uuid.UUID | None,
    group_by: InsightsGroupBy,
) -> dict[str, Any]:
    """The insights answer as a dict, from one statement (plus a check of ``manager_id``)."""
    start, stop = window(start, stop)
    raw = await db.raw()
    params: list[Any] = [principal.tenant_id, start, stop]
    if manager_id is not None:
        if not await raw.fetchval(
            "SELECT EXISTS (SELECT 1 FROM people WHERE tenant_id = $1 AND id = $2)",
            principal.tenant_id,
            manager_id,
        ):
            raise ValidationFailed.field(
                "/query/manager_id",
                f"No person with id {manager_id} in this tenant.",
                "unknown_reference",
            )
        params.append(manager_id)
    condition = feedback = requests = None
    if principal.person_id is not None:
        params.append(principal.person_id)
        person = f"${len(params)}"
        # The per-row form (walks up from each person): the list form's recursive set sits
        # under an OR, where PostgreSQL may probe it linearly for every person.
        rule = visibility.INSIGHTS.condition(principal.reports, one=True)
        condition = None if rule is None else rule.format(person, "$1")
        # Within the population, only the feedback and requests the person may see.
        feedback = _rule_on(visibility.FEEDBACK, principal.reports, "f", person)
        requests = _rule_on(visibility.FEEDBACK_REQUESTS, principal.reports, "r", person)
    sql = statement(
        group_by,
        subtree=manager_id is not None,
        scope_condition=condition,
        feedback_condition=feedback,
        request_condition=requests,
    )
    rows = await raw.fetch(sql, *params)
    return {
        "from": start,
        "to": stop,
        "group_by": group_by,
        "groups": [_group(row, group_by) for row in rows],
    }


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, out)
    else:
        out[prefix] = value


def to_csv(answer: dict[str, Any]) -> str:
    """The groups as CSV: a header row, one row per group, nested figures as dotted names,
    ``null`` as an empty field."""
    rows = []
    for group in answer["groups"]:
        flat: dict[str, Any] = {}
        _flatten("", group, flat)
        rows.append(flat)
    header = list(rows[0]) if rows else list(_columns())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for flat in rows:
        writer.writerow(["" if flat[name] is None else flat[name] for name in header])
    return buffer.getvalue()


def _columns() -> dict[str, Any]:
    from app.schemas.insights import InsightsGroup

    flat: dict[str, Any] = {}

    def walk(prefix: str, model: Any) -> None:
        for name, info in model.model_fields.items():
            sub = info.annotation
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                walk(full, sub)
            else:
                flat[full] = None

    walk("", InsightsGroup)
    return flat
