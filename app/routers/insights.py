"""Insights: aggregate figures over career conversations, goals and follow-through."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Header, Query, Response

from app.core.auth import ReadKey
from app.core.deps import Db
from app.core.rows import json_response
from app.routers.base import api_router
from app.schemas.common import Instant
from app.schemas.insights import InsightsGroupBy, InsightsRead
from app.services import insights as service

router = api_router(prefix="/v1/insights", tags=["insights"])

CSV_MEDIA_TYPE = "text/csv"
_CSV_EXAMPLE = (
    "key,label,employees,coverage,median_days_since_last,conversations.draft,"
    "conversations.scheduled,conversations.completed,conversations.canceled,"
    "conversations.total,preparation_rate,reschedule_rate,cancel_rate,median_lead_days,"
    "goals.proposed,goals.agreed,goals.agreement_rate,goals.median_days_to_agreement,"
    "goals.achieved,follow_ups.completed_on_time,follow_ups.completed_late,"
    "follow_ups.open_overdue,action_items.employee.due,action_items.employee.on_time,"
    "action_items.employee.on_time_rate,action_items.manager.due,"
    "action_items.manager.on_time,action_items.manager.on_time_rate,feedback.given,"
    "feedback.requests,feedback.requests_answered_rate,feedback.median_days_to_answer\r\n"
    "all,,20,0.6,41.5,1,3,12,2,18,0.5,0.1111,0.1176,9.0,8,5,0.625,6.5,2,4,1,2,10,7,0.7,"
    "6,3,0.5,9,4,0.75,3.2\r\n"
)

DESCRIPTION = """Aggregate figures over a window `[from, to)` (`from` inclusive, `to` exclusive;
default: the 90 days up to now; `to` must be after `from` and at most 1096 days later, else
422). The population is the people of the tenant, or with `manager_id` everyone below that
manager (all levels, through `manager_id`, the manager excluded); acting for a person
(`Acting-Person`) only that person and the people they manage (per `managers_see_reports`),
as for a person's cadence, and of their feedback and feedback requests only those the
person may read. Computed in one SQL statement of aggregates.

Every fact counts when its own date is in the window, and `group_by=month` groups it by the
UTC month of that date: a conversation's date is its `completed_at`, else `canceled_at`,
else `scheduled_start`, else `created_at`.

- `employees`: active, not erased people of the group
- `coverage`: employees with a completed conversation (career; the group's kind for
  `group_by=kind`) whose `completed_at` is in the window (month ∩ window for `month`) ÷
  `employees`
- `median_days_since_last`: median over employees of (`to` - their last completed such
  conversation before `to`, any date) in days; `to` is the month's end for `month`;
  employees with none are left out
- `conversations.<status>`: the group's conversations dated in the window by current status;
  `total` their sum
- `preparation_rate`: completed ones where both `employee_prepared_at` and
  `facilitator_prepared_at` are at or before `scheduled_start` ÷ `completed`
- `reschedule_rate`: those with `reschedule_count > 0` among scheduled + completed +
  canceled ÷ (scheduled + completed + canceled)
- `cancel_rate`: `canceled` ÷ (scheduled + completed + canceled)
- `median_lead_days`: median of `scheduled_start` - the moment it was scheduled (`draft →
  scheduled`), in days
- `goals.proposed`: goals created in the window
- `goals.agreed`: goals whose agreement (the later of both parties' agreements) is in the
  window
- `goals.agreement_rate`: goals proposed in the window and agreed before `to` ÷
  `goals.proposed`
- `goals.median_days_to_agreement`: median of agreement - `created_at` in days, goals agreed
  in the window
- `goals.achieved`: goals whose `achieved_at` is in the window
- `follow_ups.*`: follow-ups of the group's conversations due (`due_at`) in the window,
  canceled ones left out: `completed_on_time` (completed before `to`, at or before
  `due_at`), `completed_late` (completed before `to`, after `due_at`), `open_overdue` (not
  completed before `to`)
- `action_items.employee` / `.manager`: items with a `due_date` in the window on plans the
  group's employees own, assigned to the owner (`employee`) or to anyone else (`manager`):
  `due`, `on_time` (`done`, `completed_at` before the end of the due day in UTC and before
  `to`), `on_time_rate` = `on_time` ÷ `due`
- `feedback.given`: feedback received by the group's employees, created in the window
- `feedback.requests`: feedback requests the group's employees made in the window
- `feedback.requests_answered_rate`: those answered before `to` ÷ `feedback.requests`
- `feedback.median_days_to_answer`: median of `answered_at` - `created_at` in days, requests
  answered in the window

Rates are rounded to 4 decimals and `null` when their denominator is 0; medians (days) are
rounded to 2 decimals and `null` when there is nothing to take the median of.

Groups: `none` one group, key `all`; `kind` the four kinds, always, in that order (facts
without a conversation — goals not linked to one, action items on a plan without one,
feedback without one — are left out; a goal linked to conversations of two kinds counts in
both); `month` every month the window touches, oldest first, even when empty; `manager` the
employee's (owner's, recipient's, requester's) direct manager today, by name: a manager
appears when one of their reports is in the population and active, or has a fact in the
window; key `null` for people without a manager.
`competency` every competency of the tenant, by name, even empty, then key `null` (the goals
and feedback naming no competency, when there are any): a goal or a piece of feedback naming
several competencies counts in each of their groups. These groups have the goal figures and
`feedback.given` only (the goals owned by, the feedback given to, the population, keyed by
their `competency_ids`); every employee, conversation, follow-up, action item and feedback
request figure is `null` there (they name no competency).

With `Accept: text/csv` the same groups come as CSV: a header row, one row per group,
nested figures as dotted names (`goals.agreement_rate`), `null` as an empty field."""


@router.get(
    "/career-conversations",
    operation_id="get_career_conversation_insights",
    summary="Get career conversation insights",
    description=DESCRIPTION,
    response_model=InsightsRead,
    responses={
        200: {
            "description": "The figures per group (JSON), or as CSV with `Accept: text/csv`.",
            "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}},
        }
    },
)
async def get_career_conversation_insights(
    principal: ReadKey,
    db: Db,
    from_: Annotated[
        Instant | None,
        Query(alias="from", description="Start of the window (inclusive); default `to` - 90 days."),
    ] = None,
    to: Annotated[
        Instant | None, Query(description="End of the window (exclusive); default now.")
    ] = None,
    manager_id: Annotated[
        uuid.UUID | None,
        Query(description="Only this manager's reporting subtree (all levels, not the manager)."),
    ] = None,
    group_by: Annotated[InsightsGroupBy, Query(description="How to group the figures.")] = "none",
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Retention signals per group: coverage, preparation, follow-through, goals, feedback."""
    answer = await service.compute(
        db, principal, start=from_, stop=to, manager_id=manager_id, group_by=group_by
    )
    if accept is not None and CSV_MEDIA_TYPE in accept.lower():
        return Response(service.to_csv(answer), media_type=CSV_MEDIA_TYPE)
    return json_response(answer)
