"""Plain SQL for the hot read paths: a WHERE clause built with numbered parameters.

asyncpg keeps one prepared statement per distinct text on each connection, so a query
built from the same filters is parsed and planned once per connection, not per request.
"""

from __future__ import annotations

from typing import Any


class Where:
    """``AND``-ed conditions; ``{}`` in a condition stands for the next parameter."""

    __slots__ = ("clauses", "params")

    def __init__(self, condition: str | None = None, *values: Any) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []
        if condition is not None:
            self.add(condition, *values)

    def add(self, condition: str, *values: Any) -> Where:
        marks = []
        for value in values:
            self.params.append(value)
            marks.append(f"${len(self.params)}")
        self.clauses.append(condition.format(*marks))
        return self

    def filter(self, condition: str, value: Any) -> Where:
        """``add(condition, value)`` when ``value`` is given (not None): an optional filter."""
        return self if value is None else self.add(condition, value)

    def arg(self, value: Any) -> str:
        """A parameter placeholder for ``value`` outside a condition (e.g. LIMIT)."""
        self.params.append(value)
        return f"${len(self.params)}"

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"
