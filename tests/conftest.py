"""Test database and clients.

One PostgreSQL per run: embedded (started once) unless ``DATABASE_URL`` names a server,
where a fresh database is created for the run. The schema is built by running the
Alembic migrations. Each test runs inside an outer transaction that is rolled back, so
tests are isolated and can assert exact figures; ``committed`` tests (workers,
subprocesses, concurrency) use real commits and truncate every table afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

from app.core import migrations
from app.core.config import Settings, to_asyncpg_url
from app.core.db import JSON_CODECS
from app.core.embedded import EmbeddedPostgres
from app.main import create_app
from app.services import tenants

ADMIN_TOKEN = "test-admin-token-0123456789"
# CCAPI_SECRET_KEY of the test settings (and of the worker subprocesses): two keys, so
# sealing uses the first and opening accepts either.
TEST_SECRET_KEY = (
    "dGVzdC1zZWNyZXQta2V5LW9uZS0wMTIzNDU2Nzg5YWI=,dGVzdC1zZWNyZXQta2V5LXR3by0wMTIzNDU2Nzg5YWI="
)


def _external_database(base_url: str) -> Iterator[str]:
    """A fresh database on the server ``base_url`` points at, dropped after the run."""
    import asyncpg

    name = f"ccapi_test_{uuid.uuid4().hex[:10]}"
    url = make_url(to_asyncpg_url(base_url))

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            user=url.username,
            password=url.password,
            host=url.host,
            port=url.port,
            database=url.database,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        url_iter = _external_database(external)
        url = next(url_iter)
        migrations.upgrade(url)
        yield url
        next(url_iter, None)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="ccapi-test-"))
    embedded = EmbeddedPostgres(data_dir)
    url = embedded.start()
    try:
        migrations.upgrade(url)
        yield url
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        secret_key=TEST_SECRET_KEY,  # type: ignore[arg-type]
        rate_limit_per_minute=100_000,
        auth_failures_per_minute=100_000,
        webhook_allow_http=True,
        webhook_allowed_networks="127.0.0.0/8",  # type: ignore[arg-type]
        webhook_retry_schedule="1,1,1",  # type: ignore[arg-type]
        webhook_timeout=2.0,
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        to_asyncpg_url(database_url), pool_size=5, max_overflow=10, **JSON_CODECS
    )
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions inside the test's outer transaction: their commits are savepoints."""
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


def steady_keys(app: FastAPI) -> FastAPI:
    """Keep cached API keys for the whole test. Without a LISTEN connection (tests run no
    lifespan) entries live 1 s, so a slow test would see an extra key lookup at a random
    moment (statement counts). Keys are revoked here only through this app's own admin
    API, which clears its cache; revocation across processes is tested in
    tests/test_key_cache.py with listening apps."""
    app.state.key_cache.fallback_ttl = 3600.0
    return app


@pytest.fixture
async def client(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    app = steady_keys(create_app(settings, engine=engine, sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def truncate_all(engine: AsyncEngine) -> None:
    tables = ", ".join(f'"{t}"' for t in SQLModel.metadata.tables)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
async def committed_app_sessionmaker(
    engine: AsyncEngine,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Real commits, for tests that need other connections or processes to see the data."""
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    await truncate_all(engine)


@pytest.fixture
async def committed_client(
    settings: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app = steady_keys(create_app(settings, engine=engine, sessionmaker=committed_app_sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class TenantKey:
    """A tenant with an API key, and the headers that authenticate as it."""

    tenant_id: uuid.UUID
    key_id: uuid.UUID
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


async def make_tenant(
    sessionmaker: async_sessionmaker[AsyncSession],
    name: str = "Acme",
    scopes: tuple[str, ...] = ("read", "write", "webhooks"),
) -> TenantKey:
    async with sessionmaker() as session:
        tenant = await tenants.create(session, name)
        key, secret = await tenants.create_api_key(session, tenant.id, "test", list(scopes))
        await session.commit()
    return TenantKey(tenant_id=tenant.id, key_id=key.id, secret=secret)


@pytest.fixture
async def tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> TenantKey:
    return await make_tenant(sessionmaker, "Acme")


@pytest.fixture
async def other_tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> TenantKey:
    return await make_tenant(sessionmaker, "Globex")


@pytest.fixture
async def tenant_c(committed_app_sessionmaker: async_sessionmaker[AsyncSession]) -> TenantKey:
    """A tenant whose rows are committed (workers read them on their own connections)."""
    return await make_tenant(committed_app_sessionmaker, "Initech")


@pytest.fixture
def auth(tenant: TenantKey) -> dict[str, str]:
    """Headers authenticating as ``tenant`` with every scope."""
    return tenant.headers
