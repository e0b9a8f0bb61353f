"""Expectations alignment: the employee's aspiration, a facilitator's assessment (each
versioned) and the alignment between their current versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from app.models.alignment import AlignmentStatus as AlignmentStatus
from app.models.alignment import Difference as Difference
from app.models.alignment import Mobility as Mobility
from app.models.alignment import Readiness as Readiness
from app.schemas.common import EXAMPLE_MANAGER_ID, ReadSchema, WriteSchema

MAX_LIST_ITEMS = 20

Role = Annotated[str, Field(min_length=1, max_length=200)]
Level = Annotated[str, Field(min_length=1, max_length=100)]
LongText = Annotated[str, Field(max_length=4_000)]
Entry = Annotated[str, Field(min_length=1, max_length=200)]
Entries = Annotated[list[Entry], Field(max_length=MAX_LIST_ITEMS)]


class AspirationPut(WriteSchema):
    """The employee's own view: where they want to go, and when."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target_role": "Staff Engineer",
                    "target_level": "L6",
                    "horizon_months": 18,
                    "mobility": "department",
                    "wants_to_learn": ["System design", "Mentoring"],
                    "notes": "Happy to move team for the right scope.",
                }
            ]
        }
    )

    target_role: Role = Field(
        description="The role they aim for (compared case- and space-insensitively)."
    )
    target_level: Level | None = Field(default=None, description="A free level label, e.g. `L6`.")
    track_level_id: uuid.UUID | None = Field(
        default=None,
        description="The career track level aimed at: the id of a level of one of the "
        "tenant's career tracks (422 `unknown_reference` otherwise). When the assessment "
        "names a level too, alignment compares the level ids instead of the free-text levels.",
    )
    horizon_months: int = Field(ge=1, le=120, description="When they want to get there, in months.")
    mobility: Mobility = Field(default="none", description="How far they would move for it.")
    wants_to_learn: Entries = Field(default_factory=list, description=f"Up to {MAX_LIST_ITEMS}.")
    notes: LongText | None = None


class AssessmentPut(WriteSchema):
    """A facilitator's view: where the person realistically can go, and how ready they are."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "assessed_by": EXAMPLE_MANAGER_ID,
                    "realistic_role": "Staff Engineer",
                    "realistic_level": "L6",
                    "readiness": "ready_in_1_year",
                    "pathway": "Lead the payments migration, then a cross-team design.",
                    "gaps": ["Cross-team influence"],
                    "opportunities": ["Payments migration lead"],
                }
            ]
        }
    )

    assessed_by: uuid.UUID = Field(
        description="Who assesses: a manager of the person (anywhere up their chain) or their "
        "mentor in an active mentorship. A person acting for themselves names themselves."
    )
    realistic_role: Role
    realistic_level: Level | None = None
    track_level_id: uuid.UUID | None = Field(
        default=None,
        description="The career track level found realistic: the id of a level of one of the "
        "tenant's career tracks (422 `unknown_reference` otherwise). When the aspiration "
        "names a level too, alignment compares the level ids instead of the free-text levels.",
    )
    readiness: Readiness
    pathway: LongText | None = None
    gaps: Entries = Field(default_factory=list, description=f"Up to {MAX_LIST_ITEMS}.")
    opportunities: Entries = Field(default_factory=list, description=f"Up to {MAX_LIST_ITEMS}.")


class VersionRead(ReadSchema):
    id: uuid.UUID = Field(description="This version's id (what a conversation references).")
    person_id: uuid.UUID
    version: int = Field(description="1, 2, 3 … per person.")
    created_at: datetime


class AspirationRead(VersionRead):
    target_role: str
    target_level: str | None
    track_level_id: uuid.UUID | None = Field(description="The career track level aimed at.")
    horizon_months: int
    mobility: Mobility
    wants_to_learn: list[str]
    notes: str | None


class AssessmentRead(VersionRead):
    assessed_by: uuid.UUID
    realistic_role: str
    realistic_level: str | None
    track_level_id: uuid.UUID | None = Field(description="The career track level found realistic.")
    readiness: Readiness
    pathway: str | None
    gaps: list[str]
    opportunities: list[str]


class AlignmentRead(ReadSchema):
    person_id: uuid.UUID
    status: AlignmentStatus = Field(
        description="`unknown` until both an aspiration and an assessment exist; then "
        "`aligned`, or `gap` with the `differences`."
    )
    differences: list[Difference] = Field(
        description="The compared fields that differ (`role`, `level`, `horizon`), in that order."
    )
    aspiration_id: uuid.UUID | None = Field(description="The aspiration version compared.")
    assessment_id: uuid.UUID | None = Field(description="The assessment version compared.")
    computed_at: datetime | None = Field(
        description="When the alignment was last recomputed (null when nothing was written)."
    )


class AlignmentGapData(ReadSchema):
    """The data of `alignment.gap_detected`: the alignment entered `gap`."""

    person_id: uuid.UUID
    differences: list[Difference]
    aspiration_id: uuid.UUID | None
    assessment_id: uuid.UUID | None


class AlignmentChangedData(ReadSchema):
    """The data of `alignment.changed`: the status moved `from` → `to`."""

    person_id: uuid.UUID
    from_: AlignmentStatus = Field(alias="from")
    to: AlignmentStatus
    differences: list[Difference]
    aspiration_id: uuid.UUID | None
    assessment_id: uuid.UUID | None
