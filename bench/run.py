"""Load benchmark driver: the API against two yardsticks, with wrk, on one machine.

    .venv/bin/python bench/run.py [--rounds 3] [--duration 10] [--json-out results.json]
    .venv/bin/python bench/run.py --app-dir /tmp/ccapi-head --app-dir .   # before / after
    .venv/bin/python bench/run.py --memory                                # RSS growth only

What it does, all on 127.0.0.1:

1. (Re)creates ``--database-url`` (default ``postgresql://postgres@127.0.0.1:5432/ccapi_bench``),
   migrates it with each served checkout's own ``app.core.migrations.upgrade``, provisions a
   calling tenant and one other tenant through the admin API, and seeds in SQL: 100,000
   conversations (91 % in the calling tenant), 200 people per tenant, and in the calling
   tenant goals, action plans with items, feedback, follow-ups and their events (written in
   many small transactions so each batch has its own txid, like real writes). One webhook
   endpoint subscribed to every event is registered, so every POST also writes its outbox
   rows; no worker runs, so nothing is delivered. ``--keep-db`` reuses a database whose
   seeded row counts check out (rows POSTed by earlier runs are deleted first).
2. Starts three servers as subprocesses: ours (``ccapi serve --no-worker``, shipped log
   level; ``--app-dir DIR`` serves another checkout, and may be repeated to compare several
   in one run), bench/yardstick_bare.py and bench/yardstick_fastapi.py.
3. For each scenario, checks every target answers 2xx, warms each up, then runs
   ``--rounds`` rounds of ``wrk -t2 -c32 -d<duration>s --latency`` alternating the targets'
   order, and reports medians: req/s, p50/p99, server CPU per request (``/proc/<pid>/stat``),
   PostgreSQL CPU per request, bytes per response, ratios to the yardsticks, and the cores
   used by the server, by wrk and by everything else on the machine.

Non-2xx responses are counted by the wrk script itself; any run that has some is flagged
loudly and the exit status is 3.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil
from yardstick_shared import encode_cursor

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/ccapi_bench"
WEBHOOK_URL = "http://127.0.0.1:9/hook"  # discard port: never answered, never sent (no worker)
META_TABLE = "bench_meta"
SEED_VERSION = 2  # 2: the managers report to person 0, the head of the chain

# Seed shape (calling tenant "a", other tenant "b").
SHARE_A = 0.91
PEOPLE_PER_TENANT = 200
MANAGERS = 20
GOALS = 3_000
PLANS = 1_000
ITEMS_PER_PLAN = 3
FEEDBACK = 3_000
FOLLOW_UPS = 3_000
CONVERSATION_EVENTS = 5_000  # conversation.created events for the newest conversations
EVENT_BATCH = 100  # events per transaction
SAMPLE_IDS = 2_000
# --cadence: a third tenant for GET /v1/people/{id}/cadence and the cadence breach scan
# (bench/cadence_scan.py), seeded after the others from its own random stream, so tenants
# a and b (and every other scenario's data) stay as they are.
CADENCE_PEOPLE = 10_000
CADENCE_MANAGERS = 100
CADENCE_CONVERSATIONS = 100_000
CADENCE_DAYS = {"career": 90}
CADENCE_COMPLETED = 0.6  # share of the cadence tenant's conversations completed

LOG = print
DB_URL = [DEFAULT_DB]  # the bench database, set from --database-url


# ---------------------------------------------------------------------------------------
# Small helpers


def say(message: str) -> None:
    LOG(message, flush=True)


def loud(message: str) -> None:
    bar = "!" * 100
    LOG(f"\n{bar}\n!!! {message}\n{bar}\n", flush=True)


def uuid7_at(moment: datetime, rng: random.Random) -> uuid.UUID:
    """A version-7 UUID for ``moment``: seeded rows sort by creation time like real ones."""
    ms = int(moment.timestamp() * 1000)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64
    value |= 0b10 << 62 | rng.getrandbits(62)
    return uuid.UUID(int=value)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


def cmd_output(argv: list[str], **kwargs: Any) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"<{exc}>"
    return (done.stdout or done.stderr).strip()


# ---------------------------------------------------------------------------------------
# CPU and memory from /proc


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_pids(pid: int) -> list[int]:
    """The process and its descendants (``ccapi serve`` runs uvicorn in-process, but a
    wrapper would show up here)."""
    try:
        proc = psutil.Process(pid)
        return [pid, *(c.pid for c in proc.children(recursive=True))]
    except psutil.Error:
        return [pid]


def tree_cpu_seconds(pid: int) -> float:
    return sum(proc_cpu_seconds(p) for p in tree_pids(pid))


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


_CLIENT = re.compile(r"\(\d+\)|\[local\]")


class PostgresCpu:
    """CPU of the bench database's backends and of PostgreSQL's shared processes (WAL
    writer, checkpointer, …), from /proc, sampled during a run so that backends which come
    and go (pool overflow) are counted up to their last sample; other databases' backends
    are left out (they show up as "other" cores)."""

    def __init__(self, database: str) -> None:
        self.database = f" {database} "
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.mine: dict[int, bool] = {}
        self.samples = 0

    def _is_mine(self, pid: int) -> bool:
        if pid not in self.mine:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                return False
            shared = not _CLIENT.search(cmdline) and "autovacuum worker" not in cmdline
            self.mine[pid] = comm == "postgres" and (self.database in cmdline or shared)
        return self.mine[pid]

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or not self._is_mine(pid := int(entry.name)):
                continue
            cpu = proc_cpu_seconds(pid)
            if cpu:
                # A process first seen after the first sample started during the run.
                self.first.setdefault(pid, cpu if self.samples == 0 else 0.0)
                self.last[pid] = cpu
        self.samples += 1

    def seconds(self) -> float:
        return sum(max(0.0, self.last[pid] - self.first[pid]) for pid in self.last)


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle, over all cores, since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in first[:8]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK


# ---------------------------------------------------------------------------------------
# Subprocesses


class Children:
    """Every process the driver starts, so all of them are stopped on any exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: only what it started
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)


CHILDREN = Children()


@dataclass
class Target:
    name: str
    kind: str  # "ours", "bare" or "fastapi"
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    app_dir: Path | None = None
    description: str = ""
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    pid: int = 0
    auth: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def clean_env() -> dict[str, str]:
    drop = ("CCAPI_", "YARDSTICK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    for name in ("DATABASE_URL", "PYTHONPATH"):
        env.pop(name, None)
    return env


def ours_env(url: str, admin_token: str, app_dir: Path) -> dict[str, str]:
    env = clean_env()
    env.update(
        {
            "DATABASE_URL": url,
            "CCAPI_ENV": "development",
            "CCAPI_ADMIN_TOKEN": admin_token,
            "CCAPI_RATE_LIMIT_PER_MINUTE": "100000000",
            "CCAPI_WEBHOOK_ALLOW_HTTP": "true",
            "CCAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "PYTHONPATH": str(app_dir),
        }
    )
    return env


# Serves another checkout: the CLI of whatever ``app`` PYTHONPATH / cwd resolves to.
LAUNCH_OTHER = (
    "import sys, app; print('ccapi app package: ' + app.__file__, file=sys.stderr, flush=True); "
    "from app.cli import app as cli; sys.argv[0] = 'ccapi'; cli()"
)


def git_describe(directory: Path) -> str:
    """The commit, and a digest of uncommitted changes to app/ and alembic/ if any (new
    files included), so a figure can be tied to the exact code it measured."""
    git = ["git", "-C", str(directory)]
    sha = cmd_output([*git, "rev-parse", "--short", "HEAD"])
    dirty = cmd_output([*git, "status", "--porcelain", "--", "app", "alembic"])
    if not dirty:
        return sha
    digest = hashlib.sha256(cmd_output([*git, "diff", "HEAD", "--", "app", "alembic"]).encode())
    for line in sorted(dirty.splitlines()):
        if line.startswith("??"):
            path = directory / line[3:].strip()
            files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            for file in files:
                with contextlib.suppress(OSError):
                    digest.update(file.read_bytes())
    return f"{sha} + uncommitted changes in app/ or alembic/ (digest {digest.hexdigest()[:12]})"


def check_app_origin(target: Target) -> None:
    """The ``app`` package the server will import must come from its app dir."""
    assert target.app_dir is not None
    out = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        env=target.env,
        cwd=target.cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"importing app for {target.name} failed:\n{out.stderr[-3000:]}")
    origin = Path(out.stdout.strip()).resolve()
    if not origin.is_relative_to(target.app_dir.resolve()):
        raise RuntimeError(
            f"{target.name}: app imports from {origin}, not from {target.app_dir} "
            "(check PYTHONPATH and the editable install)"
        )


