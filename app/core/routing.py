"""One transaction per request, committed before the response leaves.

``TransactionalRoute`` gives the request a ``RequestDb`` (``request.state.db``): a
connection checked out on first use. Reads run without a transaction; the first write
opens one. After the endpoint answers, it records the key's use and the idempotent
response (if the request asked for one) and commits; any error rolls everything back, so a
failed request changes nothing. A lost or timed-out database connection becomes a 503
``database_unavailable`` (with ``Retry-After``) and the connection is discarded, not
returned to the pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from app.core import auth, idempotency
from app.core.db import RequestDb
from app.core.errors import DatabaseUnavailable, database_unavailable

log = logging.getLogger(__name__)


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
                if response.status_code >= 400:
                    await db.rollback()
                    return response
                await auth.record_use(request, db)
                await idempotency.remember(db, request, response)
                await db.commit()
                return response
            except BaseException as exc:
                if database_unavailable(exc):
                    # The connection is gone or stuck: no rollback on it (the server
                    # discards the transaction), and it never returns to the pool.
                    log.warning("database unavailable", extra={"error": repr(exc)[:300]})
                    db.discard(exc)
                    raise DatabaseUnavailable() from exc
                try:
                    await db.rollback()
                except Exception as failed:
                    if not database_unavailable(failed):
                        raise
                    db.discard(failed)
                    raise DatabaseUnavailable() from failed
                raise
            finally:
                await db.close()

        return handler
