"""The figures of a report: one event type's (`EventReport`), the bot's replies
(`ReplyReport`), and the run at one moment (`TimePoint`). Plain values, built from the
trackers' counters or, when shards are merged, from the counters each shard wrote."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from .histogram import LatencyHistogram
from .replies import ReplyCounts, ReplyTracker
from .tracker import GATING, KINDS, KindStats, Tracker

__all__ = [
    "COUNTERS",
    "CSV_PERCENTILES",
    "MESSAGES",
    "REPLY",
    "EventReport",
    "IntervalStats",
    "ReplyReport",
    "TimePoint",
]

#: Name of the row that aggregates the message event types (`GATING`).
MESSAGES = "messages"

#: Name of the row of the bot's replies (``bot="external"``).
REPLY = "reply"

#: Percentiles of the CSV statistics (Locust's columns).
CSV_PERCENTILES = (50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0)

#: The counters of an `EventReport`, in the order of `EventReport.from_counts` (and of the
#: rows of an ``--hdr-out`` file).
COUNTERS = ("sent", "expected", "delivered", "lost", "duplicated", "unexpected", "errors", "warmup")


@dataclass(frozen=True)
class EventReport:
    """The figures of one event type (latencies in seconds; NaN when nothing was measured).

    Latency figures leave out the deliveries of messages sent during the ramp-up (``warmup``).
    """

    event: str
    sent: int
    expected: int
    delivered: int
    lost: int
    duplicated: int
    unexpected: int
    errors: int
    p50: float
    p95: float
    p99: float
    max: float
    gating: bool
    warmup: int = 0
    min: float = math.nan
    mean: float = math.nan
    percentiles: dict[float, float] = field(default_factory=dict)

    @property
    def measured(self) -> int:
        """Deliveries whose latency is in the figures."""
        return self.delivered - self.warmup

    @classmethod
    def from_stats(cls, event: str, stats: KindStats) -> EventReport:
        """Summarise the tracker's counters of ``event``."""
        return cls.from_counts(
            event,
            counts=tuple(getattr(stats, name) for name in COUNTERS),
            histogram=stats.latency,
            gating=event in GATING,
        )

    @classmethod
    def aggregate(
        cls, event: str, rows: list[EventReport], histogram: LatencyHistogram
    ) -> EventReport:
        """The sum of ``rows``, with the latencies of ``histogram``."""
        counts = tuple(sum(getattr(r, name) for r in rows) for name in COUNTERS)
        return cls.from_counts(event, counts=counts, histogram=histogram, gating=True)

    @classmethod
    def from_counts(
        cls, event: str, *, counts: tuple[int, ...], histogram: LatencyHistogram, gating: bool
    ) -> EventReport:
        """Make one from its counters, in the order of `COUNTERS`, and its latencies."""
        sent, expected, delivered, lost, duplicated, unexpected, errors, warmup = counts
        return cls(
            event=event,
            sent=sent,
            expected=expected,
            delivered=delivered,
            lost=lost,
            duplicated=duplicated,
            unexpected=unexpected,
            errors=errors,
            gating=gating,
            warmup=warmup,
            **_latencies(histogram),
        )


@dataclass(frozen=True)
class ReplyReport:
    """What the bot under test did with the customers' messages (``bot="external"``;
    latencies in seconds from a message to its first reply, NaN when none was answered).

    Attributes:
        deadline: Seconds a reply could take for its message to count as answered.
        sent: Customer messages sent.
        answered: Answered within the deadline (their latencies are the figures).
        unanswered: Not answered within the deadline (``late`` among them).
        late: Unanswered messages whose reply came after the deadline.
        twice: Messages answered by more than one reply.
        duplicates: Replies delivered twice to the customer (the same message id).
        unsolicited: Replies in a conversation before its first message.
    """

    deadline: float
    sent: int
    answered: int
    unanswered: int
    late: int
    twice: int
    duplicates: int
    unsolicited: int
    p50: float
    p95: float
    p99: float
    max: float
    min: float = math.nan
    mean: float = math.nan
    percentiles: dict[float, float] = field(default_factory=dict)

    @classmethod
    def from_counts(
        cls, counts: ReplyCounts, deadline: float, histogram: LatencyHistogram | None = None
    ) -> ReplyReport:
        """Summarise the reply counters (and ``histogram``, by default theirs)."""
        return cls(
            deadline=deadline,
            sent=counts.sent,
            answered=counts.answered,
            unanswered=counts.unanswered,
            late=counts.late,
            twice=counts.twice,
            duplicates=counts.duplicates,
            unsolicited=counts.unsolicited,
            **_latencies(counts.latency if histogram is None else histogram),
        )

    def as_event(self) -> EventReport:
        """The same figures as an event row (the CSV's and the HTML table's): sent, answered
        as delivered, unanswered as lost, answered twice as duplicated, unsolicited replies
        as unexpected."""
        return EventReport(
            event=REPLY,
            sent=self.sent,
            expected=self.sent,
            delivered=self.answered,
            lost=self.unanswered,
            duplicated=self.twice,
            unexpected=self.unsolicited,
            errors=0,
            gating=False,
            **{name: getattr(self, name) for name in _LATENCY_FIELDS},
        )


