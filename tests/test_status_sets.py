"""One source for each status set: the model module's ``Literal`` feeds the table's CHECK
constraint, the API schema and the scheduler's rules."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import sqlalchemy as sa

from app.background import scheduler
from app.core.event_types import EVENT_TYPES
from app.models import action_plan, conversation, feedback, follow_up, goal, mentorship, person
from app.models import webhook as webhook_model
from app.models.base import sql_in, sql_value
from app.schemas import action_plans, conversations, follow_ups, goals, mentorships, people
from app.schemas import feedback as feedback_schemas
from app.schemas import webhooks as webhook_schemas

SETS = [
    (person.Person, person.PersonStatus, people.PersonStatus, ("active", "inactive")),
    (
        conversation.Conversation,
        conversation.ConversationStatus,
        conversations.ConversationStatus,
        ("draft", "scheduled", "completed", "canceled"),
    ),
    (
        follow_up.FollowUp,
        follow_up.FollowUpStatus,
        follow_ups.FollowUpStatus,
        ("pending", "completed", "canceled"),
    ),
    (
        goal.Goal,
        goal.GoalStatus,
        goals.GoalStatus,
        ("proposed", "agreed", "in_progress", "achieved", "abandoned"),
    ),
    (
        action_plan.ActionPlan,
        action_plan.PlanStatus,
        action_plans.PlanStatus,
        ("active", "completed", "archived"),
    ),
    (
        action_plan.ActionItem,
        action_plan.ItemStatus,
        action_plans.ItemStatus,
        ("todo", "in_progress", "done", "blocked"),
    ),
    (
        feedback.FeedbackRequest,
        feedback.FeedbackRequestStatus,
        feedback_schemas.FeedbackRequestStatus,
        ("open", "answered", "declined", "expired"),
    ),
    (
        mentorship.Mentorship,
        mentorship.MentorshipStatus,
        mentorships.MentorshipStatus,
        ("active", "ended"),
    ),
    (
        webhook_model.WebhookDelivery,
        webhook_model.DeliveryStatus,
        webhook_schemas.DeliveryStatus,
        ("pending", "succeeded", "failed"),
    ),
]


@pytest.mark.parametrize(("model", "statuses", "schema_statuses", "values"), SETS)
def test_the_check_constraint_and_the_schema_use_the_model_status_set(
    model: Any, statuses: Any, schema_statuses: Any, values: tuple[str, ...]
) -> None:
    assert schema_statuses is statuses
    assert get_args(statuses) == values
    table: sa.Table = model.__table__
    checks = {
        c.name: str(c.sqltext) for c in table.constraints if isinstance(c, sa.CheckConstraint)
    }
    quoted = ", ".join(f"'{value}'" for value in values)
    assert checks[f"ck_{table.name}_status"] == f"status IN ({quoted})"


def test_sql_helpers_refuse_a_value_outside_the_set() -> None:
    assert sql_value(follow_up.FollowUpStatus, "pending") == "'pending'"
    assert sql_in("f.status", follow_up.FollowUpStatus, "pending", "canceled") == (
        "f.status IN ('pending', 'canceled')"
    )
    with pytest.raises(AssertionError):
        sql_value(follow_up.FollowUpStatus, "done")
    with pytest.raises(AssertionError):
        sql_in("status", follow_up.FollowUpStatus, "pending", "overdue")


def test_the_scheduler_runs_every_domain_rule_once() -> None:
    assert [rule.type for rule in scheduler.RULES] == [
        "follow_up.reminder",
        "follow_up.due",
        "follow_up.overdue",
        "conversation.reminder",
        "conversation.preparation_revealed",
        "action_item.overdue",
        "feedback_request.expired",
        # One pair per conversation kind (each kind's cadence is its own SLA).
        *["cadence.due_soon", "cadence.breached"] * 4,
    ]
    assert {rule.type for rule in scheduler.RULES} <= set(EVENT_TYPES)
