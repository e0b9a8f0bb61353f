"""Dependencies shared by every router.

Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def``
dependencies in a thread pool, a thread hop per request for nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import RequestDb


async def get_session(request: Request) -> AsyncSession:
    """An ORM session in the request's transaction (``TransactionalRoute`` commits it)."""
    db: RequestDb = request.state.db
    return await db.session()


async def get_db(request: Request) -> RequestDb:
    """The request's database handle: raw reads without a transaction, writes in one."""
    db: RequestDb = request.state.db
    return db


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Session = Annotated[AsyncSession, Depends(get_session)]
Db = Annotated[RequestDb, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
