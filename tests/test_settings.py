from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import PLACEHOLDER_ADMIN_TOKEN, Settings, to_asyncpg_url
from app.main import create_app


def test_placeholder_admin_token_is_refused_outside_development() -> None:
    assert Settings(env="development", admin_token=PLACEHOLDER_ADMIN_TOKEN).admin_token == (
        PLACEHOLDER_ADMIN_TOKEN
    )
    for env in ("test", "production"):
        with pytest.raises(ValidationError, match="placeholder"):
            Settings(env=env, admin_token=PLACEHOLDER_ADMIN_TOKEN)
    with pytest.raises(ValidationError, match="16 characters"):
        Settings(env="production", admin_token="short")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/ccapi")
    monkeypatch.setenv("CCAPI_WEBHOOK_RETRY_SCHEDULE", "1, 2.5,10")
    monkeypatch.setenv("CCAPI_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.setenv("CCAPI_WEBHOOK_TIMEOUT", "3")
    settings = Settings()
    assert settings.async_database_url == "postgresql+asyncpg://u@db:5432/ccapi"
    assert settings.webhook_retry_schedule == [1.0, 2.5, 10.0]
    assert [str(n) for n in settings.webhook_allowed_networks] == ["127.0.0.0/8", "::1/128"]
    assert settings.webhook_timeout == 3.0


def test_database_urls_are_converted_to_asyncpg() -> None:
    assert to_asyncpg_url("postgres://a@h/d") == "postgresql+asyncpg://a@h/d"
    assert to_asyncpg_url("postgresql+asyncpg://a@h/d") == "postgresql+asyncpg://a@h/d"
    with pytest.raises(ValueError, match="postgresql"):
        to_asyncpg_url("mysql://a@h/d")


async def test_the_placeholder_admin_token_warns_at_start(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Development accepts the placeholder admin token, but says so when serving starts."""
    settings = Settings(
        env="development", admin_token=PLACEHOLDER_ADMIN_TOKEN, data_dir=tmp_path / "data"
    )
    app = create_app(settings, engine=engine)
    with caplog.at_level(logging.WARNING, logger="app.main"):
        async with app.router.lifespan_context(app):
            pass
    assert any("placeholder" in r.getMessage() for r in caplog.records)
