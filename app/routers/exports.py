"""Per-person exports (GDPR article 15): request one, follow it, download the document."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request, Response, status
from fastapi.responses import StreamingResponse

from app.core.auth import ReadKey, WriteKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.routers.base import api_router
from app.routers.common import with_etag
from app.schemas.exports import BUNDLE_SCHEMA, ExportRead
from app.services import exports as service

router = api_router(prefix="/v1", tags=["exports"])


@router.post(
    "/people/{person_id}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="create_person_export",
    summary="Export everything about a person",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def create_person_export(
    person_id: uuid.UUID, response: Response, principal: WriteKey, session: Session
) -> ExportRead:
    """Queue an export of the person's data (GDPR art. 15): the platform, or the person themself."""
    job = await service.create(session, principal, person_id)
    read = ExportRead.model_validate(await service.READER.reread(session, job.id))
    with_etag(response, read)
    response.headers["Location"] = f"/v1/exports/{job.id}"
    return read


@router.get(
    "/exports/schema.json",
    operation_id="get_export_schema",
    summary="Get the export document's JSON Schema",
)
async def get_export_schema(principal: ReadKey) -> dict[str, Any]:
    """The JSON Schema (2020-12) every downloaded export document validates against."""
    return BUNDLE_SCHEMA


@router.get(
    "/exports/{export_id}",
    operation_id="get_export",
    summary="Get an export",
    responses=problem_responses(404),
    response_model=ExportRead,
)
async def get_export(export_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """An export: `pending`, `running`, `completed` (download it until `expires_at`), `failed`."""
    return service.READER.answer(await service.READER.one(db, principal, export_id))


@router.get(
    "/exports/{export_id}/download",
    operation_id="download_export",
    summary="Download an export's document",
    responses={
        200: {
            "description": "The export document (see `get_export_schema`).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **problem_responses(403, 404, 409, 410),
    },
    response_class=StreamingResponse,
)
async def download_export(
    export_id: uuid.UUID, request: Request, principal: ReadKey, db: Db
) -> StreamingResponse:
    """The document, streamed, to its person only (Acting-Person); 409 until done, 410 after."""
    row = await service.download_job(db, principal, export_id)
    return StreamingResponse(
        service.stream(request.app.state.sessionmaker, export_id),
        media_type="application/json",
        headers={
            "Content-Length": str(row["size_bytes"]),
            "Content-Disposition": f'attachment; filename="export-{export_id}.json"',
        },
    )
