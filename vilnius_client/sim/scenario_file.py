"""Scenario files: a load kept in a repository, as TOML (``vilnius-sim --scenario FILE.toml``).

Every key is a `vilnius-sim` flag without its dashes (``max-reply-p95-ms`` is
``max_reply_p95_ms``); a flag on the command line wins over the file. Stages and arrival
phases are arrays of tables::

    bot = "external"
    think_time = "1-3"            # or 2, or [1, 3]
    reply_deadline = "5s"
    max_reply_p95_ms = 2000

    [[stages]]                    # ramp up to 20 customers over 30 s
    duration = "30s"
    customers = 20

    [[stages]]                    # hold
    duration = "1m"
    customers = 20

Secrets (the agent key, a password) have no key: they come from the environment. Neither have
the run id and the shard, which differ between runs of one file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .shape import ArrivalPhase, Stage, ThinkTime, parse_duration, parse_think_time

__all__ = ["read_scenario_file"]


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"wants a whole number, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"wants a number, got {value!r}")
    return float(value)


def _seconds(value: Any) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    return _number(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"wants a string, got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"wants true or false, got {value!r}")
    return value


def _think_time(value: Any) -> ThinkTime:
    if isinstance(value, str):
        return parse_think_time(value)
    if isinstance(value, list) and len(value) == 2:
        return ThinkTime(_seconds(value[0]), _seconds(value[1]))
    seconds = _seconds(value)
    return ThinkTime(seconds, seconds)


def _tables(value: Any, make: Callable[[dict[str, Any]], Any]) -> tuple[Any, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError("wants an array of tables ([[stages]] or [[arrivals]])")
    parts = []
    for number, table in enumerate(value, 1):
        try:
            parts.append(make(table))
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"#{number}: {reason}") from None
    return tuple(parts)


def _stage(table: dict[str, Any]) -> Stage:
    _only(table, {"duration", "customers"})
    return Stage(_seconds(table["duration"]), _integer(table["customers"]))


def _phase(table: dict[str, Any]) -> ArrivalPhase:
    _only(table, {"duration", "rate", "ramp_to"})
    ramp_to = table.get("ramp_to")
    return ArrivalPhase(
        _seconds(table["duration"]),
        _number(table["rate"]),
        None if ramp_to is None else _number(ramp_to),
    )


def _only(table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")


_KEYS: dict[str, Callable[[Any], Any]] = {
    "url": _text,
    "profile": _text,
    "bot": _text,
    "agents": _integer,
    "customers": _integer,
    "duration": _seconds,
    "messages": _integer,
    "rate": _number,
    "spawn_rate": _number,
    "typing": _flag,
    "churn": _number,
    "reply": _text,
    "email": _text,
    "seed": _integer,
    "connect_timeout": _seconds,
    "drain_timeout": _seconds,
    "heartbeat_interval": _seconds,
    "max_p99_ms": _number,
    "max_error_rate": _number,
    "reply_deadline": _seconds,
    "max_reply_p95_ms": _number,
    "max_unanswered": _integer,
    "think_time": _think_time,
    "messages_per_customer": _integer,
    "conversation": _text,
    "stages": lambda v: _tables(v, _stage),
    "arrivals": lambda v: _tables(v, _phase),
}

_NOT_IN_FILES = {
    "agent_key": "the agent key comes from $VILNIUS_AGENT_KEY (keep secrets out of files)",
    "password": "the password comes from $VILNIUS_PASSWORD (keep secrets out of files)",
    "run_id": "the run id differs between runs of one file: give --run-id",
    "shard": "the shard differs between runs of one file: give --shard",
    "scenario": "a scenario file cannot name another scenario",
}


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    """The options ``path`` sets, by flag name (underscores), in the types of
    [SimConfig][vilnius_client.sim.SimConfig]'s fields.

    Raises:
        ValueError: It cannot be read, is no TOML, or a key is unknown or of the wrong type
            (the message names the file and the key).
    """
    try:
        with Path(path).open("rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    options: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in _NOT_IN_FILES:
            raise ValueError(f"{path}: {key}: {_NOT_IN_FILES[name]}")
        convert = _KEYS.get(name)
        if convert is None:
            raise ValueError(f"{path}: unknown key {key!r} (the keys are the flags' names)")
        try:
            options[name] = convert(value)
        except ValueError as exc:
            raise ValueError(f"{path}: {key}: {exc}") from None
    return options
