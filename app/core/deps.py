"""Dependencies shared by every router.

Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def``
dependencies in a thread pool, a thread hop per request for nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings


async def get_session(request: Request) -> AsyncSession:
    """The request's session, opened and committed by ``TransactionalRoute``."""
    session: AsyncSession = request.state.session
    return session


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Session = Annotated[AsyncSession, Depends(get_session)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
