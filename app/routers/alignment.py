"""Expectations alignment: a person's aspiration and assessment (versioned) and how they align."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Request, Response, status

from app.core.auth import ReadKey, WriteKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, page_params
from app.models.alignment import Aspiration, Assessment
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.alignment import (
    AlignmentRead,
    AspirationPut,
    AspirationRead,
    AssessmentPut,
    AssessmentRead,
)
from app.services import alignment as service

router = api_router(prefix="/v1/people", tags=["alignment"])

_CREATED = "A new version was recorded (its `Location` is the current version)."


def _answer_version(response: Response, version: Any, created: bool, location: str) -> None:
    """A PUT's answer: 201 with ``Location`` when it made a new version (else 200), and the
    version's ``ETag``."""
    if created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = location
    with_etag(response, version)


@router.put(
    "/{person_id}/aspiration",
    operation_id="put_aspiration",
    summary="Record a person's aspiration",
    responses={
        201: {"description": _CREATED, "model": AspirationRead},
        **problem_responses(404, 412),
    },
)
async def put_aspiration(
    person_id: uuid.UUID,
    body: AspirationPut,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> AspirationRead:
    """A new version of the employee's own view (201); the same content again answers the
    current version (200). The person themselves or the platform (else 403)."""
    slot = await service.get_aspiration_for_write(session, principal, person_id, if_match)
    version, created = await service.put_aspiration(session, principal, slot, body)
    _answer_version(response, version, created, f"/v1/people/{person_id}/aspiration")
    return AspirationRead.model_validate(version)


@router.get(
    "/{person_id}/aspiration",
    operation_id="get_aspiration",
    summary="Get a person's current aspiration",
    responses=problem_responses(404),
    response_model=AspirationRead,
)
async def get_aspiration(person_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """The current version, with the `ETag` to send as `If-Match`; 404 `not_found` when none yet."""
    return await service.current(db, principal, Aspiration, person_id)


@router.get(
    "/{person_id}/aspiration/history",
    operation_id="list_aspiration_versions",
    summary="List a person's aspiration versions",
    responses=problem_responses(404),
    response_model=Page[AspirationRead],
)
async def list_aspiration_versions(
    person_id: uuid.UUID,
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
) -> Response:
    """Every version of the person's aspiration, newest first."""
    rows = await service.history(db, principal, Aspiration, person_id, params)
    return service.reader(Aspiration).answer_page(request, rows, params)


@router.put(
    "/{person_id}/assessment",
    operation_id="put_assessment",
    summary="Record an assessment of a person",
    responses={
        201: {"description": _CREATED, "model": AssessmentRead},
        **problem_responses(404, 412),
    },
)
async def put_assessment(
    person_id: uuid.UUID,
    body: AssessmentPut,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> AssessmentRead:
    """A new version of a manager's or mentor's view (201); the same content again answers
    the current version (200). `assessed_by` must be a manager or an active mentor of the
    person (422), and, acting for a person, that person (else 403)."""
    slot = await service.get_assessment_for_write(
        session, principal, person_id, body.assessed_by, if_match
    )
    version, created = await service.put_assessment(session, principal, slot, body)
    _answer_version(response, version, created, f"/v1/people/{person_id}/assessment")
    return AssessmentRead.model_validate(version)


@router.get(
    "/{person_id}/assessment",
    operation_id="get_assessment",
    summary="Get a person's current assessment",
    responses=problem_responses(404),
    response_model=AssessmentRead,
)
async def get_assessment(person_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """The current version, with the `ETag` to send as `If-Match`; 404 `not_found` when none yet."""
    return await service.current(db, principal, Assessment, person_id)


@router.get(
    "/{person_id}/assessment/history",
    operation_id="list_assessment_versions",
    summary="List a person's assessment versions",
    responses=problem_responses(404),
    response_model=Page[AssessmentRead],
)
async def list_assessment_versions(
    person_id: uuid.UUID,
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
) -> Response:
    """Every version of the person's assessment, newest first."""
    rows = await service.history(db, principal, Assessment, person_id, params)
    return service.reader(Assessment).answer_page(request, rows, params)


@router.get(
    "/{person_id}/alignment",
    operation_id="get_alignment",
    summary="Get how a person's aspiration and assessment align",
    responses=problem_responses(404),
    response_model=AlignmentRead,
)
async def get_alignment(person_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """`aligned`, `gap` (with the `differences`) or `unknown` (one side missing), and the
    two versions compared."""
    return await service.get_alignment(db, principal, person_id)
