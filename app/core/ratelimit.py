"""Rate limits shared by every process of a deployment, served from small local leases.

Each limit is a fixed window (``window`` seconds from the first request after the last
window ended) holding ``limit`` units per key, counted in one shared counter: a PostgreSQL
row (``rate_limit_counters``, the default) or a Redis key (``CCAPI_REDIS_URL``, through
the ``limits`` library's storage, whose increment-and-expire is one atomic script).

Asking the shared counter on every request would put a round trip on the hot path (about
as much as the request's own work). So a process *leases* units: one atomic statement
takes ``min(lease, limit - taken)`` units from the counter and the process serves
requests from its lease until it runs out, then leases again. The counter never hands out
more than ``limit`` units a window, so all processes together never allow more than the
limit. The price: units a process has leased but not used when the window ends are lost
(at most ``lease - 1`` per process and window), so a client spread over many processes may
be refused slightly before it made ``limit`` requests. ``lease`` defaults to 1 % of the
limit (1..1000): a key at 600/minute costs one statement every 6 requests, and a limit of
10 is exact. Once the counter says a window is used up, the process refuses that key
without asking again until the window ends.

``RateLimit`` headers report ``limit - taken + (units left in this process's lease)`` as
remaining: what the counter knew at this process's last lease, so another process's
recent requests show up only when this one leases again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.core.db import RequestDb

log = logging.getLogger(__name__)

MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Grant:
    """What one lease got: ``granted`` units, the counter's ``taken`` after it, and the
    seconds until its window ends."""

    granted: int
    taken: int
    reset: float


class Counters(Protocol):
    """A shared counter store: ``take`` leases up to ``want`` units of ``key``'s window."""

    async def take(
        self, key: str, want: int, limit: int, window: int, db: RequestDb | None
    ) -> Grant: ...

    async def close(self) -> None: ...


# One statement per lease, on the request's own connection outside any transaction (it
# commits by itself, so the counter row is locked only for the statement). A window that
# has ended starts afresh; ``granted`` keeps what this lease got.
LEASE_SQL = """
INSERT INTO rate_limit_counters AS c (key, window_end, taken, granted)
SELECT $1::text, statement_timestamp() + make_interval(secs => $3::float8), g, g
FROM least($2::int, $4::int) AS g
ON CONFLICT (key) DO UPDATE SET
    window_end = CASE WHEN c.window_end > statement_timestamp()
        THEN c.window_end ELSE excluded.window_end END,
    taken = CASE WHEN c.window_end > statement_timestamp()
        THEN c.taken + least($2, greatest($4 - c.taken, 0)) ELSE excluded.taken END,
    granted = CASE WHEN c.window_end > statement_timestamp()
        THEN least($2, greatest($4 - c.taken, 0)) ELSE excluded.granted END
RETURNING granted, taken,
    extract(epoch FROM window_end - statement_timestamp())::float8 AS reset
"""

# Windows that ended a while ago: keys no longer in use (run once a minute per process).
CLEANUP_SQL = (
    "DELETE FROM rate_limit_counters WHERE window_end < statement_timestamp() - $1::interval"
)
CLEANUP_EVERY = 60.0


class PostgresCounters:
    """Counters in PostgreSQL (``rate_limit_counters``), leased on the request's connection
    (the one it uses anyway: no second connection, no extra checkout)."""

    def __init__(self) -> None:
        self._next_cleanup = 0.0

    async def take(
        self, key: str, want: int, limit: int, window: int, db: RequestDb | None
    ) -> Grant:
        assert db is not None
        conn = await db.raw()
        row = await conn.fetchrow(LEASE_SQL, key, want, float(window), limit)
        assert row is not None
        now = time.monotonic()
        if now >= self._next_cleanup:
            self._next_cleanup = now + CLEANUP_EVERY
            await conn.execute(CLEANUP_SQL, timedelta(minutes=1))
        return Grant(row["granted"], row["taken"], row["reset"])

    async def close(self) -> None:
        return None


class RedisCounters:
    """Counters in Redis, through the ``limits`` library's async storage (redis-py): its
    ``incr`` adds and sets the expiry in one script. A lease adds ``want`` and keeps what
    fitted under the limit; the counter may pass the limit, which only means "used up".

    If Redis cannot be reached, requests are not refused for it: the process leases itself
    the whole limit for a window (so the limit holds per process) and logs a warning."""

    def __init__(self, url: str, prefix: str) -> None:
        from limits.aio.storage import RedisStorage

        uri = url if url.startswith("async+") else "async+" + url
        self.storage = RedisStorage(uri, implementation="redispy", key_prefix=prefix)
        errors = self.storage.base_exceptions
        self._errors = errors if isinstance(errors, tuple) else (errors,)
        self._warned = 0.0

    async def take(
        self, key: str, want: int, limit: int, window: int, db: RequestDb | None
    ) -> Grant:
        try:
            count = await self.storage.incr(key, window, amount=want)
            reset = await self.storage.get_expiry(key) - time.time()
        except self._errors as exc:
            now = time.monotonic()
            if now >= self._warned:
                self._warned = now + 10.0
                log.warning("rate limit store unreachable", extra={"error": str(exc)[:200]})
            return Grant(limit, limit, float(window))  # the whole limit, for this process
        granted = max(0, min(want, limit - (count - want)))
        return Grant(granted, count, max(reset, 0.0))

    async def close(self) -> None:
        bridge: Any = self.storage.bridge
        storage = getattr(bridge, "storage", None)
        if storage is not None:
            await storage.aclose()


