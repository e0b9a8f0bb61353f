"""Who sees what, and who may change it, when a key acts for a person (one place).

A key without ``Acting-Person`` acts as the platform and sees every row of its tenant
(except private notes and sealed agenda items, which only their author sees). With it, each
resource's rows are filtered by the ``Rule`` below, in SQL over the alias ``t``: ``{0}`` is
the acting person, ``{1}`` the tenant. ``openapi.md`` ("Who sees what") is this module as a
table; keep them together.

The management chain of an employee follows the tenant setting ``managers_see_reports``:
``none``, the ``direct`` manager, or every manager above them (``chain``, the default).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound, NotPermitted, ValidationFailed
from app.core.keycache import Principal
from app.core.sql import Where
from app.models.base import sql_value
from app.models.mentorship import MentorshipStatus

# The people whose management chain (per the setting) includes ``{0}``.
_REPORTS = {
    "direct": "(SELECT r.id FROM people r WHERE r.tenant_id = {1} AND r.manager_id = {0})",
    "chain": (
        "(WITH RECURSIVE down(id) AS (SELECT r.id FROM people r WHERE r.tenant_id = {1} "
        "AND r.manager_id = {0} UNION SELECT r.id FROM people r JOIN down ON r.manager_id = "
        "down.id WHERE r.tenant_id = {1}) SELECT id FROM down)"
    ),
}


# The same test walking up from one person (``{column}``) to the top of their chain: cheaper
# when only a row or two is checked (a GET one, a write's visibility check) than listing
# everyone under the acting person, which a page's filter probes once per row.
_MANAGERS_OF = {
    "direct": (
        "EXISTS (SELECT 1 FROM people r WHERE r.tenant_id = {{1}} AND r.id = {column} "
        "AND r.manager_id = {{0}})"
    ),
    "chain": (
        "EXISTS (WITH RECURSIVE up(id) AS (SELECT r.manager_id FROM people r WHERE "
        "r.tenant_id = {{1}} AND r.id = {column} UNION SELECT r.manager_id FROM people r "
        "JOIN up ON r.id = up.id WHERE r.tenant_id = {{1}}) SELECT 1 FROM up WHERE up.id = {{0}})"
    ),
}


def reports_of(column: str, mode: str, *, one: bool = False) -> str:
    """``column`` names someone the acting person manages (per ``managers_see_reports``);
    ``one``: the form for a single row (walks up from ``column``)."""
    if one:
        managers = _MANAGERS_OF.get(mode)
        return "FALSE" if managers is None else managers.format(column=column)
    reports = _REPORTS.get(mode)
    return "FALSE" if reports is None else f"{column} IN {reports}"


@dataclass(frozen=True)
class Rule:
    """Who sees a row of ``table`` (alias ``t``): ``sql`` with ``{reports:<column>}`` for
    "the acting person manages <column>". ``None`` means everyone in the tenant."""

    table: str
    sql: str | None
    _cache: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def condition(self, mode: str, *, one: bool = False) -> str | None:
        """The SQL condition for a tenant whose setting is ``mode`` (built once per mode);
        ``one``: the form for checking a single row (see ``reports_of``)."""
        if self.sql is None:
            return None
        key = mode + ":one" if one else mode
        built = self._cache.get(key)
        if built is None:
            built = _expand(self.sql, mode, one=one)
            self._cache[key] = built
        return built

    def add_to(self, where: Where, principal: Principal, *, one: bool = False) -> Where:
        """Add this rule for the acting person (nothing for the platform); ``one``: the
        statement reads a single row by id."""
        if principal.person_id is not None:
            condition = self.condition(principal.reports, one=one)
            if condition is not None:
                # Only the placeholders the condition uses (setting ``none`` may drop {1}):
                # asyncpg refuses a parameter the statement does not use.
                values = (principal.person_id, principal.tenant_id)
                where.add(condition, *values[: 2 if "{1}" in condition else 1])
        return where


def _expand(sql: str, mode: str, *, one: bool = False) -> str:
    out, rest = [], sql
    while "{reports:" in rest:
        head, _, tail = rest.partition("{reports:")
        column, _, rest = tail.partition("}")
        out.append(head + reports_of(column, mode, one=one))
    out.append(rest)
    return "(" + "".join(out) + ")"


_ACTIVE = sql_value(MentorshipStatus, "active")

# A conversation: its parties, the employee's managers, a mentor of the employee for a
# mentorship conversation. Its agenda, shared notes and reschedules follow it.
CONVERSATIONS = Rule(
    "conversations",
    # B608: a constant of this module (the status is a checked literal)
    "t.employee_id = {0} OR t.facilitator_id = {0} OR {reports:t.employee_id} OR "  # nosec B608
    "(t.kind = 'mentorship' AND t.employee_id IN (SELECT m.mentee_id FROM mentorships m "
    f"WHERE m.tenant_id = {{1}} AND m.mentor_id = {{0}} AND m.status = {_ACTIVE}))",
)
# Goals: the owner, the owner's managers, the facilitator who agreed, the facilitator of a
# linked conversation, the owner's mentor in an active mentorship.
GOALS = Rule(
    "goals",
    # B608: a constant of this module (the status is a checked literal)
    "t.owner_id = {0} OR t.facilitator_agreed_by = {0} OR {reports:t.owner_id} OR "  # nosec B608
    "t.id IN (SELECT l.goal_id FROM goal_conversations l JOIN conversations c ON "
    "c.id = l.conversation_id WHERE l.tenant_id = {1} AND c.facilitator_id = {0}) OR "
    "t.owner_id IN (SELECT m.mentee_id FROM mentorships m WHERE m.tenant_id = {1} "
    f"AND m.mentor_id = {{0}} AND m.status = {_ACTIVE})",
)
# Action plans: the owner, the owner's managers, the facilitator of its conversation or
# the one who agreed its goal, and whoever one of its items is assigned to.
ACTION_PLANS = Rule(
    "action_plans",
    "t.owner_id = {0} OR {reports:t.owner_id} OR t.conversation_id IN (SELECT c.id FROM "
    "conversations c WHERE c.tenant_id = {1} AND c.facilitator_id = {0}) OR t.goal_id IN "
    "(SELECT g.id FROM goals g WHERE g.tenant_id = {1} AND g.facilitator_agreed_by = {0}) "
    "OR t.id IN (SELECT i.plan_id FROM action_items i WHERE i.tenant_id = {1} "
    "AND i.assignee_id = {0})",
)
# Action items: whoever sees their plan (its assignees included).
ACTION_ITEMS = Rule(
    "action_items",
    # B608: constants of this module
    "t.plan_id IN (SELECT t.id FROM action_plans t WHERE t.tenant_id = {1} AND ("  # nosec B608
    + str(ACTION_PLANS.sql)
    + "))",
)
# Conversation series: whoever would see its conversations (the same shape as
# CONVERSATIONS over the series' employee, facilitator and kind).
SERIES = Rule("conversation_series", CONVERSATIONS.sql)
# Feedback: giver, recipient, and the recipient's manager when its visibility says so.
FEEDBACK = Rule(
    "feedback",
    "t.giver_id = {0} OR t.recipient_id = {0} OR (t.visibility = 'recipient_and_manager' "
    "AND t.recipient_id IN (SELECT r.id FROM people r WHERE r.tenant_id = {1} "
    "AND r.manager_id = {0}))",
)
# Feedback requests: the requester (who the feedback is about) and the responder.
FEEDBACK_REQUESTS = Rule("feedback_requests", "t.requester_id = {0} OR t.responder_id = {0}")
# Follow-ups: the conversation's parties and the assignee.
FOLLOW_UPS = Rule(
    "follow_ups",
    "t.assignee_id = {0} OR t.conversation_id IN (SELECT c.id FROM conversations c "
    "WHERE c.tenant_id = {1} AND (c.employee_id = {0} OR c.facilitator_id = {0}))",
)
# Mentorships: mentor, mentee and the mentee's managers.
MENTORSHIPS = Rule("mentorships", "t.mentor_id = {0} OR t.mentee_id = {0} OR {reports:t.mentee_id}")
# People: a directory everyone in the tenant sees (``metadata`` and ``external_id`` only
# the platform: ``people.PUBLIC``).
PEOPLE = Rule("people", None)
# A person's cadence (``GET /v1/people/{id}/cadence``, ``cadence.*`` events, whose subject
# is the person): whoever sees the person's conversations as such — the person and their
# managers (per setting); a mentor sees only the mentorship ones, so not the cadence.
CADENCE = Rule("people", "t.id = {0} OR {reports:t.id}")
# Expectations alignment (a person's aspiration and assessment versions, their alignment):
# the person and their managers (per setting), like the cadence. A mentor may write an
# assessment (``may_assess``) but does not read them back.
EXPECTATIONS = Rule("people", "t.id = {0} OR {reports:t.id}")
ASPIRATIONS = Rule("aspirations", "t.person_id = {0} OR {reports:t.person_id}")
ASSESSMENTS = Rule("assessments", "t.person_id = {0} OR {reports:t.person_id}")
ALIGNMENTS = Rule("alignments", "t.person_id = {0} OR {reports:t.person_id}")
# Insights (``GET /v1/insights/career-conversations``): aggregates over the people (alias
# ``t`` over ``people``) the acting person sees as a cadence: themselves and the people
# they manage (per setting). A mentor's or a colleague's figures are not theirs to see.
# Within it, feedback and feedback requests count only under ``FEEDBACK`` and
# ``FEEDBACK_REQUESTS`` (``insights.compute``).
INSIGHTS = Rule("people", CADENCE.sql)
# Agenda templates are tenant configuration: everyone in the tenant reads them (writes are
# the platform's: their routes take platform keys).
AGENDA_TEMPLATES = Rule("agenda_templates", None)
# The career framework (competencies, career tracks and their levels) is tenant
# configuration too: everyone in the tenant reads it, only the platform writes it.
COMPETENCIES = Rule("competencies", None)
CAREER_TRACKS = Rule("career_tracks", None)
# SCIM users (/scim/v2, app/routers/scim.py): the platform only, no rule. Their routes take
# ``ApiKey("scim", platform_only=True)``: a key acting for a person is refused (403).
# Exports of a person's data (GDPR art. 15): the person they are about (and the platform).
EXPORTS = Rule("export_jobs", "t.person_id = {0}")


# Notes and agenda items, within a visible conversation: shared ones, and the acting
# person's own private notes or sealed items. The platform sees the shared ones only.
def authored(alias: str, person: str) -> str:
    """SQL: ``alias``'s row (a note or agenda item) is shared or written by ``person`` (an
    SQL expression; NULL, the platform, sees the shared ones only)."""
    return f"({alias}.visibility = 'shared' OR {alias}.author_id = {person})"


AUTHORED = authored("t", "{0}")


def seen_agenda(conversation: str, viewer: str) -> str:
    """SQL: the agenda items of ``conversation`` (an id expression) that ``viewer`` sees
    (``authored``), as an array of rows in agenda order."""
    return (
        # B608: the expressions are constants of ours (column names, ``{viewer}`` marks)
        "ARRAY(SELECT a FROM agenda_items a WHERE a.conversation_id = "  # nosec B608
        f"{conversation} AND {authored('a', viewer)} ORDER BY a.position, a.id)"
    )


# Within a conversation the acting person sees (``t`` a row of a conversation's child table).
_IN_VISIBLE_CONVERSATION = (
    # B608: constants of this module
    "t.conversation_id IN (SELECT t.id FROM conversations t WHERE t.tenant_id = {1} AND ("  # nosec B608
    + str(CONVERSATIONS.sql)
    + "))"
)

# Events: whoever sees their subject now, by ``subject_type`` (reschedules are conversation
# events). An agenda item by its conversation and its own sealing; a note by its
# conversation, and only while it is shared (an event about a private note: the platform
# only). A subject type not listed here (``webhook_endpoint``) or a deleted subject: the
# platform only. Person events are a directory's: everyone sees them (``data`` redacted).
EVENT_SUBJECTS: dict[str, Rule] = {
    "person": PEOPLE,
    "cadence": CADENCE,
    "mentorship": MENTORSHIPS,
    "conversation": CONVERSATIONS,
    "agenda_item": Rule("agenda_items", AUTHORED + " AND " + _IN_VISIBLE_CONVERSATION),
    "note": Rule("conversation_notes", "t.visibility = 'shared' AND " + _IN_VISIBLE_CONVERSATION),
    "goal": GOALS,
    "action_plan": ACTION_PLANS,
    "action_item": ACTION_ITEMS,
    "feedback": FEEDBACK,
    "feedback_request": FEEDBACK_REQUESTS,
    "follow_up": FOLLOW_UPS,
    "aspiration": ASPIRATIONS,
    "assessment": ASSESSMENTS,
    "alignment": ALIGNMENTS,
    "competency": COMPETENCIES,
    "career_track": CAREER_TRACKS,
}
_EVENTS_CONDITION: dict[str, str] = {}


def events_condition(mode: str, *, one: bool = False) -> str:
    """SQL over the alias ``e`` (events): the acting person ``{0}`` sees the event's subject
    now (built once per ``managers_see_reports`` mode). One ``EXISTS`` per event row, chosen
    by its subject type, each an index lookup of the subject by id."""
    key = mode + ":one" if one else mode
    built = _EVENTS_CONDITION.get(key)
    if built is None:
        whens = []
        for subject, rule in EVENT_SUBJECTS.items():
            condition = rule.condition(mode, one=one)
            also = "" if condition is None else f" AND {condition}"
            # OFFSET 0 keeps each EXISTS a lookup of one subject by its primary key: without
            # it PostgreSQL may hash every row of the subject's table the person sees (all
            # their conversations, say) before returning the first event.
            whens.append(
                # B608: table names, subject types and conditions are constants of this module
                f"WHEN '{subject}' THEN EXISTS (SELECT 1 FROM {rule.table} t "  # nosec B608
                f"WHERE t.id = e.subject_id AND t.tenant_id = e.tenant_id{also} OFFSET 0)"
            )
        built = "(CASE e.subject_type " + " ".join(whens) + " ELSE FALSE END)"
        _EVENTS_CONDITION[key] = built
    return built


def add_events_rule(where: Where, principal: Principal, *, one: bool = False) -> str:
    """Only events whose subject the acting person sees (nothing for the platform): returns
    `` AND <the condition>`` as added, with its placeholders, to reuse in the same statement
    (empty for the platform)."""
    if principal.person_id is None:
        return ""
    condition = events_condition(principal.reports, one=one)
    marks = [where.arg(principal.person_id)]
    if "{1}" in condition:
        marks.append(where.arg(principal.tenant_id))
    condition = condition.format(*marks)
    where.clauses.append(condition)
    return " AND " + condition


@cache
def _exists_sql(table: str, condition: str) -> str:
    # B608: the table and condition are constants of this module
    return (
        f"SELECT EXISTS (SELECT 1 FROM {table} t "  # nosec B608
        f"WHERE t.id = $3 AND t.tenant_id = $2 AND {condition})"
    )


async def sees(raw: asyncpg.Connection, principal: Principal, rule: Rule, ident: uuid.UUID) -> bool:
    """Whether the acting person sees the row ``ident`` (the platform sees every row)."""
    if principal.person_id is None:
        return True
    condition = rule.condition(principal.reports, one=True)
    if condition is None:
        return True
    sql = _exists_sql(rule.table, condition.format("$1", "$2"))
    return bool(await raw.fetchval(sql, principal.person_id, principal.tenant_id, ident))


async def session_raw(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session (same transaction)."""
    pooled = await (await session.connection()).get_raw_connection()
    raw = pooled.driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


