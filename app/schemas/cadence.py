"""A person's cadence: per conversation kind the tenant sets ``cadence_days`` for, their
last completed conversation, when the next one is due and whether it is."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from app.schemas.common import ReadSchema
from app.schemas.conversations import ConversationKind

CadenceState = Literal["ok", "due_soon", "breached"]


class CadenceRead(ReadSchema):
    """One conversation kind's cadence for one person (also the data of `cadence.*`)."""

    person_id: uuid.UUID = Field(description="The employee.")
    kind: ConversationKind = Field(examples=["career"])
    cadence_days: int = Field(
        description="The tenant's `cadence_days` for this kind.", examples=[90]
    )
    last_completed_conversation_id: uuid.UUID | None = Field(
        description="Their last completed conversation of this kind as the employee; `null` "
        "when none (the cadence counts from when the person was created)."
    )
    last_completed_at: datetime | None = Field(examples=["2025-03-04T09:15:00Z"])
    due_at: datetime = Field(
        description="`last_completed_at` (or the person's `created_at`) + `cadence_days`.",
        examples=["2025-06-02T09:15:00Z"],
    )
    state: CadenceState = Field(
        description="`breached` from `due_at`; `due_soon` from `cadence_warning_days` before "
        "it; `ok` before that.",
        examples=["ok"],
    )


class PersonCadenceRead(ReadSchema):
    person_id: uuid.UUID
    kinds: list[CadenceRead] = Field(
        description="One entry per kind in the tenant's `cadence_days`, by kind name; empty "
        "when the tenant sets no cadence."
    )
