"""``ccapi`` as a user runs it: real subprocesses, a real server on a free port.

Without ``DATABASE_URL`` the commands share an embedded PostgreSQL under a temporary data
folder; with it, they get a scratch database on that server, dropped afterwards, so
nothing they commit reaches the other tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.config import to_asyncpg_url
from app.core.embedded import EmbeddedPostgres

CCAPI = Path(sys.executable).parent / "ccapi"
ADMIN_TOKEN = "cli-test-admin-token-0123456789"
COMMAND_TIMEOUT = 120
READY_TIMEOUT = 60
STOP_TIMEOUT = 20


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CCAPI), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"ccapi {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout


def _asyncpg_admin(url: str, sql: str) -> None:
    import asyncpg

    parsed = make_url(to_asyncpg_url(url))

    async def run() -> None:
        conn = await asyncpg.connect(
            user=parsed.username,
            password=parsed.password,
            host=parsed.host,
            port=parsed.port,
            database=parsed.database,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def cli() -> Iterator[Cli]:
    workdir = Path(tempfile.mkdtemp(prefix="ccapi-cli-"))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CCAPI_") and k != "DATABASE_URL"
    }
    env.update(
        CCAPI_DATA_DIR=str(workdir / "data"),
        CCAPI_ADMIN_TOKEN=ADMIN_TOKEN,
        CCAPI_LOG_LEVEL="WARNING",
    )
    external = os.environ.get("DATABASE_URL")
    scratch = f"ccapi_cli_{uuid.uuid4().hex[:10]}"
    if external:
        _asyncpg_admin(external, f'CREATE DATABASE "{scratch}"')
        env["DATABASE_URL"] = (
            make_url(to_asyncpg_url(external))
            .set(drivername="postgresql", database=scratch)
            .render_as_string(hide_password=False)
        )
    try:
        yield Cli(env=env, cwd=workdir)
    finally:
        if external:
            _asyncpg_admin(external, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        elif (workdir / "data" / "pg" / "postmaster.pid").exists():
            # A server left behind by a failed test: join it as its last user, which stops it.
            leftover = EmbeddedPostgres(workdir / "data")
            leftover.start()
            leftover.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _field(output: str, name: str) -> str:
    match = re.search(rf"^{name}: (\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"ccapi serve exited early:\n{log.read_text()}"
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"ccapi serve was not ready within {READY_TIMEOUT} s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGINT, as Ctrl-C would; the exit code, or None if it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def test_provision_serve_and_revoke(cli: Cli) -> None:
    created = cli.ok("tenants", "create", "Acme")
    tenant_id = _field(created, "tenant_id")
    secret = _field(created, "api_key")
    assert secret.startswith("cck_live_")
    uuid.UUID(_field(created, "api_key_id"))

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = cli.cwd / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(CCAPI), "serve", "--port", str(port)],
            env=cli.env,
            cwd=cli.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(proc, base_url, log)
        with httpx.Client(base_url=base_url, timeout=10) as http:
            me = http.get("/v1/tenant", headers={"Authorization": f"Bearer {secret}"})
            assert me.status_code == 200
            assert me.json()["id"] == tenant_id
            assert me.json()["name"] == "Acme"

            issued = cli.ok(
                "keys", "create", "--tenant", tenant_id, "--scopes", "read", "--name", "x"
            )
            read_key = _field(issued, "api_key")
            read_key_id = _field(issued, "api_key_id")
            read_headers = {"Authorization": f"Bearer {read_key}"}
            assert http.get("/v1/tenant", headers=read_headers).json()["id"] == tenant_id
            assert http.get("/v1/people", headers=read_headers).status_code == 200
            refused = http.post("/v1/people", json={"name": "Ada"}, headers=read_headers)
            assert refused.status_code == 403
            assert refused.json()["code"] == "forbidden"

            assert cli.ok("keys", "revoke", read_key_id).strip() == f"revoked {read_key_id}"
            revoked = http.get("/v1/tenant", headers=read_headers)
            assert revoked.status_code == 401
            assert revoked.json()["detail"] == "The API key has been revoked."
            # The first key is untouched.
            assert (
                http.get("/v1/tenant", headers={"Authorization": f"Bearer {secret}"}).json()["name"]
                == "Acme"
            )

            unknown_tenant = cli.run("keys", "create", "--tenant", str(uuid.uuid4()))
            assert unknown_tenant.returncode == 1
            assert "error: No tenant with this id." in unknown_tenant.stderr
            unknown_key = cli.run("keys", "revoke", str(uuid.uuid4()))
            assert unknown_key.returncode == 1
            assert "error: No API key with this id." in unknown_key.stderr

            admin = http.get(
                "/v1/admin/tenants", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            assert [t["id"] for t in admin.json()["data"]] == [tenant_id]
    finally:
        code = _stop(proc)
    assert code == 0, log.read_text()


def test_keys_create_refuses_unknown_scopes(cli: Cli) -> None:
    bad_scope = cli.run("keys", "create", "--tenant", str(uuid.uuid4()), "--scopes", "root")
    assert bad_scope.returncode == 2
    assert "scopes must be among read, write, webhooks" in bad_scope.stderr


def test_openapi_prints_the_document(cli: Cli) -> None:
    document = json.loads(cli.ok("openapi"))
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Career Conversations API"
    assert "/v1/tenant" in document["paths"]
