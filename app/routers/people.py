"""People: create, read, update, list, delete; and the HRIS upsert by external id."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response, status

from app.core.auth import PlatformWriteKey, ReadKey
from app.core.deps import Db, Session
from app.core.errors import FieldError, MethodNotAllowed, ValidationFailed, problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, page_params
from app.core.rows import dumps
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.cadence import PersonCadenceRead
from app.schemas.common import Instant
from app.schemas.people import (
    PersonBatch,
    PersonBatchRead,
    PersonCreate,
    PersonRead,
    PersonStatus,
    PersonUpdate,
    PersonUpsert,
)
from app.services import cadence
from app.services import people as service

router = api_router(prefix="/v1/people", tags=["people"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_person",
    summary="Create a person",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_person(
    body: PersonCreate, response: Response, principal: PlatformWriteKey, session: Session
) -> PersonRead:
    """Create an employee, manager or mentor. `manager_id` must be a person of your tenant."""
    person = await service.create(session, principal, body)
    with_etag(response, person)
    response.headers["Location"] = f"/v1/people/{person.id}"
    return PersonRead.model_validate(person)


@router.post(
    "/batch",
    operation_id="sync_people_batch",
    summary="Create or update up to 1,000 people by external id",
    dependencies=[Idempotent],
    responses=problem_responses(422),
    response_model=PersonBatchRead,
)
async def sync_people_batch(body: PersonBatch, principal: PlatformWriteKey, db: Db) -> Response:
    """The HRIS bulk sync: each item replaces the person with its `external_id` (created,
    updated or unchanged), managers named by `manager_external_id` in any order; per-item
    results in input order, or 422 with every refused item when `atomic` is true."""
    results, failed = await service.batch(db, principal, body)
    if failed and body.atomic:
        raise ValidationFailed(
            f"{len(results)} item(s) were refused; nothing was written (atomic).",
            errors=[FieldError(**error) for item in results for error in item["problem"]["errors"]],
            extra={"results": results},
        )
    return Response(dumps({"results": results}), media_type="application/json")


@router.api_route(
    "/batch",
    methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"],
    operation_id="people_batch_other_methods",
    include_in_schema=False,
)
async def people_batch_other_methods(request: Request) -> Response:
    """``/v1/people/batch`` is POST only: without this, ``/v1/people/{person_id}`` would
    take the other methods and refuse ``batch`` as a person id (422) instead of 405."""
    raise MethodNotAllowed(
        f"{request.method} is not allowed here; use POST.", headers={"Allow": "POST"}
    )


@router.get("", operation_id="list_people", summary="List people", response_model=Page[PersonRead])
async def list_people(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    manager_id: Annotated[
        uuid.UUID | None, Query(description="Direct reports of this person.")
    ] = None,
    status: Annotated[PersonStatus | None, Query()] = None,
    email: Annotated[
        str | None, Query(max_length=320, description="Exact, case-insensitive.")
    ] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Only people changed at or after this time.")
    ] = None,
) -> Response:
    """People, newest first. Everyone in the tenant sees the directory; acting for a person
    (`Acting-Person`), `external_id` is `null` and `metadata` `{}`."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        manager_id=manager_id,
        status=status,
        email=email,
        updated_since=updated_since,
    )
    return service.reader(principal).answer_page(request, rows, params)


@router.get(
    "/{person_id}",
    operation_id="get_person",
    summary="Get a person",
    responses=problem_responses(404),
    response_model=PersonRead,
)
async def get_person(person_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One person, with an `ETag` to send back as `If-Match` when updating; acting for a
    person (`Acting-Person`), `external_id` is `null` and `metadata` `{}`."""
    reader = service.reader(principal)
    return reader.answer(await reader.one(db, principal, person_id))


@router.get(
    "/{person_id}/cadence",
    operation_id="get_person_cadence",
    summary="Get a person's conversation cadence",
    responses=problem_responses(404),
    response_model=PersonCadenceRead,
)
async def get_person_cadence(person_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """Per conversation kind in the tenant's `cadence_days`: the person's last completed
    conversation of that kind (as the employee), when the next one is due and the state
    (`ok`, `due_soon`, `breached`). Seen by the person, their managers (per
    `managers_see_reports`) and the platform; 404 to anyone else."""
    return await cadence.get(db, principal, person_id)


@router.patch(
    "/{person_id}",
    operation_id="update_person",
    summary="Update a person",
    responses=problem_responses(404, 409, 412),
)
async def update_person(
    person_id: uuid.UUID,
    body: PersonUpdate,
    response: Response,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> PersonRead:
    """Change the fields you send; others stay. A new manager may not create a cycle."""
    person = await service.get_for_write(session, principal.tenant_id, person_id, if_match)
    person = await service.update(session, principal, person, body)
    with_etag(response, person)
    return PersonRead.model_validate(person)


@router.put(
    "/by-external-id/{external_id}",
    operation_id="upsert_person_by_external_id",
    summary="Create or update a person by external id",
    responses={
        201: {"description": "Created", "model": PersonRead},
        **problem_responses(409),
    },
)
async def upsert_person(
    external_id: Annotated[str, Path(min_length=1, max_length=255)],
    body: PersonUpsert,
    response: Response,
    principal: PlatformWriteKey,
    session: Session,
) -> PersonRead:
    """The HRIS sync path: creates the person (201) or replaces their fields (200)."""
    person, created = await service.upsert_by_external_id(session, principal, external_id, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"/v1/people/{person.id}"
    with_etag(response, person)
    return PersonRead.model_validate(person)


@router.delete(
    "/{person_id}",
    operation_id="delete_person",
    summary="Delete or erase a person",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        200: {"description": "Erased (with `?erase=true`)", "model": PersonRead},
        **problem_responses(404, 409, 412),
    },
)
async def delete_person(
    request: Request,
    person_id: uuid.UUID,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
    erase: Annotated[
        bool,
        Query(description="Anonymise the person's personal data and keep their records."),
    ] = False,
) -> Response:
    """Delete a person without history (204). A person with history is refused with 409
    unless `erase=true`, which anonymises them everywhere and keeps the records (200)."""
    person = await service.get_for_write(session, principal.tenant_id, person_id, if_match)
    erased = await service.delete(session, principal, person, erase=erase)
    # The person may no longer act (other processes: within 5 s, ``ACTING_TTL``).
    request.app.state.key_cache.forget_acting(principal.tenant_id)
    if erased is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return Response(
        PersonRead.model_validate(erased).model_dump_json(),
        media_type="application/json",
    )
