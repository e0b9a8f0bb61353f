"""Settings from the environment (prefix ``CCAPI_``) and an optional ``.env`` file."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_ADMIN_TOKEN = "change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CCAPI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CCAPI_DATABASE_URL"),
        description="PostgreSQL URL; when unset an embedded server is started under data_dir.",
    )
    data_dir: Path = Path(".ccapi")
    admin_token: str = PLACEHOLDER_ADMIN_TOKEN
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    db_pool_size: int = 20
    max_body_bytes: int = 1024 * 1024
    rate_limit_per_minute: int = 600
    public_base_url: str = ""

    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    webhook_timeout: float = 15.0
    webhook_allowed_networks: Annotated[
        list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode
    ] = Field(default_factory=list)
    webhook_allow_http: bool = False
    webhook_disable_after_seconds: float = 5 * 24 * 3600
    # After a 429 or a timeout the next attempt waits at least this long (tests shorten it).
    webhook_retry_floor_seconds: float = 60.0
    worker_poll_interval: float = 1.0
    worker_batch_size: int = 20
    worker_concurrency: int = 10
    worker_lease_seconds: float = 60.0
    # `ccapi worker` serves Prometheus metrics on this port (0: off; `ccapi serve` has /metrics).
    worker_metrics_port: int = 0
    scheduler_interval: float = 1.0

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return [float(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [
                ipaddress.ip_network(part.strip(), strict=False)
                for part in value.split(",")
                if part.strip()
            ]
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.env != "development" and self.admin_token == PLACEHOLDER_ADMIN_TOKEN:
            raise ValueError(
                "CCAPI_ADMIN_TOKEN is the placeholder value; set a secret outside development"
            )
        if self.env == "production" and len(self.admin_token) < 16:
            raise ValueError("CCAPI_ADMIN_TOKEN must be at least 16 characters in production")
        return self

    @property
    def async_database_url(self) -> str | None:
        return to_asyncpg_url(self.database_url) if self.database_url else None


def to_asyncpg_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` and select the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


@lru_cache
def get_settings() -> Settings:
    return Settings()
