"""``ccapi``: serve the API, run workers, migrate, provision tenants and keys."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import migrations
from app.core.config import get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.embedded import EmbeddedPostgres
from app.core.errors import ProblemError
from app.core.logging import configure_logging
from app.core.security import SCOPES

app = typer.Typer(help="Career Conversations API.", no_args_is_help=True)
tenants_app = typer.Typer(help="Manage tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")

T = TypeVar("T")


@asynccontextmanager
async def _database(*, supervise: bool = False) -> AsyncIterator[str]:
    """The configured database, or the embedded one under the data folder; migrated. A
    long-running command ``supervise``s the embedded server (restarts it if it dies)."""
    settings = get_settings()
    embedded = None
    url = settings.database_url
    if not url:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = await asyncio.to_thread(embedded.start)
    try:
        await asyncio.to_thread(migrations.upgrade, url, settings)
        if embedded is not None and supervise:
            async with embedded.supervised():
                yield url
        else:
            yield url
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        async with _database() as url:
            engine = create_engine(url, get_settings())
            try:
                async with create_sessionmaker(engine)() as session:
                    result = await work(session)
                    await session.commit()
                    return result
            finally:
                await engine.dispose()

    try:
        return asyncio.run(run())
    except ProblemError as exc:
        typer.echo(f"error: {exc.detail or exc.title}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run delivery and scheduler loops.")
    ] = True,
) -> None:
    """Serve the API (starting embedded PostgreSQL when DATABASE_URL is unset)."""
    import uvicorn

    from app.main import create_app

    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings, run_worker=worker),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


@app.command()
def worker() -> None:
    """Run only the webhook delivery and scheduler loops (scale out with more processes)."""
    from app.background.worker import BackgroundWorkers

    settings = get_settings()
    configure_logging(settings.log_level)

    async def run() -> None:
        async with _database(supervise=True) as url:
            engine = create_engine(url, settings)
            workers = BackgroundWorkers(engine, create_sessionmaker(engine), settings)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await workers.start()
            await stop.wait()
            await workers.stop()
            await engine.dispose()

    asyncio.run(run())


@app.command()
def migrate() -> None:
    """Apply every pending migration."""

    async def run() -> None:
        async with _database():
            pass

    asyncio.run(run())
    typer.echo(f"database at revision {migrations.head_revision()}")


def _parse_scopes(value: str) -> list[str]:
    scopes = [s.strip() for s in value.split(",") if s.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise typer.BadParameter(f"scopes must be among {', '.join(SCOPES)}")
    return scopes


@tenants_app.command("create")
def tenants_create(name: Annotated[str, typer.Argument(help="The tenant's name.")]) -> None:
    """Create a tenant and print its id and a first API key (shown once)."""
    from app.services import tenants

    async def work(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID, str]:
        tenant = await tenants.create(session, name)
        key, secret = await tenants.create_api_key(session, tenant.id, "default", list(SCOPES))
        return tenant.id, key.id, secret

    tenant_id, key_id, secret = _in_transaction(work)
    typer.echo(f"tenant_id: {tenant_id}\napi_key_id: {key_id}\napi_key: {secret}")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[uuid.UUID, typer.Option("--tenant", help="Tenant id.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated scopes.")] = "read,write,webhooks",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
) -> None:
    """Create an API key for a tenant; the key is printed once."""
    from app.services import tenants

    scope_list = _parse_scopes(scopes)

    async def work(session: AsyncSession) -> tuple[uuid.UUID, str]:
        key, secret = await tenants.create_api_key(session, tenant, name, scope_list)
        return key.id, secret

    key_id, secret = _in_transaction(work)
    typer.echo(f"api_key_id: {key_id}\napi_key: {secret}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[uuid.UUID, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key."""
    from app.services import tenants

    async def work(session: AsyncSession) -> None:
        await tenants.revoke_api_key(session, key_id)

    _in_transaction(work)
    typer.echo(f"revoked {key_id}")


@app.command("generate-secret-key")
def generate_secret_key() -> None:
    """Print a new random key for CCAPI_SECRET_KEY (32 bytes, URL-safe base64)."""
    from app.core.sealing import generate_key

    typer.echo(generate_key())


@app.command("rotate-secret-key")
def rotate_secret_key() -> None:
    """Re-seal every stored webhook secret under the first key of CCAPI_SECRET_KEY.

    Put the new key first and keep the old ones, restart, run this; afterwards the old
    keys can be removed from the setting."""
    from app.core.sealing import SealError
    from app.services.sealed import Resealed, reseal_all

    keyring = get_settings().keyring

    async def work(session: AsyncSession) -> Resealed:
        return await reseal_all(session, keyring)

    try:
        done = _in_transaction(work)
    except SealError as exc:
        typer.echo(f"error: {exc}; nothing was changed", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"resealed {done.endpoints} webhook endpoint(s) and {done.responses} idempotent "
        f"response(s); everything is now sealed under key {keyring.primary_id}, the "
        "other keys in CCAPI_SECRET_KEY can be removed"
    )


@app.command()
def openapi() -> None:
    """Print the OpenAPI document as JSON."""
    from app.main import create_app

    typer.echo(json.dumps(create_app().openapi(), indent=2))


@app.command()
def demo(
    name: Annotated[str, typer.Option(help="The demo tenant's name.")] = "Acme Demo",
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Where the server runs, for the /docs link (default: CCAPI_PUBLIC_BASE_URL, "
            "else http://CCAPI_HOST:CCAPI_PORT)."
        ),
    ] = None,
) -> None:
    """Create a demo tenant: managers, reports, a mentor, conversations in every status,
    goals, plans, feedback and follow-ups (some due soon); print an API key, /docs, and ids
    to paste into the request examples there."""
    from app.demo import DemoBuilder
    from app.main import create_app

    settings = get_settings()

    async def run() -> tuple[dict[str, object], dict[str, str]]:
        async with _database() as url:
            engine = create_engine(url, settings)
            try:
                app = create_app(settings, engine=engine)
                builder = DemoBuilder(app, settings.admin_token)
                return await builder.build(name), builder.sample_ids
            finally:
                await engine.dispose()

    tenant, sample_ids = asyncio.run(run())
    key = tenant["api_key"]
    assert isinstance(key, dict)
    base = base_url or settings.public_base_url or f"http://{settings.host}:{settings.port}"
    lines = [
        f"tenant_id: {tenant['id']}",
        f"api_key: {key['secret']}",
        f"docs: {base.rstrip('/')}/docs",
    ]
    if not (base_url or settings.public_base_url):
        lines.append(
            "  (where `ccapi serve` listens with these settings; if it runs elsewhere, e.g. "
            "with --port, open /docs there, or pass --base-url)"
        )
    lines.append(
        "In /docs, Authorize with the api_key; the request examples' ids stand for these "
        "(paste them over the example's):"
    )
    lines.extend(f"  {role}: {value}" for role, value in sample_ids.items())
    typer.echo("\n".join(lines))
