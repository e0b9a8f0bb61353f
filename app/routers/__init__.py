"""Every router: each module of this package that defines ``router`` is mounted.

``ORDER`` fixes how the OpenAPI document lists them; unlisted modules follow by name.
"""

import importlib
import pkgutil

from fastapi import APIRouter

ORDER = [
    "people",
    "mentorships",
    "conversations",
    "series",
    "agenda_items",
    "notes",
    "agenda_templates",
    "calendar_feeds",
    "alignment",
    "goals",
    "action_plans",
    "feedback",
    "feedback_requests",
    "follow_ups",
    "competencies",
    "career_tracks",
    "insights",
    "exports",
    "events",
    "webhooks",
    "tenant",
    "person_sessions",
    "admin",
    "health",
]


def _routers() -> list[APIRouter]:
    names = [m.name for m in pkgutil.iter_modules(__path__)]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    found = []
    for name in names:
        router = getattr(importlib.import_module(f"{__name__}.{name}"), "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


ROUTERS: list[APIRouter] = _routers()