def make_ours(app_dir: Path, label: str | None, url: str, admin_token: str, many: bool) -> Target:
    app_dir = app_dir.resolve()
    env = ours_env(url, admin_token, app_dir)
    port = free_port()
    ccapi = Path(sys.executable).with_name("ccapi")
    if app_dir == REPO and ccapi.exists():
        argv = [str(ccapi), "serve", "--no-worker", "--port", str(port)]
    else:
        argv = [sys.executable, "-c", LAUNCH_OTHER, "serve", "--no-worker", "--port", str(port)]
    described = git_describe(app_dir)
    if label is None:
        label = "ours"
        if many:
            label += "@" + described.split()[0] + ("+wip" if "uncommitted" in described else "")
    return Target(
        name=label,
        kind="ours",
        argv=argv,
        env=env,
        cwd=app_dir,
        port=port,
        app_dir=app_dir,
        description=f"ccapi serve --no-worker from {app_dir} @ {described}",
    )


def make_yardstick(kind: str, url: str, tenant_id: str, pool_size: int) -> Target:
    port = free_port()
    script = BENCH / ("yardstick_bare.py" if kind == "bare" else "yardstick_fastapi.py")
    argv = [sys.executable, str(script), "--database-url", url, "--port", str(port)]
    argv += ["--pool-size", str(pool_size)]
    if kind == "bare":
        argv += ["--tenant-id", tenant_id]
    described = {
        "bare": "bare ASGI callable + asyncpg + orjson, no auth (bench/yardstick_bare.py)",
        "fastapi": "FastAPI + cached key dependency + asyncpg + orjson "
        "(bench/yardstick_fastapi.py)",
    }[kind]
    return Target(
        name=kind, kind=kind, argv=argv, env=clean_env(), cwd=REPO, port=port, description=described
    )


def log_tail(path: Path | None, chars: int = 3000) -> str:
    if path is None or not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - chars))
        return handle.read().decode(errors="replace")


def start_target(target: Target, tmp: Path, timeout: float = 120.0) -> None:
    """Start the server and wait until it answers; raises with its log tail on failure."""
    if target.kind == "ours":
        check_app_origin(target)
    target.log_path = tmp / f"server-{target.name}.log"
    with target.log_path.open("ab") as log:
        target.proc = CHILDREN.start(
            target.argv, env=target.env, cwd=target.cwd, stdout=log, stderr=subprocess.STDOUT
        )
    probe = "/healthz" if target.kind == "ours" else "/v1/conversations?limit=1"
    headers = {"Authorization": target.auth} if target.kind == "fastapi" and target.auth else {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=target.base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if target.proc.poll() is not None:
                raise RuntimeError(
                    f"{target.name} exited with {target.proc.returncode} at start-up:\n"
                    + log_tail(target.log_path)
                )
            try:
                if client.get(probe, headers=headers).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{target.name} did not answer within {timeout:.0f} s")
    target.pid = listener_pid(target.port) or target.proc.pid
    if target.pid != target.proc.pid and target.pid not in tree_pids(target.proc.pid):
        raise RuntimeError(f"port {target.port} is served by pid {target.pid}, not ours")


def start_with_retries(target: Target, tmp: Path, retries: int, wait: float) -> None:
    """Ours may be mid-edit by someone else: an import or syntax error is retried."""
    for attempt in range(1, retries + 2):
        try:
            start_target(target, tmp)
            return
        except RuntimeError as exc:
            if target.proc is not None:
                CHILDREN.stop(target.proc)
            if target.kind != "ours" or attempt > retries:
                raise
            say(f"{target.name} failed to start (attempt {attempt}): {exc}")
            say(f"retrying in {wait:.0f} s")
            time.sleep(wait)


def listener_pid(port: int) -> int | None:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return int(conn.pid)
    except psutil.Error:
        pass
    return None


# ---------------------------------------------------------------------------------------
# Database: create, migrate, provision, seed


def migrate(url: str, app_dirs: Sequence[Path]) -> None:
    """``app.core.migrations.upgrade(url)`` of each served checkout, in the order given."""
    code = "import sys; from app.core import migrations; migrations.upgrade(sys.argv[1])"
    for app_dir in dict.fromkeys(d.resolve() for d in app_dirs):
        env = clean_env()
        env["PYTHONPATH"] = str(app_dir)
        say(f"migrating with {app_dir}")
        done = subprocess.run(
            [sys.executable, "-c", code, url],
            env=env,
            cwd=app_dir,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"migration with {app_dir} failed:\n{done.stderr[-3000:]}")


async def load_meta(url: str) -> dict[str, Any] | None:
    try:
        conn = await asyncpg.connect(url)
    except (asyncpg.InvalidCatalogNameError, OSError):
        return None
    try:
        raw = await conn.fetchval(f"SELECT value FROM {META_TABLE} WHERE key = 'state'")
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()
    return json.loads(raw) if raw else None


COUNTED_TABLES = (
    "people",
    "conversations",
    "goals",
    "action_plans",
    "action_items",
    "feedback",
    "follow_ups",
    "events",
    "webhook_endpoints",
)


async def seeded_counts(conn: asyncpg.Connection, state: dict[str, Any]) -> dict[str, int]:
    cutoff = datetime.fromisoformat(state["cutoff"])
    tenants = [uuid.UUID(state[t]) for t in ("tenant_a", "tenant_b", "tenant_c") if t in state]
    counts: dict[str, int] = {}
    for table in COUNTED_TABLES:
        column = "occurred_at" if table == "events" else "created_at"
        counts[table] = await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE tenant_id = ANY($1) AND {column} <= $2",
            tenants,
            cutoff,
        )
    return counts


async def reuse_database(url: str, cadence: bool = False) -> dict[str, Any] | None:
    """The stored state if the seeded rows are all there (and the cadence tenant when
    ``cadence``); rows added by earlier runs' POSTs are deleted so each run starts from the
    same data."""
    state = await load_meta(url)
    if state is None or state.get("seed_version") != SEED_VERSION:
        return None
    if cadence and "tenant_c" not in state:
        return None
    conn = await asyncpg.connect(url)
    try:
        if await seeded_counts(conn, state) != state["counts"]:
            return None
        ok = await conn.fetchval(
            "SELECT count(*) FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
            uuid.UUID(state["key_id"]),
        )
        if ok != 1:
            return None
        cutoff = datetime.fromisoformat(state["cutoff"])
        tenants = [uuid.UUID(state["tenant_a"]), uuid.UUID(state["tenant_b"])]
        async with conn.transaction():
            # Nothing refers to rows the benchmark POSTed: skip the foreign-key triggers, which
            # would otherwise scan the referencing tables once per deleted conversation.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for sql in (
                "DELETE FROM idempotency_records WHERE tenant_id = ANY($1) AND created_at > $2",
                "DELETE FROM webhook_deliveries WHERE tenant_id = ANY($1) AND created_at > $2",
                "DELETE FROM events WHERE tenant_id = ANY($1) AND occurred_at > $2",
                "DELETE FROM conversations WHERE tenant_id = ANY($1) AND created_at > $2",
            ):
                status = await conn.execute(sql, tenants, cutoff)
                say(f"  reset: {sql.split(' WHERE')[0]}: {status.split()[-1]} rows")
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    return state


