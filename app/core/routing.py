"""One transaction per request, committed before the response leaves.

``TransactionalRoute`` gives the request a ``RequestDb`` (``request.state.db``): a
connection checked out on first use. Reads run without a transaction; the first write
opens one. After the endpoint answers, it records the key's use and the idempotent
response (if the request asked for one) and commits; any error rolls everything back, so a
failed request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from app.core import auth, idempotency
from app.core.db import RequestDb


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            db = RequestDb(request.app.state.sessionmaker)
            request.state.db = db
            try:
                try:
                    response = await endpoint(request)
                except idempotency.Replay as replay:
                    await db.rollback()
                    return replay.response
                except BaseException:
                    await db.rollback()
                    raise
                if response.status_code >= 400:
                    await db.rollback()
                    return response
                await auth.record_use(request, db)
                await idempotency.remember(db, request, response)
                await db.commit()
                return response
            finally:
                await db.close()

        return handler
