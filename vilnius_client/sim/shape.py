"""Load shapes as values, and the arithmetic of them (no I/O).

Two models, as load tools name them:

* **closed** (k6's ramping VUs, Locust's users): `Stage`\\ s set how many customers talk at
  once; each stage goes linearly from the previous stage's target (0 before the first) to
  its own, so ``10 s to 50, 30 s at 50, 10 s to 0`` is a ramp up, a hold and a ramp down;
* **open** (Artillery's phases, k6's arrival-rate executors): `ArrivalPhase`\\ s set how
  many new conversations start per second, however long the earlier ones take. Arrivals
  are evenly spaced: at 2 a second, one at 0 s, 0.5 s, 1 s...

Customers (closed: slots; open: arrivals) are numbered in one sequence for the whole
scenario, so that `--shard I/N` can take every N-th of them (`owned`): N shards together
start exactly the customers one run of the scenario starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "ArrivalPhase",
    "Shard",
    "Stage",
    "ThinkTime",
    "arrival_times",
    "customers_at",
    "parse_shard",
    "parse_stage",
    "parse_think_time",
    "total_duration",
]


@dataclass(frozen=True)
class Stage:
    """One stage of a closed-model load.

    Attributes:
        duration: Seconds the stage lasts.
        customers: The number of customers talking at its end; it changes linearly from
            the previous stage's (0 before the first stage).
    """

    duration: float
    customers: int

    def __post_init__(self) -> None:
        if not self.duration >= 0 or math.isinf(self.duration):
            raise ValueError(f"a stage's duration must be >= 0 s, got {self.duration}")
        if self.customers < 0:
            raise ValueError(f"a stage's customers must be >= 0, got {self.customers}")


@dataclass(frozen=True)
class ArrivalPhase:
    """One phase of an open-model load.

    Attributes:
        duration: Seconds the phase lasts.
        rate: New conversations per second at its start.
        ramp_to: The rate at its end (linear in between); None: ``rate`` throughout.
    """

    duration: float
    rate: float
    ramp_to: float | None = None

    def __post_init__(self) -> None:
        if not self.duration > 0 or math.isinf(self.duration):
            raise ValueError(f"a phase's duration must be > 0 s, got {self.duration}")
        if self.rate < 0 or (self.ramp_to is not None and self.ramp_to < 0):
            raise ValueError("an arrival rate must be >= 0")

    @property
    def end_rate(self) -> float:
        """The rate at the end of the phase."""
        return self.rate if self.ramp_to is None else self.ramp_to

    @property
    def arrivals(self) -> float:
        """How many conversations the phase starts (the area under its rate)."""
        return (self.rate + self.end_rate) / 2 * self.duration


@dataclass(frozen=True)
class ThinkTime:
    """Seconds a customer waits between its messages, drawn uniformly from ``low`` to
    ``high`` (both equal: always that long)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high or math.isinf(self.high):
            raise ValueError(f"think time wants 0 <= low <= high, got {self.low}-{self.high}")


@dataclass(frozen=True)
class Shard:
    """This process's part of a scenario: shard ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"a shard is I/N with 1 <= I <= N, got {self.index}/{self.count}")

    def owns(self, number: int) -> bool:
        """Whether customer ``number`` (0-based, in the scenario's sequence) is this shard's."""
        return number % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def total_duration(shape: Sequence[Stage] | Sequence[ArrivalPhase]) -> float:
    """Seconds the whole shape lasts."""
    return sum(part.duration for part in shape)


def customers_at(stages: Sequence[Stage], elapsed: float) -> float:
    """The target number of customers ``elapsed`` seconds into ``stages`` (0 after them)."""
    previous, start = 0.0, 0.0
    for stage in stages:
        end = start + stage.duration
        if elapsed < end:
            share = (elapsed - start) / stage.duration
            return previous + (stage.customers - previous) * share
        previous, start = float(stage.customers), end
    return 0.0


def arrival_times(phases: Sequence[ArrivalPhase]) -> Iterator[float]:
    """When each conversation arrives (seconds from the start), evenly spaced by the rate.

    The j-th arrival (from 0) comes when the arrivals due so far (the integral of the rate)
    reach j; across phases the count carries on, so a rate of 0.5 for 3 s then 0.5 for 3 s
    gives arrivals at 0, 2 and 4 s.
    """
    due, start, j = 0.0, 0.0, 0
    for phase in phases:
        r0, r1, length = phase.rate, phase.end_rate, phase.duration
        slope = (r1 - r0) / length
        while j < due + phase.arrivals:
            need = j - due  # arrivals still due within this phase before the j-th
            if slope == 0:
                offset = need / r0
            else:  # r0 t + slope t^2 / 2 = need
                offset = (-r0 + math.sqrt(max(0.0, r0 * r0 + 2 * slope * need))) / slope
            if offset >= length:
                break
            yield start + offset
            j += 1
        due += phase.arrivals
        start += length


_DURATION = r"(?P<seconds>\d+(?:\.\d*)?)(?P<unit>ms|s|m)?"
_STAGE = re.compile(_DURATION + r":(?P<customers>\d+)")
_UNITS = {None: 1.0, "s": 1.0, "ms": 0.001, "m": 60.0}


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"1.5m"`` or ``"500ms"`` in seconds.

    Raises:
        ValueError: Not a duration.
    """
    match = re.fullmatch(_DURATION, text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (write 30, 30s, 1.5m or 500ms)")
    return float(match["seconds"]) * _UNITS[match["unit"]]


def parse_stage(text: str) -> Stage:
    """``"DURATION:CUSTOMERS"`` (``"10s:50"``): a `Stage`.

    Raises:
        ValueError: Not of that form.
    """
    match = _STAGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"--stage wants DURATION:CUSTOMERS (like 10s:50), got {text!r}")
    seconds = float(match["seconds"]) * _UNITS[match["unit"]]
    return Stage(seconds, int(match["customers"]))


def parse_think_time(text: str) -> ThinkTime:
    """``"2"`` (always 2 s) or ``"1-3"`` (uniformly 1 to 3 s): a `ThinkTime`.

    Raises:
        ValueError: Not of that form.
    """
    low, sep, high = text.partition("-")
    try:
        seconds = parse_duration(low), parse_duration(high if sep else low)
    except ValueError:
        raise ValueError(
            f"--think-time wants SECONDS or MIN-MAX (like 1-3), got {text!r}"
        ) from None
    return ThinkTime(*seconds)


def parse_shard(text: str) -> Shard:
    """``"I/N"``: a `Shard`.

    Raises:
        ValueError: Not of that form, or I not within 1..N.
    """
    index, sep, count = text.partition("/")
    if not (sep and index.strip().isdigit() and count.strip().isdigit()):
        raise ValueError(f"--shard wants I/N (like 2/3), got {text!r}")
    return Shard(int(index), int(count))
