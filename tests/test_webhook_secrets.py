"""Webhook signing secrets sealed at rest (AES-GCM under CCAPI_SECRET_KEY): in the endpoint
row, in the idempotency records that replay them, across key rotation, the migration that
seals existing rows, and the settings that refuse to start without a key."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.background import webhook_delivery
from app.core import migrations
from app.core.config import Settings, to_asyncpg_url
from app.core.sealing import (
    Keyring,
    SealError,
    generate_key,
    idempotency_context,
    key_id,
    parse_keys,
    webhook_secret_context,
)
from app.main import create_app
from app.services.sealed import reseal_all
from tests.conftest import ADMIN_TOKEN, TEST_SECRET_KEY, TenantKey, steady_keys
from tests.factories import create_person
from tests.test_migrations import scratch_database_url  # noqa: F401 (fixture)
from tests.webhook_receiver import create_endpoint

Sessionmaker = async_sessionmaker[AsyncSession]
CCAPI = Path(sys.executable).parent / "ccapi"
FIRST_KEY_ID = key_id(parse_keys(TEST_SECRET_KEY)[0])
BODIES = sa.text("SELECT key, response_body FROM idempotency_records")


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def _assert_nothing_of(secret: str, stored: bytes) -> None:
    """Neither the secret, its base64 part, nor its raw bytes appear in ``stored``."""
    assert b"whsec_" not in stored
    assert secret.removeprefix("whsec_").encode() not in stored
    assert _secret_bytes(secret) not in stored


async def _endpoint_row(conn: AsyncConnection, endpoint_id: str) -> dict[str, Any]:
    row = (
        await conn.execute(
            sa.text("SELECT * FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id}
        )
    ).one()
    return dict(row._mapping)


async def _record_body(conn: AsyncConnection, tenant_id: uuid.UUID, key: str) -> bytes:
    body = await conn.scalar(
        sa.text("SELECT response_body FROM idempotency_records WHERE tenant_id = :t AND key = :k"),
        {"t": tenant_id, "k": key},
    )
    assert body is not None
    return bytes(body)


def _row_bytes(row: dict[str, Any]) -> bytes:
    return repr(sorted(row.items(), key=lambda kv: kv[0])).encode()


async def test_create_seals_the_secret_in_the_row_and_the_idempotency_record(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    settings: Settings,
    tenant: TenantKey,
    auth: dict[str, str],
) -> None:
    headers = {**auth, "Idempotency-Key": "create-1"}
    body = {"url": "http://127.0.0.1:9/a", "event_types": ["person.created"]}
    first = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert first.status_code == 201, first.text
    created = first.json()
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(_secret_bytes(secret)) == 32

    row = await _endpoint_row(connection, created["id"])
    assert "secret" not in row and "previous_secret" not in row
    assert row["previous_secret_sealed"] is None
    assert row["secret_sealed"].startswith(f"ccs1.{FIRST_KEY_ID}.")
    _assert_nothing_of(secret, _row_bytes(row))
    context = webhook_secret_context(tenant.tenant_id, created["id"])
    assert settings.keyring.open_text(row["secret_sealed"], context) == secret

    stored = await _record_body(connection, tenant.tenant_id, "create-1")
    assert stored.startswith(f"ccs1.{FIRST_KEY_ID}.".encode())
    _assert_nothing_of(secret, stored)
    opened = settings.keyring.open(
        stored.decode(), idempotency_context(tenant.tenant_id, "create-1")
    )
    assert opened == first.content

    again = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    for name in ("content-type", "etag", "location"):
        assert again.headers[name] == first.headers[name]
    fetched = await client.get(f"/v1/webhook-endpoints/{created['id']}/secret", headers=auth)
    assert fetched.json() == {"secret": secret, "previous_secret_expires_at": None}
    count = await connection.scalar(sa.text("SELECT count(*) FROM webhook_endpoints"))
    assert count == 1


async def test_rotation_seals_both_secrets_and_replays_the_same_answer(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    settings: Settings,
    tenant: TenantKey,
    auth: dict[str, str],
) -> None:
    endpoint = await create_endpoint(client, auth, "http://127.0.0.1:9/r")
    old = endpoint["secret"]
    path = f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"
    headers = {**auth, "Idempotency-Key": "rotate-1"}
    first = await client.post(path, headers=headers)
    assert first.status_code == 200, first.text
    new = first.json()["secret"]
    assert new != old

    row = await _endpoint_row(connection, endpoint["id"])
    for secret in (old, new):
        _assert_nothing_of(secret, _row_bytes(row))
    context = webhook_secret_context(tenant.tenant_id, endpoint["id"])
    assert settings.keyring.open_text(row["secret_sealed"], context) == new
    assert settings.keyring.open_text(row["previous_secret_sealed"], context) == old
    stored = await _record_body(connection, tenant.tenant_id, "rotate-1")
    for secret in (old, new):
        _assert_nothing_of(secret, stored)

    again = await client.post(path, headers=headers)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    # The replay rotated nothing: the secret is still the one the first call issued.
    fetched = await client.get(f"/v1/webhook-endpoints/{endpoint['id']}/secret", headers=auth)
    assert fetched.json()["secret"] == new
    assert (
        fetched.json()["previous_secret_expires_at"] == first.json()["previous_secret_expires_at"]
    )


async def test_other_idempotent_responses_stay_plain(
    client: httpx.AsyncClient, connection: AsyncConnection, tenant: TenantKey, auth: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/people", json={"name": "Ada"}, headers={**auth, "Idempotency-Key": "p-1"}
    )
    assert created.status_code == 201
    assert await _record_body(connection, tenant.tenant_id, "p-1") == created.content


def test_a_sealed_value_opens_only_in_its_place_and_with_its_key() -> None:
    one, two = parse_keys(generate_key())[0], parse_keys(generate_key())[0]
    keyring = Keyring([one])
    tenant_id, endpoint_id, other_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    context = webhook_secret_context(tenant_id, endpoint_id)
    sealed = keyring.seal_text("whsec_x", context)
    again = keyring.seal_text("whsec_x", context)
    assert sealed != again  # a fresh nonce each time
    assert keyring.open_text(sealed, context) == "whsec_x"
    with pytest.raises(SealError, match="does not open"):
        keyring.open_text(sealed, webhook_secret_context(tenant_id, other_id))
    with pytest.raises(SealError, match="does not open"):
        keyring.open_text(sealed, webhook_secret_context(uuid.uuid4(), endpoint_id))
    version, kid, payload = sealed.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(SealError, match="does not open"):
        keyring.open_text(f"{version}.{kid}.{flipped}", context)
    with pytest.raises(SealError, match="does not hold"):
        Keyring([two]).open_text(sealed, context)

    rotated = Keyring([two, one])
    assert rotated.open_text(sealed, context) == "whsec_x"
    assert not rotated.is_current(sealed)
    resealed = rotated.reseal(sealed, context)
    assert resealed.startswith(f"ccs1.{key_id(two)}.")
    assert Keyring([two]).open_text(resealed, context) == "whsec_x"
    assert rotated.reseal(resealed, context) == resealed


async def test_after_a_key_rotation_everything_still_opens_and_reseal_moves_it(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: Sessionmaker,
    connection: AsyncConnection,
    tenant: TenantKey,
    auth: dict[str, str],
    client: httpx.AsyncClient,
) -> None:
    endpoint = await create_endpoint(client, auth, "http://127.0.0.1:9/k")
    rotate = f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"
    first = await client.post(rotate, headers={**auth, "Idempotency-Key": "rot-k"})
    new_key = generate_key()
    rotated = settings.model_copy(update={"secret_key": SecretStr(f"{new_key},{TEST_SECRET_KEY}")})
    new_id = key_id(parse_keys(new_key)[0])
    app = steady_keys(create_app(rotated, engine=engine, sessionmaker=sessionmaker))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as other:
        fetched = await other.get(f"/v1/webhook-endpoints/{endpoint['id']}/secret", headers=auth)
        assert fetched.json()["secret"] == first.json()["secret"]
        replay = await other.post(rotate, headers={**auth, "Idempotency-Key": "rot-k"})
        assert replay.content == first.content

        async with sessionmaker() as session:
            done = await reseal_all(session, rotated.keyring)
            await session.commit()
        assert (done.endpoints, done.responses) == (1, 1)
        row = await _endpoint_row(connection, endpoint["id"])
        assert row["secret_sealed"].startswith(f"ccs1.{new_id}.")
        assert row["previous_secret_sealed"].startswith(f"ccs1.{new_id}.")
        assert (
            row["updated_at"].isoformat().replace("+00:00", "Z")
            == (
                (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=auth)).json()[
                    "updated_at"
                ]
            )
        )
        stored = await _record_body(connection, tenant.tenant_id, "rot-k")
        assert stored.startswith(f"ccs1.{new_id}.".encode())
        async with sessionmaker() as session:
            assert await reseal_all(session, rotated.keyring) == type(done)(0, 0)

    # Only the new key now: everything opens.
    only_new = settings.model_copy(update={"secret_key": SecretStr(new_key)})
    app = steady_keys(create_app(only_new, engine=engine, sessionmaker=sessionmaker))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as newest:
        fetched = await newest.get(f"/v1/webhook-endpoints/{endpoint['id']}/secret", headers=auth)
        assert fetched.json()["secret"] == first.json()["secret"]
        replay = await newest.post(rotate, headers={**auth, "Idempotency-Key": "rot-k"})
        assert replay.content == first.content
        # A replay sealed under a key no longer held is a clear 409, not a 500.
        await connection.execute(
            sa.text(
                "UPDATE idempotency_records SET response_body = :b "
                "WHERE tenant_id = :t AND key = :k"
            ),
            {
                "b": Keyring(parse_keys(TEST_SECRET_KEY))
                .seal(first.content, idempotency_context(tenant.tenant_id, "rot-k"))
                .encode(),
                "t": tenant.tenant_id,
                "k": "rot-k",
            },
        )
        lost = await newest.post(rotate, headers={**auth, "Idempotency-Key": "rot-k"})
        assert lost.status_code == 409
        assert lost.headers["content-type"] == "application/problem+json"
        assert lost.json()["detail"] == (
            "The first response to this Idempotency-Key can no longer be replayed (the "
            "server key that sealed it was retired). Check whether the first request took "
            "effect, then use a new key."
        )


async def test_a_delivery_whose_secret_does_not_open_waits_for_its_key(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: Sessionmaker,
    settings: Settings,
    tenant_c: TenantKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = tenant_c.headers
    endpoint = await create_endpoint(committed_client, auth, "http://127.0.0.1:9/hook")
    await create_person(committed_client, auth)
    stranger = Keyring(parse_keys(generate_key()))
    with caplog.at_level(logging.ERROR, logger="app.background.webhook_delivery"):
        assert (
            await webhook_delivery.claim(committed_app_sessionmaker, stranger, 10, lease_seconds=0)
            == []
        )
    [record] = [r for r in caplog.records if "does not open" in r.getMessage()]
    assert record.endpoint_id == endpoint["id"]  # type: ignore[attr-defined]
    assert endpoint["secret"] not in caplog.text
    # The lease lapsed at once: with the right key the delivery goes, no attempt spent.
    [claimed] = await webhook_delivery.claim(
        committed_app_sessionmaker, settings.keyring, 10, lease_seconds=60
    )
    assert claimed.secrets == (endpoint["secret"],)
    assert claimed.attempt_count == 0


async def test_ccapi_rotate_secret_key_reseals_under_the_first_key(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: Sessionmaker,
    database_url: str,
    engine: AsyncEngine,
    tenant_c: TenantKey,
    tmp_path: Path,
) -> None:
    auth = tenant_c.headers
    endpoint = await create_endpoint(committed_client, auth, "http://127.0.0.1:9/cli")
    new_key = generate_key()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CCAPI_")},
        "DATABASE_URL": database_url,
        "CCAPI_ENV": "test",
        "CCAPI_ADMIN_TOKEN": ADMIN_TOKEN,
        "CCAPI_DATA_DIR": str(tmp_path),
        "CCAPI_LOG_LEVEL": "WARNING",
        "CCAPI_SECRET_KEY": f"{new_key},{TEST_SECRET_KEY}",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [str(CCAPI), "rotate-secret-key"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    new_id = key_id(parse_keys(new_key)[0])
    assert done.stdout.strip() == (
        f"resealed 1 webhook endpoint(s) and 0 idempotent response(s); everything is now "
        f"sealed under key {new_id}, the other keys in CCAPI_SECRET_KEY can be removed"
    )
    async with engine.connect() as conn:
        row = await _endpoint_row(conn, endpoint["id"])
    assert row["secret_sealed"].startswith(f"ccs1.{new_id}.")
    context = webhook_secret_context(tenant_c.tenant_id, endpoint["id"])
    assert (
        Keyring(parse_keys(new_key)).open_text(row["secret_sealed"], context)
        == (endpoint["secret"])
    )

    env["CCAPI_SECRET_KEY"] = generate_key()  # holds none of the keys used
    refused = await asyncio.to_thread(
        subprocess.run,
        [str(CCAPI), "rotate-secret-key"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1
    assert "does not hold" in refused.stderr
    assert refused.stderr.strip().endswith("nothing was changed")
    async with engine.connect() as conn:
        assert (await _endpoint_row(conn, endpoint["id"]))["secret_sealed"] == row["secret_sealed"]


def test_a_start_outside_development_needs_a_key() -> None:
    for env in ("test", "production"):
        with pytest.raises(ValidationError, match="CCAPI_SECRET_KEY is not set") as caught:
            Settings(env=env, admin_token=ADMIN_TOKEN)
        assert "generate-secret-key" in str(caught.value)
    with pytest.raises(ValidationError, match="key 2 decodes to 5 bytes, not 32") as caught:
        Settings(env="test", admin_token=ADMIN_TOKEN, secret_key=f"{generate_key()},aGVsbG8=")
    assert "aGVsbG8" not in str(caught.value)  # a refused key is not printed
    with pytest.raises(ValidationError, match="key 1 is not base64"):
        Settings(env="test", admin_token=ADMIN_TOKEN, secret_key="not a key!")
    key = generate_key()
    urlsafe = Settings(env="production", admin_token=ADMIN_TOKEN, secret_key=key)
    standard = key.replace("-", "+").replace("_", "/").rstrip("=")
    assert (
        Settings(env="test", admin_token=ADMIN_TOKEN, secret_key=standard).keyring.primary_id
        == urlsafe.keyring.primary_id
    )


async def test_development_without_a_key_makes_one_in_the_data_folder_and_warns(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(env="development", admin_token=ADMIN_TOKEN, data_dir=tmp_path / "data")
    app = create_app(settings, engine=engine)
    with caplog.at_level(logging.WARNING, logger="app.main"):
        async with app.router.lifespan_context(app):
            pass
    path = tmp_path / "data" / "secret.key"
    assert path.stat().st_mode & 0o777 == 0o600
    [key] = parse_keys(path.read_text())
    assert settings.keyring.primary_id == key_id(key)
    [warning] = [r for r in caplog.records if "CCAPI_SECRET_KEY" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert str(path) in warning.getMessage()
    # A second start keeps the same key.
    content = path.read_text()
    again = Settings(env="development", admin_token=ADMIN_TOKEN, data_dir=tmp_path / "data")
    assert again.keyring.primary_id == key_id(key)
    assert path.read_text() == content


async def test_the_migration_seals_existing_secrets_and_the_downgrade_opens_them(
    scratch_database_url: str,  # noqa: F811
    settings: Settings,
) -> None:
    config = migrations.alembic_config(scratch_database_url, settings)
    await asyncio.to_thread(command.upgrade, config, "0001")
    scratch = create_async_engine(to_asyncpg_url(scratch_database_url))
    tenant_id, endpoint_id, plain_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    previous = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    created_body = b'{"id":"x","secret":"' + secret.encode() + b'"}'
    try:
        async with scratch.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO tenants (id, name, created_at, updated_at) "
                    "VALUES (:id, 'T', now(), now())"
                ),
                {"id": tenant_id},
            )
            for id_, current, prior in ((endpoint_id, secret, previous), (plain_id, other, None)):
                await conn.execute(
                    sa.text(
                        "INSERT INTO webhook_endpoints (id, tenant_id, url, payload, enabled, "
                        "secret, previous_secret, previous_secret_expires_at, created_at, "
                        "updated_at) VALUES (:id, :t, 'https://h.example.com', 'full', true, "
                        ":s, :p, now(), now(), now())"
                    ),
                    {"id": id_, "t": tenant_id, "s": current, "p": prior},
                )
            for key, body in (("c", created_body), ("p", b'{"name":"Ada"}')):
                await conn.execute(
                    sa.text(
                        "INSERT INTO idempotency_records (tenant_id, key, request_hash, "
                        "status_code, response_body, response_headers, created_at) VALUES "
                        "(:t, :k, 'h', 201, :b, '{}', now())"
                    ),
                    {"t": tenant_id, "k": key, "b": body},
                )

        await asyncio.to_thread(command.upgrade, config, "head")
        keyring = settings.keyring
        async with scratch.connect() as conn:
            rows = {
                r.id: r
                for r in (await conn.execute(sa.text("SELECT * FROM webhook_endpoints"))).all()
            }
            bodies = dict(
                (
                    await conn.execute(
                        sa.text("SELECT key, response_body FROM idempotency_records")
                    )
                ).all()
            )
        for id_, current, prior in ((endpoint_id, secret, previous), (plain_id, other, None)):
            row = rows[id_]
            raw = _row_bytes(dict(row._mapping))
            for value in (secret, previous, other):
                _assert_nothing_of(value, raw)
            context = webhook_secret_context(tenant_id, id_)
            assert keyring.open_text(row.secret_sealed, context) == current
            if prior is None:
                assert row.previous_secret_sealed is None
            else:
                assert keyring.open_text(row.previous_secret_sealed, context) == prior
        _assert_nothing_of(secret, bytes(bodies["c"]))
        assert keyring.open(bodies["c"].decode(), idempotency_context(tenant_id, "c")) == (
            created_body
        )
        assert bytes(bodies["p"]) == b'{"name":"Ada"}'

        await asyncio.to_thread(command.downgrade, config, "0001")
        async with scratch.connect() as conn:
            restored = {
                r.id: (r.secret, r.previous_secret)
                for r in (
                    await conn.execute(
                        sa.text("SELECT id, secret, previous_secret FROM webhook_endpoints")
                    )
                ).all()
            }
            bodies = dict(
                (
                    await conn.execute(
                        sa.text("SELECT key, response_body FROM idempotency_records")
                    )
                ).all()
            )
        assert restored == {endpoint_id: (secret, previous), plain_id: (other, None)}
        assert bytes(bodies["c"]) == created_body
        assert bytes(bodies["p"]) == b'{"name":"Ada"}'
    finally:
        await scratch.dispose()
