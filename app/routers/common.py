"""Router-side helpers: ETag headers and the If-Match parameter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Response

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


def with_etag(response: Response, obj: Any) -> None:
    response.headers["ETag"] = etag_of(obj)
