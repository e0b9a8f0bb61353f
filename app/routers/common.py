"""Router-side helpers: ETag headers, the If-Match and If-None-Match parameters, and
calendar answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Response

from app.services import calendars
from app.services.common import etag_of

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=500,
        description="The ETag from your last read; the write is refused with 412 if the "
        "resource changed since.",
    ),
]


IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=2000,
        description="The ETag of the text you hold: 304 Not Modified (no body) while it is "
        "still current, so pollers fetch only changes.",
    ),
]
# The 304 a conditional GET may answer (documented beside its 200).
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the `If-None-Match` ETag is still current."}
}


def with_etag(response: Response, obj: Any) -> None:
    response.headers["ETag"] = etag_of(obj)


def calendar_answer(text: bytes, if_none_match: str | None, **headers: str) -> Response:
    """An iCalendar text with its ``ETag``, or 304 when ``If-None-Match`` names it (RFC 9110
    §13.1.2: weak comparison, a list or ``*``)."""
    etag = calendars.etag(text)
    headers = {"ETag": etag, **headers}
    if if_none_match is not None:
        held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if "*" in held or etag in held:
            return Response(status_code=304, headers=headers)
    return Response(text, media_type=calendars.MEDIA_TYPE, headers=headers)
