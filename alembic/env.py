"""Async Alembic environment. The URL comes from the caller (``ccapi migrate``, app start-up,
tests) through ``config.attributes["url"]`` or from ``DATABASE_URL``."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers every table
from app.core.config import get_settings, to_asyncpg_url

config = context.config
target_metadata = SQLModel.metadata

# Several replicas may start at once: only one migrates, the others wait and find nothing to do.
MIGRATION_LOCK = 7_271_001


def _url() -> str:
    url = config.attributes.get("url") or get_settings().database_url
    if not url:
        raise RuntimeError("No database URL: set DATABASE_URL or use `ccapi migrate`.")
    return to_asyncpg_url(url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=False,
    )


def _run_sync(connection: Connection) -> None:
    connection.execute(sa.text(f"SELECT pg_advisory_lock({MIGRATION_LOCK})"))
    try:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(sa.text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})"))


async def _run_async() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_async_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run_sync)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
