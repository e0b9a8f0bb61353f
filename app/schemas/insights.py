"""Insights: aggregate figures over career conversations, goals and follow-through."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from app.schemas.common import ReadSchema

InsightsGroupBy = Literal["none", "manager", "kind", "month", "competency"]


class ConversationCounts(ReadSchema):
    """Conversations dated in the window, by their current status (each `null` for
    `group_by=competency`)."""

    draft: int | None = Field(examples=[1])
    scheduled: int | None = Field(examples=[3])
    completed: int | None = Field(examples=[12])
    canceled: int | None = Field(examples=[2])
    total: int | None = Field(examples=[18])


class GoalFigures(ReadSchema):
    """Goals owned by the group's employees."""

    proposed: int = Field(description="Goals created in the window.", examples=[8])
    agreed: int = Field(
        description="Goals whose agreement (the later of both parties' agreements) falls in "
        "the window.",
        examples=[5],
    )
    agreement_rate: float | None = Field(
        description="Of the goals proposed in the window, the share agreed before `to`.",
        examples=[0.625],
    )
    median_days_to_agreement: float | None = Field(
        description="Median of agreement - creation, in days, over the goals agreed in the window.",
        examples=[6.5],
    )
    achieved: int = Field(description="Goals achieved in the window.", examples=[2])


class FollowUpFigures(ReadSchema):
    """Follow-ups of the group's conversations due in the window (canceled ones left out;
    each figure `null` for `group_by=competency`)."""

    completed_on_time: int | None = Field(examples=[4])
    completed_late: int | None = Field(examples=[1])
    open_overdue: int | None = Field(
        description="Still pending at `to` (not completed before it).", examples=[2]
    )


class ActionItemRole(ReadSchema):
    """Action items of one assignee role due in the window (each figure `null` for
    `group_by=competency`)."""

    due: int | None = Field(description="Items with a `due_date` in the window.", examples=[10])
    on_time: int | None = Field(
        description="Of those, `done` with `completed_at` before the end of the due day "
        "(UTC) and before `to`.",
        examples=[7],
    )
    on_time_rate: float | None = Field(description="`on_time / due`.", examples=[0.7])


class ActionItemFigures(ReadSchema):
    """Action items on plans owned by the group's employees, split by assignee."""

    employee: ActionItemRole = Field(description="Assigned to the plan's owner (the employee).")
    manager: ActionItemRole = Field(
        description="Assigned to anyone else (the manager, facilitator or mentor)."
    )


class FeedbackFigures(ReadSchema):
    """Feedback received and asked for by the group's employees (for `group_by=competency`
    only `given`, the feedback naming the competency; the request figures are `null`)."""

    given: int = Field(
        description="Feedback given to the group's employees, created in the window.",
        examples=[9],
    )
    requests: int | None = Field(
        description="Feedback requests the group's employees made in the window "
        "(`null` for `group_by=competency`: requests name no competency).",
        examples=[4],
    )
    requests_answered_rate: float | None = Field(
        description="Of those requests, the share answered before `to`.", examples=[0.75]
    )
    median_days_to_answer: float | None = Field(
        description="Median of answer - request, in days, over requests answered in the window.",
        examples=[3.2],
    )


class InsightsGroup(ReadSchema):
    """The figures of one group (see the operation's description for every definition)."""

    key: str | None = Field(
        description="`all` (`group_by=none`); the direct manager's id (`null`: employees "
        "without a manager); the kind; the month `YYYY-MM` (UTC); the competency's id "
        "(`null`: goals and feedback naming no competency).",
        examples=["all"],
    )
    label: str | None = Field(
        description="The manager's name for `group_by=manager`, the competency's for "
        "`group_by=competency`; `null` otherwise (and for the `null` key).",
        examples=[None],
    )
    employees: int | None = Field(
        description="Active employees in the group (`null` for `group_by=competency`, like "
        "every employee, conversation, follow-up and action item figure).",
        examples=[20],
    )
    coverage: float | None = Field(
        description="Share of `employees` with a completed conversation (career, or the "
        "group's kind) in the window.",
        examples=[0.6],
    )
    median_days_since_last: float | None = Field(
        description="Median days from each employee's last completed conversation (before "
        "`to`, any date) to `to`; employees with none are left out.",
        examples=[41.5],
    )
    conversations: ConversationCounts
    preparation_rate: float | None = Field(
        description="Of the completed conversations, the share both parties prepared for "
        "at or before the start.",
        examples=[0.5],
    )
    reschedule_rate: float | None = Field(
        description="Of the scheduled, completed and canceled ones, the share moved at least once.",
        examples=[0.1111],
    )
    cancel_rate: float | None = Field(
        description="Of the scheduled, completed and canceled ones, the share canceled.",
        examples=[0.1176],
    )
    median_lead_days: float | None = Field(
        description="Median of start - the moment it was scheduled, in days.", examples=[9.0]
    )
    goals: GoalFigures
    follow_ups: FollowUpFigures
    action_items: ActionItemFigures
    feedback: FeedbackFigures


class InsightsRead(ReadSchema):
    """Insights over a window, one entry of `groups` per group."""

    from_: datetime = Field(alias="from", examples=["2026-09-02T00:00:00Z"])
    to: datetime = Field(examples=["2026-12-01T00:00:00Z"])
    group_by: InsightsGroupBy = Field(examples=["none"])
    groups: list[InsightsGroup]
