"""Timestamps as both kinds of server write them, and as JavaScript prints them.

Servers send ISO-8601 strings (``2026-11-26T10:00:00.000Z``) or epoch
milliseconds; the models of `vilnius_client.events` turn either into an aware
`datetime` with `parse_timestamp` and write them back with `format_timestamp`,
the way ``Date.toISOString()`` does. Parsing is on the hot path of every event,
so the last string parsed is remembered (an event's own timestamp and its
message's are usually the same string, as are those of a burst).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["format_timestamp", "parse_timestamp", "utcnow"]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


# The last string parse_timestamp() parsed and its result, as one tuple so that
# threads never see a mismatched pair.
_last_parsed: tuple[str | None, datetime] = (None, datetime(1970, 1, 1, tzinfo=UTC))


def parse_timestamp(value: Any) -> Any:
    """Turn epoch milliseconds or an ISO-8601 string into an aware datetime.

    Values of other types are returned unchanged so that pydantic reports them.
    Naive datetimes are taken as UTC.
    """
    global _last_parsed
    if type(value) is str:
        # Fast path for what servers send (``2026-11-26T10:00:00.000Z``):
        # Python 3.11's fromisoformat reads a trailing "Z" itself. Whatever it
        # refuses takes the general path below, so results are the same.
        last = _last_parsed
        if value == last[0]:
            return last[1]
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            _last_parsed = (value, parsed)
            return parsed
    return _parse_timestamp_slowly(value)


def _parse_timestamp_slowly(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # bool is an int subclass; let pydantic reject it
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return value  # out of range: pydantic reports it as invalid
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def format_timestamp(value: datetime) -> str:
    """Format a datetime the way JavaScript's ``Date.toISOString()`` does."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
