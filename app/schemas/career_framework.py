"""The career framework: competencies and career tracks with their ordered levels."""

from __future__ import annotations

import uuid
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field
from pydantic.config import JsonValue

from app.schemas.common import ExternalId, Metadata, ReadSchema, ResourceRead, WriteSchema

MAX_BATCH = 500
MAX_LEVELS = 30
MAX_EXPECTATIONS = 50
MAX_COMPETENCY_REFERENCES = 20

CompetencyName = Annotated[str, Field(min_length=1, max_length=200, examples=["System design"])]
Description = Annotated[
    str,
    Field(max_length=5000, examples=["Designs services that stay simple as they grow."]),
]
Category = Annotated[str, Field(min_length=1, max_length=100, examples=["Engineering"])]
TrackName = Annotated[str, Field(min_length=1, max_length=200, examples=["Software engineering"])]
LevelName = Annotated[str, Field(min_length=1, max_length=200, examples=["Senior engineer"])]
ExpectationText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        examples=["Leads the design of a service end to end."],
    ),
]

COMPETENCY_IDS_DESCRIPTION = (
    f"Competencies of your tenant's career framework it is about (at most "
    f"{MAX_COMPETENCY_REFERENCES}; duplicates are ignored; an unknown id is a 422 naming its "
    "index)."
)
CompetencyIdList = Annotated[
    list[uuid.UUID],
    Field(max_length=MAX_COMPETENCY_REFERENCES, description=COMPETENCY_IDS_DESCRIPTION),
]


# Competencies


class CompetencyCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Stakeholder communication",
                    "category": "Collaboration",
                    "description": "Explains trade-offs so that others can decide.",
                }
            ]
        }
    )

    name: CompetencyName = Field(description="Unique in your tenant, ignoring case.")
    description: Description | None = None
    category: Category | None = Field(default=None, description="A free grouping label.")
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class CompetencyUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"description": "Explains trade-offs in writing."}]}
    )

    non_null: ClassVar[tuple[str, ...]] = ("name", "metadata")
    name: CompetencyName | None = None
    description: Description | None = None
    category: Category | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class CompetencyBatch(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"name": "Incident response", "category": "Operations"},
                        {"name": "Mentoring others", "category": "Leadership"},
                    ]
                }
            ]
        }
    )

    items: list[CompetencyCreate] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} competencies, created all or none.",
    )


class CompetencyRead(ResourceRead):
    name: str = Field(examples=["System design"])
    description: str | None
    category: str | None = Field(examples=["Engineering"])


class CompetencyList(ReadSchema):
    data: list[CompetencyRead] = Field(description="The created competencies, in input order.")


# Career tracks


class Expectation(WriteSchema):
    competency_id: uuid.UUID = Field(description="A competency of your tenant.")
    expectation: ExpectationText = Field(description="What this level expects of it.")


class LevelCreate(WriteSchema):
    """A level of a new track (it gets its id)."""

    name: LevelName
    description: Description | None = None
    expectations: list[Expectation] = Field(
        default_factory=list,
        max_length=MAX_EXPECTATIONS,
        description=f"At most {MAX_EXPECTATIONS}.",
    )


class LevelWrite(LevelCreate):
    """A level in a PATCH's list: with the `id` of one of the track's levels to keep it."""

    id: uuid.UUID | None = Field(
        default=None,
        description="An existing level of this track to keep (its id stays). Leave it out "
        "for a new level.",
    )


_LEVELS_DESCRIPTION = (
    f"The levels, lowest first (1 to {MAX_LEVELS}); a level's `position` is its index."
)
NewLevels = Annotated[
    list[LevelCreate],
    Field(min_length=1, max_length=MAX_LEVELS, description=_LEVELS_DESCRIPTION),
]
Levels = Annotated[
    list[LevelWrite],
    Field(min_length=1, max_length=MAX_LEVELS, description=_LEVELS_DESCRIPTION),
]

_EXAMPLE_LEVELS: list[JsonValue] = [
    {"name": "Engineer", "description": "Delivers well-scoped work with guidance."},
    {"name": "Senior engineer", "description": "Leads the design of a service end to end."},
]


class CareerTrackCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Software engineering", "levels": _EXAMPLE_LEVELS}]
        }
    )

    name: TrackName
    description: Description | None = None
    levels: NewLevels
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class CareerTrackUpdate(WriteSchema):
    """Fields a PATCH may change; `levels` replaces the whole list."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"description": "Individual contributors."}]}
    )

    non_null: ClassVar[tuple[str, ...]] = ("name", "levels", "metadata")
    name: TrackName | None = None
    description: Description | None = None
    levels: Levels | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class CareerTrackBatch(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"name": "Product management", "levels": [{"name": "Product manager"}]},
                        {"name": "Design", "levels": [{"name": "Designer"}]},
                    ]
                }
            ]
        }
    )

    items: list[CareerTrackCreate] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} tracks, created all or none.",
    )


class ExpectationRead(ReadSchema):
    competency_id: uuid.UUID
    expectation: str


class LevelRead(ReadSchema):
    id: uuid.UUID = Field(description="Stable while the level exists.")
    position: int = Field(description="0 for the first level.")
    name: str
    description: str | None
    expectations: list[ExpectationRead]


class CareerTrackRead(ResourceRead):
    name: str = Field(examples=["Software engineering"])
    description: str | None
    levels: list[LevelRead] = Field(description="The levels, lowest first.")


class CareerTrackList(ReadSchema):
    data: list[CareerTrackRead] = Field(description="The created tracks, in input order.")
