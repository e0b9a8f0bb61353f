"""Router factory: every API router runs its routes in one transaction per request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.core.errors import problem_responses
from app.core.routing import TransactionalRoute


def api_router(**kwargs: Any) -> APIRouter:
    responses = {**problem_responses(401, 422, 429, 500), **kwargs.pop("responses", {})}
    return APIRouter(route_class=TransactionalRoute, responses=responses, **kwargs)