@dataclass(slots=True)
class _Lease:
    tokens: int  # units leased and not yet used by this process
    taken: int  # the shared counter's value after this process's last lease
    deadline: float  # time.monotonic() when the window ends


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    reset: int  # whole seconds until the window ends (at least 1)
    headers: list[tuple[bytes, bytes]]


class RateLimiter:
    """One limit (``limit`` units a ``window`` of seconds per key) named ``name`` in the
    ``RateLimit`` headers, counted in ``counters`` and served from local leases."""

    def __init__(
        self, name: str, limit: int, counters: Counters, *, window: int = 60, lease: int = 0
    ) -> None:
        self.name = name
        self.limit = limit
        self.window = window
        self.lease = lease or min(1000, max(1, limit // 100))
        self.counters = counters
        self.policy = (b"ratelimit-policy", f'"{name}";q={limit};w={window}'.encode())
        self._leases: dict[str, _Lease] = {}
        self._leasing: dict[str, asyncio.Event] = {}

    def _decide(self, allowed: bool, lease: _Lease, now: float) -> Decision:
        remaining = max(0, self.limit - lease.taken + lease.tokens)
        reset = max(1, math.ceil(lease.deadline - now))
        value = f'"{self.name}";r={remaining};t={reset}'.encode()
        return Decision(allowed, remaining, reset, [self.policy, (b"ratelimit", value)])

    def refused(self, key: str) -> Decision | None:
        """The refusal, if this process already knows ``key``'s window is used up (no I/O)."""
        lease = self._leases.get(key)
        if lease is None or lease.tokens or lease.taken < self.limit:
            return None
        now = time.monotonic()
        if lease.deadline <= now:
            return None
        return self._decide(False, lease, now)

    async def acquire(self, key: str, db: RequestDb | None) -> Decision:
        """Use one unit of ``key``'s limit, leasing more from the shared counter if needed.

        Concurrent requests of one key that find the lease empty wait for a single lease
        rather than each sending one (which would hoard units in this process)."""
        while True:
            now = time.monotonic()
            lease = self._leases.get(key)
            if lease is not None and lease.deadline <= now:
                lease = None
            if lease is not None and lease.tokens:
                lease.tokens -= 1
                return self._decide(True, lease, now)
            if lease is not None and lease.taken >= self.limit:
                return self._decide(False, lease, now)
            leasing = self._leasing.get(key)
            if leasing is not None:
                await leasing.wait()  # then look again: its units may be left
                continue
            leasing = self._leasing[key] = asyncio.Event()
            try:
                lease = await self._take(key, db)
            finally:
                del self._leasing[key]
                leasing.set()
            now = time.monotonic()
            if not lease.tokens:
                return self._decide(False, lease, now)
            lease.tokens -= 1
            return self._decide(True, lease, now)

    async def _take(self, key: str, db: RequestDb | None) -> _Lease:
        grant = await self.counters.take(
            f"{self.name}:{key}", self.lease, self.limit, self.window, db
        )
        deadline = time.monotonic() + grant.reset
        current = self._leases.get(key)
        # The same window if its end agrees (a later window ends at least a window on).
        if current is not None and abs(current.deadline - deadline) < self.window / 2:
            current.tokens += grant.granted
            current.taken = max(current.taken, grant.taken)
            return current
        if len(self._leases) >= MAX_KEYS:
            self._leases.clear()
        lease = self._leases[key] = _Lease(grant.granted, grant.taken, deadline)
        return lease


class RateLimits:
    """The app's limits: ``requests`` per API key, ``auth_failures`` per client address."""

    def __init__(self, requests: RateLimiter, auth_failures: RateLimiter) -> None:
        self.requests = requests
        self.auth_failures = auth_failures

    @classmethod
    def from_settings(cls, settings: Any) -> RateLimits:
        counters: Counters
        if settings.redis_url:
            counters = RedisCounters(settings.redis_url, settings.redis_key_prefix)
        else:
            counters = PostgresCounters()
        return cls(
            RateLimiter(
                "default",
                settings.rate_limit_per_minute,
                counters,
                lease=settings.rate_limit_lease,
            ),
            RateLimiter(
                "auth", settings.auth_failures_per_minute, counters, lease=settings.rate_limit_lease
            ),
        )

    async def close(self) -> None:
        await self.requests.counters.close()
