"""parse_timestamp's fast path (and its one-entry cache) gives exactly what the
general ISO-8601 / epoch-milliseconds parsing gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vilnius_client.events import NewMessageEvent, parse_timestamp


def reference(value: Any) -> Any:
    """parse_timestamp as it was before the fast path."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return value
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


def same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b and a.utcoffset() == b.utcoffset() and a.tzinfo == b.tzinfo
    return type(a) is type(b) and (a is b or a == b)  # NaN comes back as itself


EDGE_CASES = [
    "2026-11-26T10:00:00.000Z",
    "2026-11-26T10:00:00.000z",
    "2026-11-26T10:00:00Z",
    "2026-11-26T10:00:00.123456+02:00",
    "2026-11-26T10:00:00",
    "2026-11-26",
    "2026-01-01Z",
    " 2026-11-26T10:00:00.000Z",
    "2026-11-26T10:00:00.000Z\n",
    "20261126T100000Z",
    "",
    "Z",
    "not a date",
    "2026-13-40T99:00:00Z",
]

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
iso_strings = st.builds(
    lambda dt, sep, spec, tz, suffix: (
        dt.replace(tzinfo=tz).isoformat(sep=sep, timespec=spec).replace("+00:00", suffix)
    ),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from(["T", " "]),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.none() | offsets,
    st.sampled_from(["+00:00", "Z", "z", " Z"]),
)


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_match_the_general_parser(text: str) -> None:
    assert same(parse_timestamp(text), reference(text))
    assert same(parse_timestamp(text), reference(text))  # again: from the cache


@given(st.lists(iso_strings | st.text(max_size=30), min_size=1, max_size=5))
def test_any_string_matches_the_general_parser(texts: list[str]) -> None:
    for text in texts + texts[::-1]:  # repeats exercise the cache
        assert same(parse_timestamp(text), reference(text)), text


@given(st.integers(min_value=-(10**15), max_value=10**15) | st.floats() | st.booleans())
def test_numbers_match_the_general_parser(value: float) -> None:
    assert same(parse_timestamp(value), reference(value))


def test_cached_value_is_not_confused_with_another_string() -> None:
    first = parse_timestamp("2026-11-26T10:00:00.000Z")
    second = parse_timestamp("2026-11-26T10:00:00.001Z")
    assert second - first == timedelta(milliseconds=1)
    assert parse_timestamp("") == ""


def test_event_timestamps_are_aware_utc() -> None:
    event = NewMessageEvent.model_validate(
        {
            "conversationId": "c1",
            "message": {
                "id": "m1",
                "conversationId": "c1",
                "content": "hi",
                "sender": "visitor",
                "timestamp": "2026-11-26T10:00:00.000Z",
                "seq": 1,
            },
            "timestamp": "2026-11-26T10:00:00.000Z",
        }
    )
    assert event.timestamp == event.message.timestamp == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert event.timestamp.tzinfo is UTC
