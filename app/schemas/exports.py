"""Per-person exports: the job as the API shows it, and the JSON Schema of the bundle."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from app.models.export_job import ExportStatus
from app.schemas.common import ReadSchema


class ExportRead(ReadSchema):
    id: uuid.UUID
    person_id: uuid.UUID = Field(description="Whose data the export holds.")
    status: ExportStatus = Field(
        description="`pending` (queued), `running`, `completed` (download it) or `failed`."
    )
    requested_by_person_id: uuid.UUID | None = Field(
        description="The person who asked for it (themself), or null: the platform."
    )
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None = Field(
        description="Until when `GET /v1/exports/{id}/download` serves the document (24 hours "
        "after completion); then the document is deleted."
    )
    size_bytes: int | None = Field(description="The document's size, once completed.")
    error: str | None = Field(description="Why it failed (`failed` only).")


def _rows(required: list[str], **properties: Any) -> dict[str, Any]:
    """An array of records, each with at least ``required`` (more columns may appear)."""
    props = {name: {"type": "string", "format": "uuid"} for name in ("id", *required)}
    props.update(properties)
    return {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", *required, *properties],
            "properties": props,
        },
    }


_NULLABLE_ID = {"type": ["string", "null"], "format": "uuid"}
_NOTE = {
    "type": "object",
    "required": ["id", "conversation_id", "author_id", "visibility", "body"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "conversation_id": {"type": "string", "format": "uuid"},
        "author_id": {"type": "string", "format": "uuid"},
        "visibility": {"enum": ["shared", "private"]},
        "body": {"type": "string"},
    },
}
_AGENDA_ITEM = {
    "type": "object",
    "required": ["id", "conversation_id", "author_id", "topic", "visibility"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "topic": {"type": "string"},
        "visibility": {"type": "string"},
    },
}

# The document ``GET /v1/exports/{id}/download`` answers (``GET /v1/exports/schema.json``).
# Records carry their table's columns by name (ids, texts, instants in ISO 8601); the schema
# fixes the sections, the fields every consumer relies on, and leaves further columns open.
BUNDLE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "/v1/exports/schema.json",
    "title": "Person export",
    "description": "Everything the Career Conversations API holds about one person, as "
    "that person may see it (GDPR article 15).",
    "type": "object",
    "required": [
        "format",
        "export_id",
        "generated_at",
        "person",
        "conversations",
        "goals",
        "action_plans",
        "action_items",
        "feedback_given",
        "feedback_received",
        "feedback_requests",
        "follow_ups",
        "mentorships",
        "events",
    ],
    "additionalProperties": False,
    "properties": {
        "format": {"const": "ccapi.person_export.v1"},
        "export_id": {"type": "string", "format": "uuid"},
        "generated_at": {"type": "string", "format": "date-time"},
        "person": {
            "type": "object",
            "required": ["id", "name", "email", "title", "manager_id", "status"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "email": {"type": ["string", "null"]},
                "manager_id": _NULLABLE_ID,
            },
        },
        "conversations": _rows(
            ["employee_id", "facilitator_id"],
            agenda_items={"type": "array", "items": _AGENDA_ITEM},
            notes={"type": "array", "items": _NOTE},
        ),
        "goals": _rows(["owner_id"], title={"type": "string"}),
        "action_plans": _rows(["owner_id"], title={"type": "string"}),
        "action_items": _rows(["plan_id", "assignee_id"], title={"type": "string"}),
        "feedback_given": _rows(["giver_id", "recipient_id"], body={"type": "string"}),
        "feedback_received": _rows(["giver_id", "recipient_id"], body={"type": "string"}),
        "feedback_requests": _rows(["requester_id", "responder_id"], prompt={"type": "string"}),
        "follow_ups": _rows(["conversation_id", "assignee_id"], status={"type": "string"}),
        "mentorships": _rows(["mentor_id", "mentee_id"], status={"type": "string"}),
        "events": _rows(
            ["subject_id"],
            type={"type": "string"},
            subject_type={"type": "string"},
            occurred_at={"type": "string", "format": "date-time"},
            data={"type": "object"},
        ),
    },
}
