"""The models and the Alembic migrations agree; the migrations run both ways."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers every table
from app.core import migrations
from app.core.config import to_asyncpg_url


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False}
    )
    return list(compare_metadata(context, SQLModel.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


async def test_models_match_the_migrations(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []


async def test_database_is_at_head(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        current = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    assert current == migrations.head_revision()


@pytest.fixture
async def scratch_database_url(engine: AsyncEngine, database_url: str) -> AsyncIterator[str]:
    """An empty database on the test server, dropped afterwards."""
    name = f"ccapi_scratch_{uuid.uuid4().hex[:10]}"
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(to_asyncpg_url(database_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        async with autocommit.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_downgrade_to_base_and_upgrade_again(scratch_database_url: str) -> None:
    config = migrations.alembic_config(scratch_database_url)
    scratch = create_async_engine(to_asyncpg_url(scratch_database_url))
    try:
        # Alembic's env runs its own event loop: keep it off this one.
        await asyncio.to_thread(migrations.upgrade, scratch_database_url)
        async with scratch.connect() as conn:
            assert await conn.run_sync(_tables) == {*SQLModel.metadata.tables, "alembic_version"}
            assert await conn.run_sync(_differences) == []

        await asyncio.to_thread(command.downgrade, config, "base")
        async with scratch.connect() as conn:
            assert await conn.run_sync(_tables) == {"alembic_version"}
            assert await conn.scalar(sa.text("SELECT count(*) FROM alembic_version")) == 0

        await asyncio.to_thread(migrations.upgrade, scratch_database_url)
        async with scratch.connect() as conn:
            assert await conn.run_sync(_differences) == []
            current = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        assert current == migrations.head_revision()
    finally:
        await scratch.dispose()