@dataclass(frozen=True)
class IntervalStats:
    """One event type at one point of the time series.

    Attributes:
        sent: Tracked sends so far.
        delivered: Deliveries so far.
        errors: Failed sends so far.
        count: Deliveries during the interval (warm-up included).
        p50: Median latency of those deliveries, in seconds (NaN when none).
        p95: Their 95th percentile.
        p99: Their 99th percentile.
        max: The largest of them.
    """

    sent: int
    delivered: int
    errors: int
    count: int
    p50: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True)
class TimePoint:
    """The run at one moment (the simulator takes one a second).

    Attributes:
        elapsed: Seconds since the start (agents connected).
        timestamp: Unix time.
        connected: Clients connected.
        reconnects: Automatic reconnections so far.
        reloads: Customer reloads (churn) so far.
        errors: Client errors so far.
        events: Per event type, plus ``"messages"`` (the message types together).
    """

    elapsed: float
    timestamp: float
    connected: int
    reconnects: int
    reloads: int
    errors: int
    events: dict[str, IntervalStats]

    @classmethod
    def capture(
        cls,
        tracker: Tracker,
        *,
        elapsed: float,
        connected: int,
        reconnects: int,
        reloads: int,
        errors: int,
        replies: ReplyTracker | None = None,
    ) -> TimePoint:
        """Read the trackers' counters and take their recent latencies (resetting them).

        With ``replies`` (a bot under test) the point has the ``reply`` row only.
        """
        events: dict[str, IntervalStats] = {}
        if replies is None:
            recent = tracker.take_recent()
            merged = LatencyHistogram(2)
            for kind in GATING:
                merged.add(recent[kind])
            stats = tracker.stats
            events = {kind: _totals([stats[kind]], recent[kind]) for kind in KINDS}
            events[MESSAGES] = _totals([stats[k] for k in KINDS if k in GATING], merged)
        else:
            c = replies.counts
            events[REPLY] = _interval(c.sent, c.answered, 0, replies.take_recent())
        return cls(
            elapsed=elapsed,
            timestamp=time.time(),
            connected=connected,
            reconnects=reconnects,
            reloads=reloads,
            errors=errors,
            events=events,
        )


_LATENCY_FIELDS = ("p50", "p95", "p99", "max", "min", "mean", "percentiles")


def _latencies(histogram: LatencyHistogram) -> dict[str, Any]:
    """The latency fields of `EventReport` and `ReplyReport`, from ``histogram``."""
    h = histogram
    figures = (h.percentile(50), h.percentile(95), h.percentile(99), h.max, h.min, h.mean)
    percentiles = {q: h.percentile(q) for q in CSV_PERCENTILES}
    return dict(zip(_LATENCY_FIELDS, (*figures, percentiles), strict=True))


def _totals(stats: list[KindStats], histogram: LatencyHistogram) -> IntervalStats:
    return _interval(
        sum(s.sent for s in stats),
        sum(s.delivered for s in stats),
        sum(s.errors for s in stats),
        histogram,
    )


def _interval(sent: int, delivered: int, errors: int, histogram: LatencyHistogram) -> IntervalStats:
    return IntervalStats(
        sent=sent,
        delivered=delivered,
        errors=errors,
        count=histogram.count,
        p50=histogram.percentile(50),
        p95=histogram.percentile(95),
        p99=histogram.percentile(99),
        max=histogram.max,
    )
