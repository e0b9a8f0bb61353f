"""Agenda templates: what clients send and what they get back."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field
from pydantic.config import JsonValue

from app.schemas.common import ExternalId, Metadata, ReadSchema, ResourceRead, WriteSchema
from app.schemas.conversations import AgendaCategory, ConversationKind

MAX_TEMPLATE_ITEMS = 30

TemplateName = Annotated[
    str, Field(min_length=1, max_length=200, examples=["Quarterly career conversation"])
]
TemplateDescription = Annotated[
    str,
    Field(max_length=2000, examples=["The five themes of a career conversation, in order."]),
]
ItemTitle = Annotated[str, Field(min_length=1, max_length=500, examples=["Aspirations"])]
ItemPrompt = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        examples=["Where would you like your career to be in two to three years?"],
    ),
]


class AgendaTemplateItem(WriteSchema):
    category: AgendaCategory = Field(default="other", examples=["aspirations"])
    title: ItemTitle = Field(description="Becomes the agenda item's `topic`.")
    prompt: ItemPrompt | None = Field(
        default=None, description="The guiding question; the agenda item's `prompt`."
    )


Items = Annotated[
    list[AgendaTemplateItem],
    Field(
        min_length=1,
        max_length=MAX_TEMPLATE_ITEMS,
        description=f"The talking points, in agenda order (1 to {MAX_TEMPLATE_ITEMS}).",
    ),
]

_EXAMPLE_ITEMS: list[JsonValue] = [
    {
        "category": "aspirations",
        "title": "Where you want to go",
        "prompt": "What would you like to be doing in two to three years?",
    },
    {
        "category": "growth_areas",
        "title": "What to learn next",
        "prompt": "Which skill would make the biggest difference to that goal?",
    },
]


class AgendaTemplateCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Quarterly career check-in", "kind": "career", "items": _EXAMPLE_ITEMS}
            ]
        }
    )

    name: TemplateName
    kind: ConversationKind = Field(
        default="career", description="The kind of conversation it is made for."
    )
    description: TemplateDescription | None = None
    items: Items
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class AgendaTemplateUpdate(WriteSchema):
    """Fields a PATCH may change; `items` replaces the whole list."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Half-yearly career check-in"}]}
    )

    non_null: ClassVar[tuple[str, ...]] = ("name", "kind", "items", "metadata")
    name: TemplateName | None = None
    kind: ConversationKind | None = None
    description: TemplateDescription | None = None
    items: Items | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class AgendaTemplateCopy(WriteSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Our career conversation"}]})

    name: TemplateName | None = Field(
        default=None, description="The copy's name; defaults to the original's with ` (copy)`."
    )
    external_id: ExternalId | None = None


class AgendaTemplateItemRead(ReadSchema):
    category: AgendaCategory = Field(examples=["aspirations"])
    title: str = Field(examples=["Aspirations"])
    prompt: str | None = Field(
        examples=["Where would you like your career to be in two to three years?"]
    )


class AgendaTemplateRead(ResourceRead):
    name: str = Field(examples=["Career conversation"])
    kind: ConversationKind
    description: str | None
    builtin: bool = Field(
        description="A built-in template: the same id in every tenant, read-only (copy it to "
        "change it)."
    )
    items: list[AgendaTemplateItemRead] = Field(description="The talking points, in order.")
