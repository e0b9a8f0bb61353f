"""Run Alembic from code: on start-up, from ``ccapi migrate`` and in the tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

if TYPE_CHECKING:
    from app.core.config import Settings

_SOURCE_ROOT = Path(__file__).resolve().parents[2]
# Editable installs and checkouts find alembic/ beside app/; a plain install runs from the
# folder holding alembic.ini (the Docker image's working directory).
ROOT = _SOURCE_ROOT if (_SOURCE_ROOT / "alembic.ini").exists() else Path.cwd()


def alembic_config(url: str | None = None, settings: Settings | None = None) -> Config:
    """``settings`` give revisions that seal or open stored secrets their keys
    (``settings.keyring``); without them such a revision reads the environment."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    if url:
        config.attributes["url"] = url
    if settings is not None:
        config.attributes["settings"] = settings
    return config


def upgrade(url: str, settings: Settings | None = None) -> None:
    """Bring the database at ``url`` to the latest revision (blocking; call from a thread)."""
    command.upgrade(alembic_config(url, settings), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
