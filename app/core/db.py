"""Engine and session factory. One transaction per request or job: only the caller commits."""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.transaction import Transaction
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    AsyncTransaction,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolProxiedConnection, QueuePool
from sqlalchemy.util import greenlet_spawn

from app.core.config import Settings, to_asyncpg_url
from app.core.errors import DatabaseUnavailable
from app.core.rows import dumps_text, loads

# jsonb in and out with orjson (the standard library's decoder cost 2-3 µs a value, and a
# page of 50 conversations holds over 50 values).
JSON_CODECS: dict[str, Any] = {"json_serializer": dumps_text, "json_deserializer": loads}


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        to_asyncpg_url(url),
        # A fixed set of connections: overflow connections would be opened and closed
        # under bursts (a TCP and TLS handshake and type introspection each time).
        pool_size=settings.db_pool_size,
        max_overflow=0,
        # No pre-ping: it costs a round trip per request. Dead connections are replaced
        # when they fail (RequestDb.discard, or SQLAlchemy's own disconnect handling) and
        # recycled hourly so idle-timeouts in between don't bite.
        pool_recycle=3600,
        # Nothing waits on the database unboundedly: a frozen or unreachable server makes
        # a request fail (503) within these bounds instead of hanging.
        pool_timeout=settings.db_pool_timeout,
        connect_args={
            # No JIT: our statements are short index lookups, and a statement whose cost is
            # estimated high (the events filter sums every subject type's lookup per row)
            # would be compiled for up to seconds before returning its few rows.
            "server_settings": {"application_name": "ccapi", "jit": "off"},
            "timeout": settings.db_connect_timeout,
            # asyncpg's client-side bound on each statement (and on its cancel request).
            "command_timeout": settings.db_statement_timeout,
        },
        **JSON_CODECS,
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

    What each costs: a read-only request, one pool checkout (one greenlet hop) and a
    checkin without any; a raw write, an asyncpg transaction on top (no SQLAlchemy
    ``Connection`` at all). Only a request that needs the ORM gets the SQLAlchemy
    connection around the same pooled connection, joined to the transaction already open.

    When the app's sessionmaker is bound to a connection (the tests' outer transaction),
    that connection is used and each request runs in a SAVEPOINT of its own inside it.

    SQLAlchemy's asyncpg adapter keeps its transaction in ``_transaction`` and opens one
    before its own first statement when that is None (``_start_transaction``): both are
    set here so the adapter joins, or commits, the transaction opened on the raw
    connection (hence the ``sqlalchemy<2.2`` pin).
    """

    __slots__ = (
        "_adapter",
        "_bind",
        "_conn",
        "_fairy",
        "_pooled",
        "_raw",
        "_raw_tx",
        "_session",
        "_tx",
    )

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        bind = sessionmaker.kw["bind"]
        self._bind: AsyncEngine | AsyncConnection = bind
        self._conn: AsyncConnection | None = bind if isinstance(bind, AsyncConnection) else None
        self._fairy: PoolProxiedConnection | None = None
        self._pooled: PoolProxiedConnection | None = None  # ours, whoever owns it now
        self._adapter: Any = None
        self._raw: asyncpg.Connection | None = None
        self._raw_tx: Transaction | None = None  # a raw write's transaction
        self._session: AsyncSession | None = None
        self._tx: AsyncTransaction | None = None  # the SQLAlchemy transaction (or SAVEPOINT)

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
                try:
                    fairy = await greenlet_spawn(self._bind.sync_engine.raw_connection)
                except Exception as exc:
                    # Whatever stops a checkout (refused, timed out, pool exhausted, a
                    # server starting up) is the database being unavailable.
                    raise DatabaseUnavailable() from exc
                self._fairy = self._pooled = fairy
            self._adapter = fairy.dbapi_connection
            self._raw = self._adapter.driver_connection
        assert self._raw is not None
        return self._raw

    async def begin(self) -> asyncpg.Connection:
        """The asyncpg connection inside the request's transaction, opened on first call."""
        raw = await self.raw()
        if self._tx is None and self._raw_tx is None:
            transaction = raw.transaction()
            await transaction.start()
            self._raw_tx = self._adapter._transaction = transaction
        return raw

    async def session(self) -> AsyncSession:
        """An ORM session on the same connection and in the same transaction."""
        if self._session is None:
            await self.begin()
            if self._conn is None:
                engine = self._bind
                assert isinstance(engine, AsyncEngine)
                # The Connection owns the pooled connection from now on (and checks it in).
                self._conn = AsyncConnection(engine, Connection(engine.sync_engine, self._fairy))
                self._fairy = None
            if self._tx is None:
                # The adapter already holds the open transaction: no second BEGIN is sent,
                # and committing this one commits it.
                self._tx = await self._conn.begin()
                self._raw_tx = None
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
        await self._end_raw(commit=True)

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
        if self._tx is not None and self._tx.is_active:
            await self._tx.rollback()
        self._tx = None
        await self._end_raw(commit=False)

    async def _end_raw(self, *, commit: bool) -> None:
        transaction, self._raw_tx = self._raw_tx, None
        if transaction is None:
            return
        self._adapter._transaction = None
        await (transaction.commit() if commit else transaction.rollback())

    def discard(self, exc: BaseException) -> None:
        """The connection failed under the request (lost, or a statement timed out): close
        it without another round trip and never give it back to the pool. A lost
        connection says the server went away, so every pooled connection opened before
        now is replaced at its next checkout (as SQLAlchemy does on a disconnect); after a
        timeout only this one is, the others may be fine."""
        fairy, self._pooled = self._pooled, None
        self._fairy = self._adapter = self._raw = self._raw_tx = None
        self._session = self._tx = None
        if self._conn is not None and not self._external:
            # The ORM Connection around ``fairy``: dropped without closing, which would
            # roll back on the dead connection (or check out a new one).
            self._conn = None
        if fairy is None or not fairy.is_valid:
            return
        engine = self._bind
        if isinstance(engine, AsyncEngine) and not isinstance(exc, TimeoutError):
            engine.sync_engine.pool._invalidate(fairy, exc, _checkin=False)
        # Outside a greenlet SQLAlchemy closes it at once (asyncpg terminate), no I/O.
        fairy.invalidate(exc)

    async def close(self) -> None:
        """Give the connection back (rolling back anything left open)."""
        try:
            await self.rollback()
            if self._session is not None:
                await self._session.close()
        finally:
            fairy, self._fairy = self._fairy, None
            if fairy is not None:
                if (
                    self._adapter is not None
                    and self._adapter._transaction is None
                    and _keeps(fairy)
                ):
                    fairy.close()  # nothing open on it and the pool keeps it: no I/O
                else:
                    await greenlet_spawn(fairy.close)
            elif self._conn is not None and not self._external:
                await self._conn.close()
            self._conn = self._raw = self._adapter = self._session = self._pooled = None


def _keeps(fairy: PoolProxiedConnection) -> bool:
    """Whether checking ``fairy`` in only queues it. A pool that is full (an overflow
    connection) closes it instead, which is I/O and must run in a greenlet."""
    pool = getattr(fairy, "_pool", None)
    return isinstance(pool, QueuePool) and fairy.is_valid and pool.checkedin() < pool.size()
