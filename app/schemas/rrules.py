"""RFC 5545 recurrence rules (python-dateutil): parsing with the bounds the API allows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr
from pydantic_core import PydanticCustomError

# Sub-daily rules repeat too often to be left open: only with COUNT.
_FAST = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})
_PROBE = datetime(2000, 1, 3, 10, 0)


def expand(value: str, start: datetime, timezone: str, after: datetime) -> Iterator[datetime]:
    """The rule's occurrences from ``after`` on (aware, in ``timezone``), expanded from
    ``start`` (a local time in ``timezone``) with the same wall-clock time across DST
    changes. An ``UNTIL`` in UTC needs an aware start, a local one a naive start: both are
    accepted (a naive expansion gets the zone attached afterwards)."""
    zone = ZoneInfo(timezone)
    try:
        rule = rrulestr(value, dtstart=start.replace(tzinfo=zone))
    except ValueError as exc:
        if "UNTIL" not in str(exc):
            raise
        naive = rrulestr(value, dtstart=start)
        assert isinstance(naive, rrule)
        local_after = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        return (
            local.replace(tzinfo=zone)
            for local in naive.xafter(local_after, inc=True)
            if local.replace(tzinfo=zone) >= after
        )
    assert isinstance(rule, rrule)
    return rule.xafter(after.astimezone(zone), inc=True)


def check_rrule(value: str) -> str:
    """A pydantic validator: a single RRULE within the API's bounds, or ValueError."""
    if any(c in value for c in "\r\n:") or value != value.strip():
        raise PydanticCustomError(
            "invalid_rrule", "must be one RRULE value without a prefix, e.g. FREQ=WEEKLY;BYDAY=TU"
        )
    parts: dict[str, str] = {}
    for part in value.upper().split(";"):
        name, sep, text = part.partition("=")
        if not sep or name in parts:
            raise PydanticCustomError(
                "invalid_rrule", "invalid or repeated part {part}", {"part": repr(part)}
            )
        parts[name] = text
    if "FREQ" not in parts:
        raise PydanticCustomError("invalid_rrule", "FREQ is required")
    if parts["FREQ"] in _FAST and "COUNT" not in parts:
        raise PydanticCustomError(
            "invalid_rrule", "FREQ={freq} needs a COUNT", {"freq": parts["FREQ"]}
        )
    if "COUNT" in parts and "UNTIL" in parts:
        raise PydanticCustomError("invalid_rrule", "COUNT and UNTIL may not both be given")
    try:
        next(iter(expand(value, _PROBE, "UTC", _PROBE.replace(tzinfo=UTC))), None)
    except Exception as exc:  # dateutil raises several kinds for malformed rules
        raise PydanticCustomError(
            "invalid_rrule", "not a valid RRULE: {reason}", {"reason": str(exc)}
        ) from None
    return value
