"""One transaction per request, committed before the response leaves.

``TransactionalRoute`` opens the session, runs the endpoint, stores the
idempotent response (if the request asked for one) and commits; any error
rolls everything back, so a failed request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from app.core import idempotency


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            sessionmaker = request.app.state.sessionmaker
            async with sessionmaker() as session:
                request.state.session = session
                try:
                    response = await endpoint(request)
                except idempotency.Replay as replay:
                    await session.rollback()
                    return replay.response
                except BaseException:
                    await session.rollback()
                    raise
                if response.status_code >= 400:
                    await session.rollback()
                    return response
                await idempotency.remember(session, request, response)
                await session.commit()
                return response

        return handler