async def require_visible(
    session: AsyncSession, principal: Principal, rule: Rule, ident: uuid.UUID, label: str
) -> None:
    """404, exactly like a missing row, unless the acting person sees ``ident``."""
    if principal.person_id is not None and not await sees(
        await session_raw(session), principal, rule, ident
    ):
        raise NotFound(f"No {label} with id {ident}.")


async def check_visible_reference(
    session: AsyncSession,
    principal: Principal,
    rule: Rule,
    ident: uuid.UUID | None,
    pointer: str,
    label: str,
) -> None:
    """A body's reference to a row the acting person does not see is a 422 on ``pointer``,
    exactly like an unknown id (call it after ``check_reference``)."""
    if ident is None or principal.person_id is None:
        return
    if not await sees(await session_raw(session), principal, rule, ident):
        raise ValidationFailed.field(
            pointer, f"No {label} with id {ident} in this tenant.", "unknown_reference"
        )


def permit(principal: Principal, allowed: Iterable[uuid.UUID | None], detail: str) -> None:
    """403 ``not_permitted`` unless the platform acts or the acting person is one of
    ``allowed``. Call it after the row is known visible, before any state rule."""
    person = principal.person_id
    if person is not None and person not in set(allowed):
        raise NotPermitted(detail)


async def manages(session: AsyncSession, principal: Principal, employee_id: uuid.UUID) -> bool:
    """Whether the acting person is in ``employee_id``'s management chain (per setting)."""
    if principal.person_id is None:
        return False
    return await manages_raw(await session_raw(session), principal, employee_id)


