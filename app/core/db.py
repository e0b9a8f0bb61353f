"""Engine and session factory. One transaction per request or job: only the caller commits."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    AsyncTransaction,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from app.core.config import Settings, to_asyncpg_url


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        to_asyncpg_url(url),
        # A fixed set of connections: overflow connections would be opened and closed
        # under bursts (a TCP and TLS handshake and type introspection each time).
        pool_size=settings.db_pool_size,
        max_overflow=0,
        # No pre-ping: it costs a round trip per request. Dead connections are replaced
        # when they fail (and recycled hourly so idle-timeouts in between don't bite).
        pool_recycle=3600,
        connect_args={"server_settings": {"application_name": "ccapi"}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class RequestDb:
    """One request's database access: a single connection, checked out on first use.

    Reads go straight to the asyncpg connection (``await db.raw()``) and run without a
    transaction unless the request already opened one: a single-statement read needs none.
    Writes call ``await db.begin()`` (raw) or ``await db.session()`` (ORM); both share the
    connection and one transaction, which ``TransactionalRoute`` commits once the endpoint
    has answered, or rolls back on any error.

    A read-only request costs one pool checkout (one greenlet hop) and a checkin without
    any; the SQLAlchemy ``Connection`` around the pooled connection is built only when a
    transaction is opened. When the app's sessionmaker is bound to a connection (the
    tests' outer transaction), that connection is used and the request's transaction is a
    SAVEPOINT inside it.
    """

    __slots__ = ("_adapter", "_bind", "_conn", "_fairy", "_raw", "_session", "_tx")

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        bind = sessionmaker.kw["bind"]
        self._bind: AsyncEngine | AsyncConnection = bind
        self._conn: AsyncConnection | None = bind if isinstance(bind, AsyncConnection) else None
        self._fairy: PoolProxiedConnection | None = None
        self._adapter: Any = None
        self._raw: asyncpg.Connection | None = None
        self._session: AsyncSession | None = None
        self._tx: AsyncTransaction | None = None

    @property
    def _external(self) -> bool:
        return not isinstance(self._bind, AsyncEngine)

    async def raw(self) -> asyncpg.Connection:
        """The asyncpg connection: inside the request's transaction once one is open,
        else each statement on its own (autocommit)."""
        if self._raw is None:
            if self._conn is not None:
                # The tests' shared connection: the request's statements run in a SAVEPOINT
                # of their own, so an error rolls back only them (as a real request's would).
                self._tx = await self._conn.begin_nested()
                fairy = await self._conn.get_raw_connection()
            else:
                assert isinstance(self._bind, AsyncEngine)
                fairy = self._fairy = await greenlet_spawn(self._bind.sync_engine.raw_connection)
            self._adapter = fairy.dbapi_connection
            self._raw = self._adapter.driver_connection
        assert self._raw is not None
        return self._raw

    async def _connection(self) -> AsyncConnection:
        """The SQLAlchemy connection around the request's pooled connection."""
        if self._conn is None:
            await self.raw()
            engine = self._bind
            assert isinstance(engine, AsyncEngine)
            self._conn = AsyncConnection(engine, Connection(engine.sync_engine, self._fairy))
            self._fairy = None  # the Connection owns it now, and gives it back on close
        return self._conn

    async def begin(self) -> asyncpg.Connection:
        """The asyncpg connection inside the request's transaction, opened on first call."""
        raw = await self.raw()
        if self._tx is None:
            conn = await self._connection()
            self._tx = await conn.begin()
            # SQLAlchemy's adapter sends BEGIN lazily, before its own first statement;
            # statements sent straight to asyncpg need it now.
            if self._adapter._transaction is None:
                await self._adapter._start_transaction()
        return raw

    async def session(self) -> AsyncSession:
        """An ORM session on the same connection and in the same transaction."""
        if self._session is None:
            await self.begin()
            self._session = AsyncSession(
                bind=self._conn,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="create_savepoint" if self._external else "rollback_only",
            )
        return self._session

    async def commit(self) -> None:
        # The session joined the request's transaction: its commit only flushes (or
        # releases its savepoint); the transaction itself commits here.
        if self._session is not None:
            await self._session.commit()
        if self._tx is not None and self._tx.is_active:
            await self._tx.commit()
        self._tx = None

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
        if self._tx is not None and self._tx.is_active:
            await self._tx.rollback()
        self._tx = None

    async def close(self) -> None:
        """Give the connection back (rolling back anything left open)."""
        try:
            await self.rollback()
            if self._session is not None:
                await self._session.close()
        finally:
            fairy, self._fairy = self._fairy, None
            if fairy is not None:
                # Nothing was opened on it (no transaction): the checkin needs no I/O.
                fairy.close()
            elif self._conn is not None and not self._external:
                await self._conn.close()
            self._conn = self._raw = self._adapter = self._session = None
