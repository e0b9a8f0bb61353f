"""The OpenAPI 3.1 ``webhooks`` section: one entry per event type, with its payload schema.

An event's ``data`` is its subject's read schema (``goal.agreed`` → ``GoalRead``), found by
name among the schema modules, so new resources are documented without registration;
``EVENT_SCHEMAS`` names the few that carry more (a conversation's invitation, ``ics``).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import app.schemas
from app.core.event_types import EVENT_TYPES
from app.schemas.alignment import AlignmentChangedData, AlignmentGapData
from app.schemas.conversations import ConversationInvitation
from app.schemas.series import ConversationSeriesInvitation
from app.schemas.webhooks import ThinData, WebhookEndpointRead
from app.services.calendars import CALENDAR_EVENTS

REF = "#/components/schemas/{model}"
# Subjects whose read schema is not named after them.
SUBJECT_SCHEMAS: dict[str, type[BaseModel]] = {"webhook": WebhookEndpointRead}
# Event types whose data is more than the subject's read schema.
EVENT_SCHEMAS: dict[str, type[BaseModel]] = {
    **{t: ConversationInvitation for t in CALENDAR_EVENTS},
    **{
        t: ConversationSeriesInvitation for t in EVENT_TYPES if t.startswith("conversation_series.")
    },
    "alignment.changed": AlignmentChangedData,
    "alignment.gap_detected": AlignmentGapData,
}

SIGNATURE_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The event's id: the same on every retry; deduplicate on it.",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Unix seconds when this attempt was signed; refuse old ones.",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "Space-separated `v1,<base64 HMAC-SHA256>` of `id.timestamp.body`, one "
        "per valid secret (two during a secret rotation).",
        "schema": {"type": "string"},
    },
]


def _camel(subject: str) -> str:
    return "".join(part.capitalize() for part in subject.split("_"))


def _read_schemas() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for module in pkgutil.iter_modules(app.schemas.__path__):
        loaded = importlib.import_module(f"app.schemas.{module.name}")
        for name, value in vars(loaded).items():
            if (
                name.endswith("Read")
                and isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == loaded.__name__
            ):
                found[name] = value
    return found


def subject_schemas() -> dict[str, type[BaseModel] | None]:
    """Event type → the model of its ``data`` (None when no read schema matches)."""
    reads = _read_schemas()
    result: dict[str, type[BaseModel] | None] = {}
    for event_type in EVENT_TYPES:
        subject = event_type.split(".", 1)[0]
        result[event_type] = (
            EVENT_SCHEMAS.get(event_type)
            or SUBJECT_SCHEMAS.get(subject)
            or reads.get(_camel(subject) + "Read")
        )
    return result


def add_webhooks(schema: dict[str, Any]) -> None:
    """Fill ``schema["webhooks"]`` and add the payload models to the components."""
    by_type = subject_schemas()
    models = {m for m in by_type.values() if m is not None} | {ThinData}
    ordered = sorted(models, key=lambda m: m.__name__)
    refs, definitions = models_json_schema(
        [(m, "serialization") for m in ordered], ref_template=REF
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in definitions.get("$defs", {}).items():
        components.setdefault(name, definition)
    thin_ref = refs[(ThinData, "serialization")]
    webhooks: dict[str, Any] = {}
    for event_type, description in sorted(EVENT_TYPES.items()):
        model = by_type[event_type]
        full: dict[str, Any] = (
            refs[(model, "serialization")]
            if model is not None
            else {"type": "object", "description": "The subject as the API returns it."}
        )
        webhooks[event_type] = {
            "post": {
                "operationId": "webhook_" + event_type.replace(".", "_"),
                "summary": event_type,
                "description": description
                + "\n\n`data` is the subject as the API returns it (`full` endpoints) or "
                "`{object, id}` (`thin` endpoints). Verify the signature before trusting it.",
                "tags": ["webhooks"],
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["type", "timestamp", "data"],
                                "properties": {
                                    "type": {"type": "string", "const": event_type},
                                    "timestamp": {"type": "string", "format": "date-time"},
                                    "data": {"oneOf": [full, thin_ref]},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "2XX": {"description": "Received. Answer within the timeout (15 s)."},
                    "410": {"description": "Gone: the endpoint is disabled at once."},
                },
            }
        }
    schema["webhooks"] = webhooks