async def recreate_database(url: str) -> None:
    name = db_name(url)
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    admin = await asyncpg.connect(with_db(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def provision(ours: Target, admin_token: str, cadence: bool = False) -> dict[str, Any]:
    """The calling tenant and another one (and the cadence tenant ``c`` with its own key
    when ``cadence``), through the admin API."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    out: dict[str, Any] = {}
    with httpx.Client(base_url=ours.base_url, timeout=30) as client:
        for label in ("a", "b", "c") if cadence else ("a", "b"):
            created = client.post(
                "/v1/admin/tenants", json={"name": f"bench tenant {label}"}, headers=headers
            )
            if created.status_code != 201:
                raise RuntimeError(f"creating a tenant: {created.status_code} {created.text}")
            body = created.json()
            out[f"tenant_{label}"] = body["id"]
            if label == "a":
                out["key"] = body["api_key"]["secret"]
                out["key_id"] = body["api_key"]["id"]
            if label == "c":
                out["key_c"] = body["api_key"]["secret"]
    return out


def register_webhook(ours: Target, key: str) -> str:
    with httpx.Client(base_url=ours.base_url, timeout=30) as client:
        created = client.post(
            "/v1/webhook-endpoints",
            json={"url": WEBHOOK_URL, "description": "bench: every event, never delivered"},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
        )
    if created.status_code != 201:
        raise RuntimeError(f"registering the webhook: {created.status_code} {created.text}")
    endpoint_id: str = created.json()["id"]
    return endpoint_id


TIMEZONES = ("Europe/Paris", "America/New_York", "Asia/Singapore", "UTC", "Europe/London")
KINDS = ("career", "career", "career", "mentorship", "skip_level", "stay")


def _row(columns: Sequence[str], values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values.get(c) for c in columns)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, datetime | date):
            out[key] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif key == "metadata":
            out[key] = json.loads(value)
        else:
            out[key] = value
    return out


def _base(rng: random.Random, tenant: uuid.UUID, created: datetime) -> dict[str, Any]:
    return {
        "id": uuid7_at(created, rng),
        "tenant_id": tenant,
        "metadata": "{}",
        "created_at": created,
        "updated_at": created,
    }


async def copy_rows(
    conn: asyncpg.Connection, table: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if rows:
        columns = list(rows[0])
        await conn.copy_records_to_table(
            table, records=[_row(columns, r) for r in rows], columns=columns
        )
    return rows


def make_people(rng: random.Random, tenant: uuid.UUID, now: datetime) -> list[dict[str, Any]]:
    people = []
    start = now - timedelta(days=800)
    for i in range(PEOPLE_PER_TENANT):
        created = start + timedelta(minutes=i)
        # Person 0 heads the chain: the other managers report to them, and every employee
        # to a manager (person 0 included), so person 0 sees every conversation.
        manager = None if i == 0 else people[0 if i < MANAGERS else i % MANAGERS]["id"]
        row = _base(rng, tenant, created)
        title = "Engineering Manager" if i < MANAGERS else "Software Engineer"
        row.update(
            name=f"Person {i:03d}",
            email=f"person{i:03d}@example.com",
            title="Head of Engineering" if i == 0 else title,
            manager_id=manager,
            timezone=TIMEZONES[i % len(TIMEZONES)],
            status="active",
        )
        people.append(row)
    return people


def make_conversations(
    rng: random.Random,
    tenants: tuple[uuid.UUID, uuid.UUID],
    people: dict[uuid.UUID, list[dict[str, Any]]],
    total: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """``total`` conversations, one every 10 minutes back from now, 91 % in tenant a."""
    rows = []
    for g in range(1, total + 1):
        tenant = tenants[1] if g % 100 >= round(SHARE_A * 100) else tenants[0]
        staff = people[tenant]
        employee = staff[rng.randrange(MANAGERS, PEOPLE_PER_TENANT)]
        created = now - timedelta(seconds=600 * g + rng.randrange(0, 600))
        row = _base(rng, tenant, created)
        age = (now - created).days
        start = created + timedelta(days=7, hours=rng.randrange(0, 8))
        duration = rng.choice((30, 45, 60))
        status = "draft"
        if start < now:
            roll = rng.random()
            status = "completed" if roll < 0.8 else "canceled" if roll < 0.9 else "draft"
        elif age < 7:
            status = "scheduled" if rng.random() < 0.7 else "draft"
        row.update(
            employee_id=employee["id"],
            facilitator_id=employee["manager_id"],
            kind=rng.choice(KINDS),
            status=status,
            scheduled_start=None if status == "draft" else start,
            duration_minutes=duration,
            timezone=employee["timezone"],
            location="Room 4.12" if g % 3 else None,
            meeting_url="https://meet.example.com/abc-defg-hij" if g % 3 == 0 else None,
            employee_objectives="Talk about moving towards a staff role and the skills it needs."
            if g % 2
            else None,
            facilitator_objectives="Agree on one stretch project for next quarter.",
            summary=(
                "Discussed growth areas (system design, mentoring). Agreed to lead the "
                "billing migration design review and to revisit progress in six weeks."
            )
            if status == "completed"
            else None,
            reschedule_count=0,
            employee_prepared_at=start - timedelta(days=1) if status == "completed" else None,
            facilitator_prepared_at=start - timedelta(hours=2) if status == "completed" else None,
            completed_at=start + timedelta(minutes=duration) if status == "completed" else None,
            canceled_at=start - timedelta(days=1) if status == "canceled" else None,
            cancel_reason="Facilitator on leave." if status == "canceled" else None,
        )
        rows.append(row)
    return rows


def _spread(rng: random.Random, now: datetime, days: int = 700) -> datetime:
    return now - timedelta(seconds=rng.randrange(3600, days * 86400))


def make_goals(
    rng: random.Random,
    tenant: uuid.UUID,
    staff: list[dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    rows = []
    statuses = ("proposed", "agreed", "in_progress", "in_progress", "achieved", "abandoned")
    for i in range(GOALS):
        owner = staff[rng.randrange(MANAGERS, PEOPLE_PER_TENANT)]
        created = _spread(rng, now)
        status = rng.choice(statuses)
        agreed = status in ("agreed", "in_progress", "achieved")
        row = _base(rng, tenant, created)
        row.update(
            owner_id=owner["id"],
            title=f"Lead a cross-team design review ({i})",
            description="Own the design and review process for one cross-team project.",
            category=rng.choice(("skill", "role", "project", "learning", "other")),
            target_date=(created + timedelta(days=180)).date(),
            success_criteria="The review is held and its decisions are recorded.",
            progress={"achieved": 100, "in_progress": rng.randrange(5, 95)}.get(status, 0),
            status=status,
            target_role="Staff Engineer" if i % 4 == 0 else None,
            employee_agreed_at=created + timedelta(days=1) if agreed else None,
            facilitator_agreed_at=created + timedelta(days=2) if agreed else None,
            facilitator_agreed_by=owner["manager_id"] if agreed else None,
            achieved_at=created + timedelta(days=120) if status == "achieved" else None,
            abandoned_at=created + timedelta(days=60) if status == "abandoned" else None,
            abandon_reason="Priorities changed." if status == "abandoned" else None,
        )
        rows.append(row)
    return rows


async def seed(
    url: str, ids: dict[str, Any], conversations: int, seed_value: int
) -> dict[str, Any]:
    """Everything in SQL (COPY), then events in small transactions, then VACUUM ANALYZE."""
    rng = random.Random(seed_value)
    now = datetime.now(UTC).replace(microsecond=0)
    tenant_a, tenant_b = uuid.UUID(ids["tenant_a"]), uuid.UUID(ids["tenant_b"])
    key_id = uuid.UUID(ids["key_id"])
    conn = await asyncpg.connect(url)
    try:
        people = {t: make_people(rng, t, now) for t in (tenant_a, tenant_b)}
        for staff in people.values():
            await copy_rows(conn, "people", staff[:1])
            await copy_rows(conn, "people", staff[1:MANAGERS])
            await copy_rows(conn, "people", staff[MANAGERS:])
        convs = make_conversations(rng, (tenant_a, tenant_b), people, conversations, now)
        for part in chunks(convs, 20_000):
            await copy_rows(conn, "conversations", list(part))
        convs_a = [c for c in convs if c["tenant_id"] == tenant_a]
        staff_a = people[tenant_a]

        goals = await copy_rows(conn, "goals", make_goals(rng, tenant_a, staff_a, now))
        links = []
        for goal in goals[::2]:
            conv = rng.choice(convs_a)
            links.append(
                {
                    "goal_id": goal["id"],
                    "conversation_id": conv["id"],
                    "tenant_id": tenant_a,
                    "created_at": goal["created_at"],
                }
            )
        await copy_rows(conn, "goal_conversations", links)

        plans, items = [], []
        for i in range(PLANS):
            owner = staff_a[rng.randrange(MANAGERS, PEOPLE_PER_TENANT)]
            created = _spread(rng, now)
            plan = _base(rng, tenant_a, created)
            plan.update(
                title=f"Plan towards the next level ({i})",
                owner_id=owner["id"],
                goal_id=rng.choice(goals)["id"] if i % 2 == 0 else None,
                conversation_id=rng.choice(convs_a)["id"] if i % 2 == 1 else None,
                status="completed" if i % 5 == 0 else "active",
            )
            plans.append(plan)
            for position in range(ITEMS_PER_PLAN):
                status = rng.choice(("todo", "in_progress", "done", "blocked"))
                item = _base(rng, tenant_a, created + timedelta(minutes=position + 1))
                item.update(
                    plan_id=plan["id"],
                    title=f"Step {position + 1}: shadow a design review",
                    assignee_id=owner["id"] if position % 2 == 0 else owner["manager_id"],
                    due_date=(created + timedelta(days=30 * (position + 1))).date(),
                    status=status,
                    support_needed="An intro to the architecture group." if position else None,
                    position=position,
                    completed_at=created + timedelta(days=10) if status == "done" else None,
                )
                items.append(item)
        await copy_rows(conn, "action_plans", plans)
        await copy_rows(conn, "action_items", items)

        feedback = []
        for i in range(FEEDBACK):
            giver, recipient = rng.sample(staff_a, 2)
            fb = _base(rng, tenant_a, _spread(rng, now))
            fb.update(
                giver_id=giver["id"],
                recipient_id=recipient["id"],
                kind=rng.choice(("strength", "growth_area", "guidance", "recognition")),
                body="Your write-up of the incident made the follow-up work easy to plan. "
                f"Keep doing that ({i}).",
                visibility=rng.choice(("recipient", "recipient_and_manager")),
                conversation_id=rng.choice(convs_a)["id"] if i % 3 == 0 else None,
                goal_id=rng.choice(goals)["id"] if i % 3 == 1 else None,
            )
            feedback.append(fb)
        await copy_rows(conn, "feedback", feedback)

        follow_ups = []
        for i in range(FOLLOW_UPS):
            conv = rng.choice(convs_a)
            created = conv["created_at"] + timedelta(days=8)
            created = min(created, now - timedelta(hours=1))
            status = rng.choice(("pending", "completed", "completed", "canceled"))
            fu = _base(rng, tenant_a, created)
            fu.update(
                conversation_id=conv["id"],
                assignee_id=conv["facilitator_id"],
                due_at=created + timedelta(days=42),
                note=f"Check progress on the stretch project ({i}).",
                status=status,
                completed_at=created + timedelta(days=40) if status == "completed" else None,
                canceled_at=created + timedelta(days=3) if status == "canceled" else None,
                cancel_reason="Superseded by a new conversation." if status == "canceled" else None,
            )
            follow_ups.append(fu)
        await copy_rows(conn, "follow_ups", follow_ups)

        # Events for what was seeded, oldest first, EVENT_BATCH per transaction: each batch
        # gets its own txid from the column default, as writes through the API would.
        sources = [
            ("person", staff_a),
            ("goal", goals),
            ("action_plan", plans),
            ("action_item", items),
            ("feedback", feedback),
            ("follow_up", follow_ups),
            ("conversation", convs_a[:CONVERSATION_EVENTS]),
        ]
        events = []
        for subject, rows in sources:
            for row in rows:
                events.append(
                    {
                        "id": uuid7_at(row["created_at"], rng),
                        "tenant_id": tenant_a,
                        "type": f"{subject}.created",
                        "occurred_at": row["created_at"],
                        "subject_type": subject,
                        "subject_id": row["id"],
                        "data": json.dumps({"object": subject, **_jsonable(row)}),
                        "api_key_id": key_id,
                    }
                )
        events.sort(key=lambda e: (e["occurred_at"], e["id"]))
        for batch in chunks(events, EVENT_BATCH):
            await copy_rows(conn, "events", list(batch))  # autocommit: one transaction each
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    return {"seeded_at": now.isoformat(), "events": len(events)}


def make_cadence_tenant(
    rng: random.Random, tenant: uuid.UUID, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """10,000 people (person 0 heads the chain, 99 managers report to them, everyone else
    to a manager) and 100,000 conversations spread over the last 400 days: 60 % completed
    (at various past dates), the rest canceled, drafts or scheduled ahead."""
    people: list[dict[str, Any]] = []
    start = now - timedelta(days=500)
    for i in range(CADENCE_PEOPLE):
        manager = None if i == 0 else people[0 if i < CADENCE_MANAGERS else i % CADENCE_MANAGERS]
        row = _base(rng, tenant, start + timedelta(seconds=30 * i))
        row.update(
            name=f"Cadence Person {i:05d}",
            email=f"cadence{i:05d}@example.com",
            title="Engineering Manager" if i < CADENCE_MANAGERS else "Software Engineer",
            manager_id=None if manager is None else manager["id"],
            timezone=TIMEZONES[i % len(TIMEZONES)],
            status="active",
        )
        people.append(row)
    convs = []
    for _ in range(CADENCE_CONVERSATIONS):
        employee = people[rng.randrange(1, CADENCE_PEOPLE)]
        created = now - timedelta(seconds=rng.randrange(3600, 400 * 86400))
        start_at = created + timedelta(days=rng.randrange(0, 14), hours=rng.randrange(0, 8))
        duration = rng.choice((30, 45, 60))
        roll = rng.random()
        if start_at >= now:
            status = "scheduled"
        elif roll < CADENCE_COMPLETED:
            status = "completed"
        else:
            status = "canceled" if roll < CADENCE_COMPLETED + 0.2 else "draft"
        row = _base(rng, tenant, created)
        row.update(
            employee_id=employee["id"],
            facilitator_id=employee["manager_id"],
            kind=rng.choice(KINDS),
            status=status,
            scheduled_start=None if status == "draft" else start_at,
            duration_minutes=duration,
            timezone=employee["timezone"],
            location="Room 4.12",
            facilitator_objectives="Agree on one stretch project for next quarter.",
            summary="Discussed growth areas." if status == "completed" else None,
            reschedule_count=0,
            completed_at=start_at + timedelta(minutes=duration) if status == "completed" else None,
            canceled_at=start_at - timedelta(days=1) if status == "canceled" else None,
            cancel_reason="Facilitator on leave." if status == "canceled" else None,
        )
        convs.append(row)
    return people, convs


async def seed_cadence(url: str, tenant_id: str, seed_value: int) -> None:
    """The cadence tenant's people and conversations (COPY), its ``cadence_days``."""
    rng = random.Random(seed_value + 10)  # its own stream: tenants a and b are unchanged
    now = datetime.now(UTC).replace(microsecond=0)
    tenant = uuid.UUID(tenant_id)
    people, convs = make_cadence_tenant(rng, tenant, now)
    conn = await asyncpg.connect(url)
    try:
        await copy_rows(conn, "people", people[:1])
        await copy_rows(conn, "people", people[1:CADENCE_MANAGERS])
        await copy_rows(conn, "people", people[CADENCE_MANAGERS:])
        for part in chunks(convs, 20_000):
            await copy_rows(conn, "conversations", list(part))
        await conn.execute(
            "UPDATE tenants SET cadence_days = $1::jsonb WHERE id = $2",
            json.dumps(CADENCE_DAYS),
            tenant,
        )
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def save_meta(url: str, state: dict[str, Any]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key text PRIMARY KEY, value text NOT NULL)"
        )
        state["counts"] = await seeded_counts(conn, state)
        await conn.execute(
            f"INSERT INTO {META_TABLE} VALUES ('state', $1) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            json.dumps(state),
        )
    finally:
        await conn.close()


async def load_samples(url: str, state: dict[str, Any], seed_value: int) -> dict[str, Any]:
    """Ids and cursors the wrk scripts pick from (reproducible for a given ``--seed``)."""
    rng = random.Random(seed_value)
    tenant = uuid.UUID(state["tenant_a"])
    cutoff = datetime.fromisoformat(state["cutoff"])
    conn = await asyncpg.connect(url)

    async def ids(sql: str) -> list[Any]:
        rows = await conn.fetch(sql, tenant, cutoff)
        rows = sorted(rows, key=lambda r: str(r[0]))
        return rng.sample(rows, min(SAMPLE_IDS, len(rows)))

    try:
        newest = (
            "SELECT created_at, id FROM conversations WHERE tenant_id = $1 AND created_at <= $2 "
            "ORDER BY created_at DESC, id DESC"
        )
        ordered = await conn.fetch(newest, tenant, cutoff)
        depth = round(len(ordered) * 90_000 / 91_000)
        deep = ordered[max(0, depth - 250) : depth + 250]
        out = {
            "conversations": [str(r[0]) for r in await ids(_ids_sql("conversations"))],
            "deep_cursors": [
                encode_cursor(r[0], r[1]) for r in rng.sample(deep, min(200, len(deep)))
            ],
            "deep_depth": depth,
            "people": [str(r[0]) for r in await ids(_ids_sql("people"))],
            "goals": [str(r[0]) for r in await ids(_ids_sql("goals"))],
            "action_plans": [str(r[0]) for r in await ids(_ids_sql("action_plans"))],
            "action_items": [
                (str(r[1]), str(r[0]))
                for r in await ids(
                    "SELECT id, plan_id FROM action_items WHERE tenant_id = $1 AND created_at <= $2"
                )
            ],
            "feedback": [str(r[0]) for r in await ids(_ids_sql("feedback"))],
            "follow_ups": [str(r[0]) for r in await ids(_ids_sql("follow_ups"))],
        }
        staff = await conn.fetch(
            "SELECT id, manager_id FROM people WHERE tenant_id = $1 AND manager_id IS NOT NULL "
            "ORDER BY id",
            tenant,
        )
        out["pairs"] = [(str(r["id"]), str(r["manager_id"])) for r in staff]
        # The head of the management chain (no manager): sees every conversation of tenant a.
        out["head"] = str(
            await conn.fetchval(
                "SELECT id FROM people WHERE tenant_id = $1 AND manager_id IS NULL", tenant
            )
        )
        n_events = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant)
        out["events_after"] = str(
            await conn.fetchval(
                "SELECT id FROM events WHERE tenant_id = $1 ORDER BY txid, id OFFSET $2 LIMIT 1",
                tenant,
                n_events // 2,
            )
        )
        out["events_total"] = n_events
        if "tenant_c" in state:
            out["cadence_people"] = [
                str(r[0])
                for r in rng.sample(
                    await conn.fetch(
                        "SELECT id FROM people WHERE tenant_id = $1 ORDER BY id",
                        uuid.UUID(state["tenant_c"]),
                    ),
                    SAMPLE_IDS,
                )
            ]
            out["key_c"] = state["key_c"]
    finally:
        await conn.close()
    return out