async def manages_raw(
    raw: asyncpg.Connection, principal: Principal, employee_id: uuid.UUID
) -> bool:
    """``manages`` on a raw connection (the hot conversation create)."""
    person = principal.person_id
    if person is None:
        return False
    condition = reports_of("$3", principal.reports, one=True)
    if condition == "FALSE":
        return False
    return bool(
        await raw.fetchval(
            "SELECT " + condition.format("$1", "$2"),
            person,
            principal.tenant_id,
            employee_id,
        )
    )


async def permit_or_manager(
    session: AsyncSession,
    principal: Principal,
    allowed: Iterable[uuid.UUID | None],
    employee_id: uuid.UUID,
    detail: str,
) -> None:
    """Like ``permit``, and a manager of ``employee_id`` (per setting) is allowed too."""
    person = principal.person_id
    if person is None or person in set(allowed):
        return
    if not await manages(session, principal, employee_id):
        raise NotPermitted(detail)


@cache
def _visible_sql(table: str, condition: str) -> str:
    # B608: the table and condition are constants of this module
    return (
        f"SELECT t.id FROM {table} t WHERE t.id = ANY($3::uuid[]) "  # nosec B608
        f"AND t.tenant_id = $2 AND {condition}"
    )


async def visible_among(
    session: AsyncSession, principal: Principal, rule: Rule, ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``ids`` the acting person sees, in one statement (all of them for the
    platform; ids of missing rows are left out only when a person acts)."""
    wanted = set(ids)
    if principal.person_id is None or not wanted:
        return wanted
    condition = rule.condition(principal.reports)
    if condition is None:
        return wanted
    sql = _visible_sql(rule.table, condition.format("$1", "$2"))
    rows = await (await session_raw(session)).fetch(
        sql, principal.person_id, principal.tenant_id, list(wanted)
    )
    return {row["id"] for row in rows}


_MAY_ASSESS = (
    # B608: the status is a checked literal
    "SELECT EXISTS (WITH RECURSIVE up(id) AS (SELECT r.manager_id FROM people r "  # nosec B608
    "WHERE r.tenant_id = $1 AND r.id = $2 UNION SELECT r.manager_id FROM people r "
    "JOIN up ON r.id = up.id WHERE r.tenant_id = $1) SELECT 1 FROM up WHERE up.id = $3) "
    "OR EXISTS (SELECT 1 FROM mentorships m WHERE m.tenant_id = $1 AND m.mentee_id = $2 "
    f"AND m.mentor_id = $3 AND m.status = {_ACTIVE})"
)


async def may_assess(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, assessor_id: uuid.UUID
) -> bool:
    """Whether ``assessor_id`` may assess ``person_id``: a manager anywhere up the person's
    chain (whatever ``managers_see_reports`` says) or their mentor in an active mentorship."""
    raw = await session_raw(session)
    return bool(await raw.fetchval(_MAY_ASSESS, tenant_id, person_id, assessor_id))
