"""Verified API keys, cached in process; revocations reach every process at once.

Looking a key up costs a round trip per request; a key changes only when it is revoked.
So each process keeps what it learnt about a key (its principal, or that it is unknown or
revoked) for a short time, and every revocation sends ``NOTIFY ccapi_api_keys`` in its
transaction: each process LISTENs on its own connection and forgets every cached key as
soon as one commits. While that connection is down, entries live only ``fallback_ttl``
seconds (1 s), so a revoked key is refused everywhere within a second either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

CHANNEL = "ccapi_api_keys"
NOTIFY_SQL = f"SELECT pg_notify('{CHANNEL}', $1)"
MAX_ENTRIES = 10_000
# How often an idle LISTEN connection is checked (a statement bounded by connect_timeout).
PING_INTERVAL = 30.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its tenant and what it may do; ``person_id`` is the person
    the key acts for (``Acting-Person`` header or a person session token), None when it
    acts as the platform. ``reports`` is the tenant's ``managers_see_reports`` setting
    (``none``, ``direct`` or ``chain``), read with the person."""

    tenant_id: uuid.UUID
    api_key_id: uuid.UUID
    scopes: frozenset[str]
    person_id: uuid.UUID | None = None
    reports: str = "chain"
    person_session_id: uuid.UUID | None = None


@dataclass
class KeyEntry:
    """What a lookup found: ``principal`` is None for an unknown key."""

    principal: Principal | None
    revoked: bool
    last_used_at: datetime | None
    expires: float


# How long a process trusts an ``Acting-Person`` it looked up: that the person is one of
# the tenant's, and the tenant's ``managers_see_reports``. A change made through this
# process forgets the tenant's entries at once; other processes see it within this time.
ACTING_TTL = 5.0


class KeyCache:
    def __init__(
        self,
        ttl: float = 30.0,
        fallback_ttl: float = 1.0,
        connect_timeout: float = 5.0,
        acting_ttl: float = ACTING_TTL,
    ) -> None:
        self.ttl = ttl
        self.fallback_ttl = fallback_ttl
        self.connect_timeout = connect_timeout
        self.acting_ttl = acting_ttl
        self.listening = False
        self._entries: dict[str, KeyEntry] = {}
        # Called whenever the cache is cleared by a notification (or the LISTEN connection
        # is lost): other per-process caches invalidated by the same NOTIFY (the CORS
        # origins, app/core/middleware.py).
        self.on_clear: list[Callable[[], None]] = []
        # (tenant, person) -> (the tenant's managers_see_reports, expiry)
        self._acting: dict[tuple[uuid.UUID, uuid.UUID], tuple[str, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def get(self, digest: str) -> KeyEntry | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.expires < time.monotonic():
            del self._entries[digest]
            return None
        return entry

    def put(self, digest: str, row: Any) -> KeyEntry:
        """Remember a lookup's row (or its absence) for this key's digest."""
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        ttl = self.ttl if self.listening else self.fallback_ttl
        if row is None:
            entry = KeyEntry(None, False, None, time.monotonic() + ttl)
        else:
            principal = Principal(
                tenant_id=row["tenant_id"], api_key_id=row["id"], scopes=frozenset(row["scopes"])
            )
            entry = KeyEntry(
                principal,
                row["revoked_at"] is not None,
                row["last_used_at"],
                time.monotonic() + ttl,
            )
        self._entries[digest] = entry
        return entry

    def clear(self) -> None:
        self._entries.clear()
        self._acting.clear()

    # Acting-Person lookups (app/core/auth.py ``acting_as``) ------------------------------

    def acting(self, tenant_id: uuid.UUID, person_id: uuid.UUID) -> str | None:
        """The tenant's ``managers_see_reports`` if ``person_id`` was found in it lately."""
        entry = self._acting.get((tenant_id, person_id))
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._acting[(tenant_id, person_id)]
            return None
        return entry[0]

    def put_acting(self, tenant_id: uuid.UUID, person_id: uuid.UUID, reports: str) -> None:
        if len(self._acting) >= MAX_ENTRIES:
            self._acting.clear()
        self._acting[(tenant_id, person_id)] = (reports, time.monotonic() + self.acting_ttl)

    def forget_acting(self, tenant_id: uuid.UUID) -> None:
        """Forget the tenant's acting persons (its setting changed, or a person went)."""
        for key in [k for k in self._acting if k[0] == tenant_id]:
            del self._acting[key]

    # Invalidation across processes -----------------------------------------------------

    def start(self, dsn: str) -> None:
        """LISTEN for revocations on a connection of its own (reconnecting as needed)."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._listen(dsn), name="key-cache-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.listening = False

    def _on_notify(self, *_: Any) -> None:
        self.clear()
        for forget in self.on_clear:
            forget()

    async def _listen(self, dsn: str) -> None:
        while not self._stopping.is_set():
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(dsn, timeout=self.connect_timeout)
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                # Whatever was cached while not listening may have missed a revocation.
                self._on_notify()
                self.listening = True
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(PING_INTERVAL):
                            await lost.wait()
                    if not lost.is_set():
                        # A connection that went quiet (server frozen, network gone)
                        # would otherwise keep entries alive while missing revocations.
                        await conn.execute("SELECT 1", timeout=self.connect_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Any failure (refused, reset, timed out, the server restarting): listen
                # again after a pause; never let the task die.
                log.warning("key cache listener down", extra={"error": repr(exc)[:200]})
            finally:
                self.listening = False
                self._on_notify()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=1.0)