def _ids_sql(table: str) -> str:
    return f"SELECT id FROM {table} WHERE tenant_id = $1 AND created_at <= $2"


# ---------------------------------------------------------------------------------------
# Scenarios and wrk scripts


@dataclass
class Scenario:
    name: str
    title: str
    kinds: tuple[str, ...]
    gets: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    post_share: float = 0.0  # fraction of requests that are POSTs (1.0: all)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request


# Scenarios sent with ``Acting-Person`` and the same requests without it (README: within
# 1.3x of them in server CPU per request and in req/s).
ACTING_PAIRS = (("get_one_acting", "get_one"), ("page50_acting", "page50"))


ALL = ("ours", "fastapi", "bare")


def build_scenarios(samples: dict[str, Any]) -> list[Scenario]:
    bodies = [
        json.dumps({"employee_id": e, "facilitator_id": f, "kind": "career"})
        for e, f in samples["pairs"]
    ]
    convs = samples["conversations"]
    deep = samples["deep_cursors"]
    ours_only: list[Scenario] = []
    for name, path, key in (
        ("people", "/v1/people", "people"),
        ("goals", "/v1/goals", "goals"),
        ("action_plans", "/v1/action-plans", "action_plans"),
        ("feedback", "/v1/feedback", "feedback"),
        ("follow_ups", "/v1/follow-ups", "follow_ups"),
    ):
        ids = samples[key]
        ours_only.append(
            Scenario(
                f"{name}_get",
                f"GET {path}/{{id}} ({len(ids)} ids)",
                ("ours",),
                [f"{path}/{i}" for i in ids],
            )
        )
        ours_only.append(
            Scenario(f"{name}_page50", f"GET {path}?limit=50", ("ours",), [f"{path}?limit=50"])
        )
        if name == "action_plans":
            items = samples["action_items"]
            ours_only.append(
                Scenario(
                    "action_items_get",
                    f"GET /v1/action-plans/{{plan}}/items/{{id}} ({len(items)} ids)",
                    ("ours",),
                    [f"/v1/action-plans/{p}/items/{i}" for p, i in items],
                )
            )
            ours_only.append(
                Scenario(
                    "action_items_page50",
                    "GET /v1/action-items?limit=50",
                    ("ours",),
                    ["/v1/action-items?limit=50"],
                )
            )
    after = samples["events_after"]
    ours_only.append(
        Scenario(
            "events_page50",
            f"GET /v1/events?after=<event {samples['events_total'] // 2:,} of "
            f"{samples['events_total']:,}>&limit=50",
            ("ours",),
            [f"/v1/events?after={after}&limit=50"],
        )
    )
    # As the head of the management chain (setting ``chain``, the default): every
    # conversation is theirs to see, so the same ids and the same 50 rows are answered.
    acting = {"Acting-Person": samples["head"]}
    if "cadence_people" in samples:
        people = samples["cadence_people"]
        ours_only.append(
            Scenario(
                "cadence",
                f"GET /v1/people/{{id}}/cadence ({len(people)} random ids of the cadence tenant: "
                f"{CADENCE_PEOPLE:,} people, {CADENCE_CONVERSATIONS:,} conversations, "
                f"cadence_days {json.dumps(CADENCE_DAYS)})",
                ("ours",),
                [f"/v1/people/{p}/cadence" for p in people],
                headers={"Authorization": f"Bearer {samples['key_c']}"},
            )
        )
    return [
        Scenario(
            "get_one",
            f"GET /v1/conversations/{{id}} ({len(convs)} random ids)",
            ALL,
            [f"/v1/conversations/{c}" for c in convs],
        ),
        Scenario(
            "get_one_acting",
            f"GET /v1/conversations/{{id}} ({len(convs)} random ids) with Acting-Person: the "
            "head of the management chain",
            ("ours",),
            [f"/v1/conversations/{c}" for c in convs],
            headers=acting,
        ),
        Scenario(
            "page50",
            "GET /v1/conversations?limit=50 (first page)",
            ALL,
            ["/v1/conversations?limit=50"],
        ),
        Scenario(
            "page50_acting",
            "GET /v1/conversations?limit=50 (first page) with Acting-Person: the head of the "
            "management chain",
            ("ours",),
            ["/v1/conversations?limit=50"],
            headers=acting,
        ),
        Scenario(
            "page50_deep",
            f"GET /v1/conversations?limit=50&cursor=<~{samples['deep_depth']:,} rows deep> "
            f"({len(deep)} cursors)",
            ALL,
            [f"/v1/conversations?limit=50&cursor={c}" for c in deep],
        ),
        Scenario(
            "post",
            f"POST /v1/conversations ({len(bodies)} employee/manager pairs)",
            ALL,
            bodies=bodies,
            post_share=1.0,
        ),
        *ours_only,
    ]


