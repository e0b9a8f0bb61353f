"""Settings from the environment (prefix ``CCAPI_``) and an optional ``.env`` file."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.sealing import DEV_KEY_FILE, Keyring, development_key, parse_keys

# B105: the placeholder is refused outside development (_refuse_placeholder_secret)
PLACEHOLDER_ADMIN_TOKEN = "change-me"  # nosec B105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CCAPI_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # A refused setting must not print its value (keys, tokens) into a start-up log.
        hide_input_in_errors=True,
    )

    env: Literal["development", "test", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CCAPI_DATABASE_URL"),
        description="PostgreSQL URL; when unset an embedded server is started under data_dir.",
    )
    data_dir: Path = Path(".ccapi")
    admin_token: str = PLACEHOLDER_ADMIN_TOKEN
    # Seals webhook signing secrets at rest (AES-GCM): base64 32-byte keys, comma-separated;
    # the first seals, all open. Required outside development (see app/core/sealing.py).
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    db_pool_size: int = 20
    # Bounds on waiting for the database, so a frozen or unreachable server answers 503
    # instead of hanging: opening a connection, one statement, a free pooled connection.
    db_connect_timeout: float = Field(default=5.0, gt=0)
    db_statement_timeout: float = Field(default=10.0, gt=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    max_body_bytes: int = 1024 * 1024
    # Requests per API key and minute, shared by every process (PostgreSQL, or Redis when
    # redis_url is set); failed authentications per client address and minute likewise.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    auth_failures_per_minute: int = Field(default=30, ge=1)
    # Units a process leases from the shared counter at a time (0: 1 % of the limit, 1..1000).
    rate_limit_lease: int = Field(default=0, ge=0)
    redis_url: str | None = None
    redis_key_prefix: str = "ccapi"
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
    # Deliveries in flight to one endpoint at once, across every worker process.
    webhook_endpoint_concurrency: int = Field(default=4, ge=1)
    # `ccapi worker` serves Prometheus metrics on this port (0: off; `ccapi serve` has /metrics).
    worker_metrics_port: int = 0
    scheduler_interval: float = 1.0

    _keyring: tuple[str, Keyring] | None = PrivateAttr(default=None)

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            parse_keys(value.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"CCAPI_SECRET_KEY: {exc}") from None
        return value

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
        if self.env != "development" and self.secret_key is None:
            raise ValueError(
                "CCAPI_SECRET_KEY is not set: webhook signing secrets are encrypted at rest "
                "with it, and outside development it is required. Make one with `ccapi "
                "generate-secret-key` and keep it safe (without it stored secrets are lost)"
            )
        return self

    @property
    def keyring(self) -> Keyring:
        """The keys that seal and open secrets at rest: ``CCAPI_SECRET_KEY``, or in
        development without it a key generated once into ``data_dir/secret.key``."""
        source = (
            self.secret_key.get_secret_value()
            if self.secret_key is not None
            else str(self.development_key_path)
        )
        # Cached for the settings it came from (a model_copy may change them).
        if self._keyring is not None and self._keyring[0] == source:
            return self._keyring[1]
        if self.secret_key is not None:
            keyring = Keyring.from_setting(source)
        else:
            value, _ = development_key(self.data_dir)
            try:
                keyring = Keyring.from_setting(value)
            except ValueError as exc:
                raise ValueError(f"{self.development_key_path}: {exc}") from None
        self._keyring = (source, keyring)
        return keyring

    @property
    def development_key_path(self) -> Path:
        return self.data_dir / DEV_KEY_FILE

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
