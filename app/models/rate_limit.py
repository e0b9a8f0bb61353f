from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class RateLimitCounter(SQLModel, table=True):
    """A shared fixed-window counter (app/core/ratelimit.py ``PostgresCounters``): how many
    units of ``key``'s limit the processes have leased in the window ending at
    ``window_end``. UNLOGGED: counters need no crash safety (a crash or failover starts
    every window afresh), and writing them costs no WAL."""

    __tablename__ = "rate_limit_counters"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: str = Field(sa_type=sa.Text(), primary_key=True)
    window_end: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    taken: int = Field(nullable=False)
    # What the last lease granted (RETURNING cannot see the row's previous value).
    granted: int = Field(nullable=False)