def mixed_scenario(scenarios: list[Scenario]) -> Scenario:
    """For --memory: about 53 % GET one, 27 % first page, 20 % POST."""
    by_name = {s.name: s for s in scenarios}
    gets = by_name["get_one"].gets + by_name["page50"].gets * (len(by_name["get_one"].gets) // 2)
    return Scenario(
        "mixed",
        "mixed: ~53 % GET one, ~27 % GET page of 50, ~20 % POST",
        ("ours",),
        gets,
        by_name["post"].bodies,
        0.2,
    )


def lua_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


LUA_TEMPLATE = r"""-- Generated by bench/run.py for scenario %(scenario)s on %(target)s.
local auth = %(auth)s
local extra = { %(extra)s }
local gets = { %(gets)s }
local bodies = { %(bodies)s }
local post_share = %(post_share)s
local idempotency = %(idempotency)s
local stop_after = %(stop_after)d
local marker = %(marker)s
local nonce = %(nonce)d

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- Globals (read by done() through thread:get): responses seen and non-2xx among them.
seen = 0
non2xx = 0
local prebuilt = {}
local counter = 0
local stopped = false
local bad_written = false

function init(args)
  math.randomseed(nonce + tid * 7919)
  local headers = {}
  if auth then headers["Authorization"] = auth end
  for name, value in pairs(extra) do headers[name] = value end
  for i, path in ipairs(gets) do prebuilt[i] = wrk.format("GET", path, headers) end
end

function request()
  if #bodies > 0 and (#prebuilt == 0 or math.random() < post_share) then
    counter = counter + 1
    local headers = { ["Content-Type"] = "application/json" }
    if auth then headers["Authorization"] = auth end
    for name, value in pairs(extra) do headers[name] = value end
    if idempotency then
      headers["Idempotency-Key"] = string.format(
        "bench-%%d-%%d-%%d-%%d", nonce, tid, counter, math.random(1, 1000000000))
    end
    return wrk.format("POST", "/v1/conversations", headers, bodies[math.random(#bodies)])
  end
  return prebuilt[math.random(#prebuilt)]
end

function response(status, headers, body)
  seen = seen + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if not bad_written then
      bad_written = true
      local f = io.open(marker .. "bad-" .. tid, "w")
      if f then f:write(status .. "\n" .. string.sub(body or "", 1, 2000)); f:close() end
    end
  end
  if stop_after > 0 and seen >= stop_after and not stopped then
    stopped = true
    local f = io.open(marker .. "done-" .. tid, "w")
    if f then f:write(seen); f:close() end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad, count = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    count = count + (t:get("seen") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%%.0f,"duration_us":%%.0f,"bytes":%%.0f,"non2xx":%%.0f,' ..
    '"responses_seen":%%.0f,"errors":{"connect":%%.0f,"read":%%.0f,"write":%%.0f,' ..
    '"status":%%.0f,"timeout":%%.0f},"latency_us":{"mean":%%.1f,"stdev":%%.1f,"max":%%.0f,' ..
    '"p50":%%.0f,"p90":%%.0f,"p99":%%.0f,"p999":%%.0f}}\n',
    summary.requests, summary.duration, summary.bytes, bad, count,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


def write_lua(
    scenario: Scenario, target: Target, directory: Path, stop_after: int = 0
) -> tuple[Path, Path]:
    """The script and the prefix of the marker files its threads write."""
    nonce = secrets.randbelow(1_000_000_000)
    marker = directory / f"m{nonce}-"
    script = LUA_TEMPLATE % {
        "scenario": scenario.name,
        "target": target.name,
        "auth": lua_str(target.auth) if target.auth else "nil",
        "extra": ", ".join(f"[{lua_str(k)}] = {lua_str(v)}" for k, v in scenario.headers.items()),
        "gets": ", ".join(lua_str(g) for g in scenario.gets),
        "bodies": ", ".join(lua_str(b) for b in scenario.bodies),
        "post_share": repr(scenario.post_share),
        "idempotency": "true" if target.kind == "ours" else "false",
        "stop_after": stop_after,
        "marker": lua_str(str(marker)),
        "nonce": nonce,
    }
    path = directory / f"{scenario.name}-{target.name}-{nonce}.lua"
    path.write_text(script)
    return path, marker


# ---------------------------------------------------------------------------------------
# Measuring


@dataclass
class WrkSettings:
    threads: int
    connections: int
    timeout: str


def precheck(target: Target, scenario: Scenario) -> int:
    """A few requests as wrk will send them; all must be 2xx. Returns a body's size."""
    headers = {"Authorization": target.auth} if target.auth else {}
    headers.update(scenario.headers)
    size = 0
    with httpx.Client(base_url=target.base_url, timeout=30) as client:
        requests: list[tuple[str, str, str | None]] = [("GET", g, None) for g in scenario.gets[:3]]
        if scenario.bodies:
            requests.append(("POST", "/v1/conversations", scenario.bodies[0]))
        for method, path, body in requests:
            extra = dict(headers)
            if body is not None:
                extra["Content-Type"] = "application/json"
                if target.kind == "ours":
                    extra["Idempotency-Key"] = f"bench-check-{uuid.uuid4()}"
            answer = client.request(method, path, headers=extra, content=body)
            if not 200 <= answer.status_code < 300:
                loud(
                    f"{scenario.name} on {target.name}: {method} {path} answered "
                    f"{answer.status_code}, stopping.\n{answer.text[:3000]}"
                )
                raise SystemExit(2)
            size = len(answer.content)
            # The same rows with and without the extra headers (not when they carry another
            # tenant's key: the cadence scenario).
            if scenario.headers and "Authorization" not in scenario.headers and method == "GET":
                without = {k: v for k, v in extra.items() if k not in scenario.headers}
                plain = client.get(path, headers=without)
                if _ids(answer.json()) != _ids(plain.json()):
                    loud(
                        f"{scenario.name} on {target.name}: GET {path} with {scenario.headers} "
                        "answers other rows than without them, stopping."
                    )
                    raise SystemExit(2)
    return size


def _ids(body: Any) -> list[str]:
    """The ids a GET answered (one resource, or a page's rows)."""
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return [row["id"] for row in body["data"]]
    return [body["id"]] if isinstance(body, dict) and "id" in body else []


def acting_table(results: dict[str, Any], ours_names: list[str]) -> str:
    """Each ``Acting-Person`` scenario beside the same requests without the header."""
    lines = [
        "\n### Acting-Person: the same requests with and without the header\n",
        "| request | target | req/s without / with | req/s ratio | server CPU µs without / "
        "with | CPU ratio | PG CPU µs without / with |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for acting, plain in ACTING_PAIRS:
        if acting not in results or plain not in results:
            continue
        for name in ours_names:
            a = results[acting]["summary"].get(name)
            b = results[plain]["summary"].get(name)
            if a is None or b is None:
                continue
            lines.append(
                f"| {plain} | {name} | {fmt(b['rps'])} / {fmt(a['rps'])} | "
                f"{ratio(b['rps'], a['rps'])} | {fmt(b['server_cpu_us_per_req'])} / "
                f"{fmt(a['server_cpu_us_per_req'])} | "
                f"{ratio(a['server_cpu_us_per_req'], b['server_cpu_us_per_req'])} | "
                f"{fmt(b['pg_cpu_us_per_req'])} / {fmt(a['pg_cpu_us_per_req'])} |"
            )
    return "\n".join(lines) if len(lines) > 3 else ""


def wait_for_quiet(max_wait: float, threshold: float) -> tuple[float, float]:
    """Wait (at most ``max_wait`` s) until the machine's busy cores, sampled over 0.5 s
    while nothing is being driven, drop under ``threshold``. Returns (waited, last busy)."""
    started = time.monotonic()
    busy = float("nan")
    for _ in range(int(max_wait / 0.5) + 1):
        before, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(0.5)
        busy = (machine_busy_seconds() - before) / (time.monotonic() - t0)
        if busy < threshold or time.monotonic() - started >= max_wait:
            break
    return time.monotonic() - started, busy


def run_wrk(
    target: Target,
    scenario: Scenario,
    duration: float,
    wrk: WrkSettings,
    tmp: Path,
    stop_after_total: int = 0,
    quiet: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """One wrk run; returns its summary with server, wrk, PostgreSQL and machine CPU.
    ``quiet`` = (max wait, busy-cores threshold) to wait for before starting."""
    waited, busy_before_run = wait_for_quiet(*quiet) if quiet else (0.0, float("nan"))
    per_thread = math.ceil(stop_after_total / wrk.threads) if stop_after_total else 0
    lua, marker = write_lua(scenario, target, tmp, per_thread)
    argv = [
        "wrk",
        f"-t{wrk.threads}",
        f"-c{wrk.connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        wrk.timeout,
        "-s",
        str(lua),
        target.base_url,
    ]
    out_path = lua.with_suffix(".out")
    pg = PostgresCpu(db_name(DB_URL[0]))
    pg.sample()
    server_before = tree_cpu_seconds(target.pid)
    busy_before = machine_busy_seconds()
    started = time.monotonic()
    with out_path.open("wb") as out:
        proc = CHILDREN.start(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = started + duration + 60
    rusage = None
    interrupted = False
    ticks = 0
    while rusage is None:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            rusage = usage
            break
        now = time.monotonic()
        if per_thread and not interrupted:
            finished = sum(
                1 for t in range(1, wrk.threads + 1) if Path(f"{marker}done-{t}").exists()
            )
            if finished == wrk.threads:
                os.kill(proc.pid, signal.SIGINT)  # wrk then prints its summary and exits
                interrupted = True
        if now > deadline:
            CHILDREN.stop(proc)
            raise RuntimeError(f"wrk did not finish within {duration + 60:.0f} s")
        ticks += 1
        if ticks % 5 == 0:
            pg.sample()
        time.sleep(0.05)
    wall = time.monotonic() - started
    server_cpu = tree_cpu_seconds(target.pid) - server_before
    pg.sample()
    pg_cpu = pg.seconds()
    busy = machine_busy_seconds() - busy_before
    CHILDREN.procs.remove(proc)
    text = out_path.read_text(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}):\n{text[-3000:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    wrk_cpu = rusage.ru_utime + rusage.ru_stime
    requests = max(1, int(result["requests"]))
    seconds = result["duration_us"] / 1e6
    bad_samples = []
    for t in range(1, wrk.threads + 1):
        bad = Path(f"{marker}bad-{t}")
        if bad.exists():
            bad_samples.append(bad.read_text(errors="replace"))
    socket_errors = sum(v for k, v in result["errors"].items() if k != "status")
    result.update(
        {
            "target": target.name,
            "scenario": scenario.name,
            "rps": result["requests"] / seconds if seconds else float("nan"),
            "p50_ms": result["latency_us"]["p50"] / 1000,
            "p99_ms": result["latency_us"]["p99"] / 1000,
            "bytes_per_response": result["bytes"] / requests,
            "server_cpu_s": server_cpu,
            "server_cpu_us_per_req": server_cpu / requests * 1e6,
            "pg_cpu_us_per_req": pg_cpu / requests * 1e6,
            "wrk_cpu_s": wrk_cpu,
            "wrk_cpu_us_per_req": wrk_cpu / requests * 1e6,
            "wall_s": wall,
            "server_cores": server_cpu / wall,
            "wrk_cores": wrk_cpu / wall,
            "pg_cores": pg_cpu / wall,
            "other_cores": max(0.0, busy - server_cpu - wrk_cpu - pg_cpu) / wall,
            "machine_busy_cores": busy / wall,
            "server_rss_mb": rss_mb(target.pid),
            "quiet_wait_s": waited,
            "busy_cores_before": busy_before_run,
            "socket_errors": socket_errors,
            "first_bad_responses": bad_samples,
            "wrk_argv": argv,
        }
    )
    if result["non2xx"] or socket_errors:
        loud(
            f"{scenario.name} on {target.name}: {result['non2xx']:.0f} non-2xx responses and "
            f"{socket_errors:.0f} socket errors out of {result['requests']:.0f} requests\n"
            + "\n---\n".join(s[:1500] for s in bad_samples)
        )
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = (
        "rps",
        "p50_ms",
        "p99_ms",
        "server_cpu_us_per_req",
        "pg_cpu_us_per_req",
        "wrk_cpu_us_per_req",
        "bytes_per_response",
        "server_cores",
        "wrk_cores",
        "pg_cores",
        "other_cores",
        "machine_busy_cores",
        "server_rss_mb",
    )
    out: dict[str, Any] = {k: median([r[k] for r in runs]) for k in keys}
    rps = [r["rps"] for r in runs]
    out["rps_spread_pct"] = (max(rps) - min(rps)) / out["rps"] * 100 if out["rps"] else 0.0
    out["non2xx"] = sum(r["non2xx"] for r in runs)
    out["socket_errors"] = sum(r["socket_errors"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    out["runs"] = len(runs)
    return out


# ---------------------------------------------------------------------------------------
# Reporting


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def ratio(value: float | None, base: float | None) -> str:
    if not value or not base or math.isnan(value) or math.isnan(base):
        return "-"
    return f"{value / base:.2f}x"


def table(scenario: Scenario, summaries: dict[str, dict[str, Any]], ours_names: list[str]) -> str:
    bare = summaries.get("bare")
    yard = summaries.get("fastapi")
    first_ours = summaries.get(ours_names[0]) if len(ours_names) > 1 else None
    header = [
        "target",
        "req/s",
        "req/s spread",
        "p50 ms",
        "p99 ms",
        "CPU µs/req",
        "PG µs/req",
        "bytes/resp",
        "req/s vs bare",
        "CPU vs FastAPI-ys",
        "p99 vs bare",
    ]
    if first_ours:
        header.append(f"CPU vs {ours_names[0]}")
    header += ["srv cores", "wrk cores", "PG cores", "other cores", "non-2xx"]
    lines = [
        f"\n### {scenario.name}: {scenario.title}\n",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for name, s in summaries.items():
        bad = s["non2xx"] + s["socket_errors"]
        cells = [
            name,
            fmt(s["rps"]),
            f"{s['rps_spread_pct']:.0f}%",
            fmt(s["p50_ms"], 2),
            fmt(s["p99_ms"], 2),
            fmt(s["server_cpu_us_per_req"]),
            fmt(s["pg_cpu_us_per_req"]),
            fmt(s["bytes_per_response"]),
            ratio(s["rps"], bare["rps"]) if bare else "-",
            ratio(s["server_cpu_us_per_req"], yard["server_cpu_us_per_req"]) if yard else "-",
            ratio(s["p99_ms"], bare["p99_ms"]) if bare else "-",
        ]
        if first_ours:
            cells.append(
                ratio(s["server_cpu_us_per_req"], first_ours["server_cpu_us_per_req"])
                if name in ours_names
                else "-"
            )
        cells += [
            fmt(s["server_cores"], 2),
            fmt(s["wrk_cores"], 2),
            fmt(s["pg_cores"], 2),
            fmt(s["other_cores"], 2),
            f"**{bad:.0f} FLAGGED**" if bad else "0",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment(args: argparse.Namespace, url: str) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    async def pg_version() -> str:
        conn = await asyncpg.connect(with_db(url, "postgres"))
        try:
            return str(await conn.fetchval("SELECT version()"))
        finally:
            await conn.close()

    versions = {}
    for module in ("uvicorn", "fastapi", "starlette", "pydantic", "asyncpg", "orjson", "uvloop"):
        with contextlib.suppress(ImportError, AttributeError):
            versions[module] = __import__(module).__version__
    wrk_version = cmd_output(["wrk", "-v"]).splitlines()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": f"cd {shlex.quote(os.getcwd())} && "
        + shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "uname": cmd_output(["uname", "-a"]),
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().strip(),
        "postgresql": asyncio.run(pg_version()),
        "python": platform.python_version(),
        "versions": versions,
        "wrk": wrk_version[0] if wrk_version else "?",
    }


def print_environment(env: dict[str, Any]) -> None:
    say("# ccapi load benchmark")
    say(f"- date: {env['date']}")
    say(f"- command: `{env['command']}`")
    say(f"- uname -a: `{env['uname']}`")
    say(f"- CPU: {env['cpu_model']} x {env['cpus']} (loadavg at start: {env['loadavg_at_start']})")
    say(f"- PostgreSQL: {env['postgresql']}")
    libs = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    say(f"- Python {env['python']}; {libs}")
    say(f"- {env['wrk']}")


# ---------------------------------------------------------------------------------------
# Main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument(
        "--app-dir",
        action="append",
        default=[],
        metavar="[LABEL=]DIR",
        help="serve ours from this checkout (repeatable: compare checkouts in one run; "
        "migrations run from each in the order given, so list the older first)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds per target/scenario")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-timeout", default="30s")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20251126)
    parser.add_argument(
        "--pool-size", type=int, default=10, help="yardsticks' asyncpg pool (fixed size)"
    )
    parser.add_argument("--keep-db", action="store_true", help="reuse a correctly seeded db")
    parser.add_argument(
        "--cadence",
        action="store_true",
        help=f"also seed the cadence tenant ({CADENCE_PEOPLE:,} people, "
        f"{CADENCE_CONVERSATIONS:,} conversations) for the cadence scenario and "
        "bench/cadence_scan.py; implied by --scenarios naming cadence",
    )
    parser.add_argument("--scenarios", help="comma-separated subset of scenario names")
    parser.add_argument("--targets", help="comma-separated subset of target names")
    parser.add_argument("--memory", action="store_true", help="only the RSS growth test")
    parser.add_argument("--memory-first", type=int, default=10_000)
    parser.add_argument("--memory-mixed", type=int, default=200_000)
    parser.add_argument("--start-retries", type=int, default=3)
    parser.add_argument("--retry-wait", type=float, default=60.0)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=5.0,
        help="before each measured run, wait up to this many seconds for the machine to be "
        "idle (shared machines); 0: don't wait",
    )
    parser.add_argument(
        "--quiet-threshold", type=float, default=0.3, help="busy cores counted as idle"
    )
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--keep-tmp", action="store_true", help="keep scripts and server logs")
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0:
        parser.error("--rounds >= 1, --duration >= 1, --warmup >= 0")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    if args.scenarios and "cadence" in args.scenarios.split(","):
        args.cadence = True
    return args


def app_dirs(args: argparse.Namespace) -> list[tuple[str | None, Path]]:
    out: list[tuple[str | None, Path]] = []
    for spec in args.app_dir or [str(REPO)]:
        label, _, directory = spec.rpartition("=")
        path = Path(directory).expanduser().resolve()
        if not (path / "app" / "__init__.py").exists():
            raise SystemExit(f"--app-dir {path}: no app/ package there")
        out.append((label or None, path))
    return out


def prepare(
    args: argparse.Namespace, ours: list[Target], admin_token: str, tmp: Path
) -> dict[str, Any]:
    """A migrated, seeded database (reused with --keep-db) and every ours target running."""
    url = args.database_url
    state = None
    if args.keep_db and asyncio.run(load_meta(url)) is not None:
        migrate(url, [t.app_dir for t in ours if t.app_dir])
        state = asyncio.run(reuse_database(url, args.cadence))
    if args.keep_db:
        say("reusing the seeded database" if state else "no database as seeded: seeding anew")
    if state is None:
        say(f"creating {db_name(url)}")
        asyncio.run(recreate_database(url))
        migrate(url, [t.app_dir for t in ours if t.app_dir])
    for target in ours:
        start_with_retries(target, tmp, args.start_retries, args.retry_wait)
        say(f"started {target.name} (pid {target.pid}) on {target.base_url}")
    if state is None:
        started = time.perf_counter()
        ids = provision(ours[0], admin_token, args.cadence)
        info = asyncio.run(seed(url, ids, args.conversations, args.seed))
        if args.cadence:
            asyncio.run(seed_cadence(url, ids["tenant_c"], args.seed))
        endpoint = register_webhook(ours[0], ids["key"])
        state = {
            **ids,
            **info,
            "seed_version": SEED_VERSION,
            "conversations": args.conversations,
            "webhook_endpoint": endpoint,
            "cutoff": datetime.now(UTC).isoformat(),
        }
        asyncio.run(save_meta(url, state))
        say(f"seeded in {time.perf_counter() - started:.1f} s: {state['counts']}")
    return state


def bench(args: argparse.Namespace, tmp: Path) -> int:
    url = args.database_url
    DB_URL[0] = url
    env = environment(args, url)
    print_environment(env)
    admin_token = "bench-admin-" + secrets.token_hex(16)
    dirs = app_dirs(args)
    ours = [make_ours(path, label, url, admin_token, len(dirs) > 1) for label, path in dirs]
    names = [t.name for t in ours]
    for i, target in enumerate(ours):
        if names.count(target.name) > 1:
            target.name += f"-{i + 1}"
    state = prepare(args, ours, admin_token, tmp)
    key = state["key"]
    for target in ours:
        target.auth = f"Bearer {key}"
    samples = asyncio.run(load_samples(url, state, args.seed))
    scenarios = build_scenarios(samples)
    wrk = WrkSettings(args.threads, args.connections, args.wrk_timeout)
    report: dict[str, Any] = {"environment": env, "state": _public_state(state)}

    if args.memory:
        report["memory"] = memory_test(args, ours, scenarios, wrk, tmp)
        return finish(args, report, [])

    yardsticks = [
        make_yardstick("fastapi", url, state["tenant_a"], args.pool_size),
        make_yardstick("bare", url, state["tenant_a"], args.pool_size),
    ]
    yardsticks[0].auth = f"Bearer {key}"
    targets = [*ours, *yardsticks]
    if args.targets:
        wanted = set(args.targets.split(","))
        for target in [t for t in targets if t.name not in wanted]:
            if target.proc is not None:
                CHILDREN.stop(target.proc)
        targets = [t for t in targets if t.name in wanted]
    for target in targets:
        if target.kind != "ours":
            start_with_retries(target, tmp, 0, 0)
            say(f"started {target.name} (pid {target.pid}) on {target.base_url}")
    if args.scenarios:
        wanted = set(args.scenarios.split(","))
        unknown = wanted - {s.name for s in scenarios}
        if unknown:
            raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
        scenarios = [s for s in scenarios if s.name in wanted]

    say("\n## Targets")
    for target in targets:
        say(f"- **{target.name}**: {target.description}; pid {target.pid}, {target.base_url}")
    say(
        f"\nData: {state['conversations']:,} conversations ({SHARE_A:.0%} in the calling "
        f"tenant), {PEOPLE_PER_TENANT} people per tenant, {GOALS:,} goals, {PLANS:,} plans with "
        f"{PLANS * ITEMS_PER_PLAN:,} items, {FEEDBACK:,} feedback, {FOLLOW_UPS:,} follow-ups, "
        f"{state['events']:,} seeded events; one webhook endpoint for every event."
    )
    say(
        f"Load: wrk -t{wrk.threads} -c{wrk.connections} -d{args.duration:g}s --latency; "
        f"{args.warmup:g} s warm-up per target and scenario; {args.rounds} round(s), "
        "targets' order rotated each round; medians over rounds. CPU µs/req: server process "
        "utime+stime (/proc) per request; PG: the bench database's backends and PostgreSQL's "
        "shared processes; other cores: the rest of the machine (noise: other users, other "
        "databases)."
    )

    used, limit = asyncio.run(connection_headroom(url))
    say(f"\nPostgreSQL connections in use after start-up: {used} of max_connections {limit}")
    if limit - used < 40:
        loud(
            f"only {limit - used} PostgreSQL connections left: pools that grow under load "
            "(overflow) may fail with 'too many clients'; lower --pool-size or stop other users"
        )
    say("checking that every target answers every scenario with 2xx")
    for scenario in scenarios:
        for target in targets:
            if target.kind in scenario.kinds:
                precheck(target, scenario)

    results: dict[str, Any] = {}
    flagged: list[str] = []
    quiet = (args.quiet_wait, args.quiet_threshold) if args.quiet_wait > 0 else None
    ours_names = [t.name for t in ours if t in targets]
    for scenario in scenarios:
        runs_on = [t for t in targets if t.kind in scenario.kinds]
        if not runs_on:
            continue
        say(f"\n[{datetime.now(UTC):%H:%M:%S}] {scenario.name}: {scenario.title}")
        body_sizes = {t.name: precheck(t, scenario) for t in runs_on}
        for target in runs_on:
            if args.warmup:
                warm = run_wrk(target, scenario, args.warmup, wrk, tmp)
                if warm["non2xx"] or warm["socket_errors"]:
                    flagged.append(f"{scenario.name}/{target.name} (warm-up)")
        runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in runs_on}
        for round_no in range(args.rounds):
            shift = round_no % len(runs_on)
            for target in runs_on[shift:] + runs_on[:shift]:
                result = run_wrk(target, scenario, args.duration, wrk, tmp, quiet=quiet)
                result["round"] = round_no + 1
                runs[target.name].append(result)
                say(
                    f"  round {round_no + 1} {target.name:>12}: {result['rps']:8.0f} req/s  "
                    f"p99 {result['p99_ms']:7.2f} ms  cpu {result['server_cpu_us_per_req']:6.0f} "
                    f"µs/req  other cores {result['other_cores']:.2f} (waited "
                    f"{result['quiet_wait_s']:.1f} s for idle)  non-2xx {result['non2xx']:.0f}"
                )
                if result["non2xx"] or result["socket_errors"]:
                    flagged.append(f"{scenario.name}/{target.name} (round {round_no + 1})")
        summaries = {name: summarise(r) for name, r in runs.items()}
        for name, summary in summaries.items():
            summary["body_bytes_precheck"] = body_sizes[name]
        results[scenario.name] = {
            "title": scenario.title,
            "summary": summaries,
            "runs": runs,
        }
        say(table(scenario, summaries, ours_names))
        if scenario.name == "post":
            asyncio.run(vacuum(url))  # outside the measurement: later scenarios see no bloat
    report["results"] = results
    report["targets"] = {
        t.name: {"description": t.description, "pid": t.pid, "rss_mb_end": rss_mb(t.pid)}
        for t in targets
    }
    say("\n## All tables\n")
    for scenario in scenarios:
        if scenario.name in results:
            say(table(scenario, results[scenario.name]["summary"], ours_names))
    acting = acting_table(results, ours_names)
    if acting:
        say(acting)
        say("(req/s ratio: without / with; CPU ratio: with / without. Target: both at most 1.3x.)")
    all_runs = [r for res in results.values() for runs in res["runs"].values() for r in runs]
    if all_runs:
        busiest = max(all_runs, key=lambda r: r["wrk_cores"])
        say(
            f"\nLoad generator: wrk used at most {busiest['wrk_cores']:.2f} cores "
            f"({busiest['scenario']} on {busiest['target']}, {busiest['wrk_cpu_us_per_req']:.0f} "
            f"µs/req; that run's server used {busiest['server_cores']:.2f} cores); median over "
            f"all runs {median([r['wrk_cores'] for r in all_runs]):.2f} cores."
        )
    say(
        "\nServer RSS at the end: " + ", ".join(f"{t.name} {rss_mb(t.pid):.0f} MB" for t in targets)
    )
    return finish(args, report, flagged)


async def connection_headroom(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        used = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid IS NOT NULL")
        limit = int(await conn.fetchval("SHOW max_connections"))
    finally:
        await conn.close()
    return int(used), limit


async def vacuum(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM (ANALYZE) conversations, events, webhook_deliveries")
    finally:
        await conn.close()


def memory_test(
    args: argparse.Namespace,
    ours: list[Target],
    scenarios: list[Scenario],
    wrk: WrkSettings,
    tmp: Path,
) -> dict[str, Any]:
    """RSS of a freshly started server after the first N GET-one requests and after M
    mixed requests (GET one, first page, POST)."""
    by_name = {s.name: s for s in scenarios}
    mixed = mixed_scenario(scenarios)
    out: dict[str, Any] = {}
    for target in ours:
        if target.proc is not None:
            CHILDREN.stop(target.proc)  # a fresh process: nothing served before
        target.port = free_port()
        target.argv[target.argv.index("--port") + 1] = str(target.port)
        start_with_retries(target, tmp, args.start_retries, args.retry_wait)
        rss_start = rss_mb(target.pid)
        first = run_wrk(
            target, by_name["get_one"], 3600, wrk, tmp, stop_after_total=args.memory_first
        )
        rss_first = rss_mb(target.pid)
        second = run_wrk(target, mixed, 3600, wrk, tmp, stop_after_total=args.memory_mixed)
        rss_mixed = rss_mb(target.pid)
        growth = (rss_mixed - rss_first) / rss_first * 100
        out[target.name] = {
            "rss_mb_started": rss_start,
            "rss_mb_after_first": rss_first,
            "first_requests": first["requests"],
            "rss_mb_after_mixed": rss_mixed,
            "mixed_requests": second["requests"],
            "mixed": mixed.title,
            "growth_pct": growth,
            "non2xx": first["non2xx"] + second["non2xx"],
        }
    say("\n### memory: RSS of a fresh server process (VmRSS)\n")
    say(
        "| target | at start MB | after GET one MB (requests) | after mixed MB (requests) | "
        "growth | non-2xx |"
    )
    say("|---|---:|---:|---:|---:|---:|")
    for name, m in out.items():
        say(
            f"| {name} | {m['rss_mb_started']:.1f} | {m['rss_mb_after_first']:.1f} "
            f"({m['first_requests']:,.0f}) | {m['rss_mb_after_mixed']:.1f} "
            f"({m['mixed_requests']:,.0f}) | {m['growth_pct']:+.1f}% | {m['non2xx']:.0f} |"
        )
    say(f"\nMixed load: {mixed.title}.")
    return out


def _public_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in ("key", "key_c")}


def finish(args: argparse.Namespace, report: dict[str, Any], flagged: list[str]) -> int:
    report["flagged"] = flagged
    report["environment"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().strip()
    say(f"\nloadavg at end: {report['environment']['loadavg_at_end']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2, default=str))
        say(f"raw results: {args.json_out}")
    if flagged:
        loud("NON-2XX RESPONSES OR SOCKET ERRORS IN: " + ", ".join(flagged))
        return 3
    return 0


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="ccapi-bench-"))
    ok = False
    try:
        code = bench(args, tmp)
        ok = True
        return code
    finally:
        CHILDREN.stop_all()
        if ok and not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say(f"scripts and server logs kept in {tmp}")


if __name__ == "__main__":
    sys.exit(main())
