"""Engine and session factory. One transaction per request or job: only the caller commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.config import Settings, to_asyncpg_url


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        to_asyncpg_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # No pre-ping: it costs a round trip per request. Dead connections are replaced
        # when they fail (and recycled hourly so idle-timeouts in between don't bite).
        pool_recycle=3600,
        connect_args={"server_settings": {"application_name": "ccapi"}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
