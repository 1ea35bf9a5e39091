"""The simulator's report: what a run measured, and its renderings (a terminal table, JSON,
CSV; the HTML page is `vilnius_client.sim.page`'s).

Why one module of this size: `Report` holds the run's figures and every rendering reads the
same fields (the table, JSON and CSV are a few dozen lines each); the thresholds and the exit
code are computed once, here.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from .histogram import LatencyHistogram
from .page import _ms, html_page
from .throttle import Throttling
from .tracker import GATING, KINDS, KindStats, Tracker

__all__ = ["EventReport", "ExitCode", "IntervalStats", "Report", "TimePoint"]

#: Name of the row that aggregates the message event types (`GATING`).
MESSAGES = "messages"

#: Percentiles of the CSV statistics (Locust's columns).
CSV_PERCENTILES = (50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0)


class ExitCode(IntEnum):
    """The exit status of `vilnius-sim` (and `Report.exit_code`).

    When several failures apply, the lowest code wins (a lost message before a slow one).
    """

    OK = 0
    """Every message delivered exactly once, every threshold met."""
    LOST = 1
    """A message (`new-message`, `agent-message`) was lost or duplicated, or the final
    wait timed out with deliveries or agents' answers outstanding."""
    USAGE = 2
    """Bad arguments."""
    ERROR = 3
    """The run itself failed (for instance the server refused the agent key)."""
    THRESHOLD = 4
    """A threshold failed: message p99 above `--max-p99-ms`, or the client error rate above
    `--max-error-rate` (0 by default: any client error fails the run)."""
    UNREACHABLE = 5
    """The agents could not connect within `--connect-timeout`."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C (SIGINT) or `Simulation.stop`; the report is partial."""


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
        return cls._make(
            event,
            counts=(
                stats.sent,
                stats.expected,
                stats.delivered,
                stats.lost,
                stats.duplicated,
                stats.unexpected,
                stats.errors,
                stats.warmup,
            ),
            histogram=stats.latency,
            gating=event in GATING,
        )

    @classmethod
    def aggregate(
        cls, event: str, rows: list[EventReport], histogram: LatencyHistogram
    ) -> EventReport:
        """The sum of ``rows``, with the latencies of ``histogram``."""
        names = ("sent", "expected", "delivered", "lost", "duplicated", "unexpected", "errors")
        counts = tuple(sum(getattr(r, name) for r in rows) for name in (*names, "warmup"))
        return cls._make(event, counts=counts, histogram=histogram, gating=True)

    @classmethod
    def _make(
        cls, event: str, *, counts: tuple[int, ...], histogram: LatencyHistogram, gating: bool
    ) -> EventReport:
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
            p50=histogram.percentile(50),
            p95=histogram.percentile(95),
            p99=histogram.percentile(99),
            max=histogram.max,
            gating=gating,
            warmup=warmup,
            min=histogram.min,
            mean=histogram.mean,
            percentiles={q: histogram.percentile(q) for q in CSV_PERCENTILES},
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
    ) -> TimePoint:
        """Read the tracker's counters and take its recent latencies (resetting them)."""
        recent = tracker.take_recent()
        merged = LatencyHistogram(2)
        for kind in GATING:
            merged.add(recent[kind])
        stats = tracker.stats
        events = {kind: _interval([stats[kind]], recent[kind]) for kind in KINDS}
        events[MESSAGES] = _interval([stats[k] for k in KINDS if k in GATING], merged)
        return cls(
            elapsed=elapsed,
            timestamp=time.time(),
            connected=connected,
            reconnects=reconnects,
            reloads=reloads,
            errors=errors,
            events=events,
        )


def _interval(stats: list[KindStats], histogram: LatencyHistogram) -> IntervalStats:
    return IntervalStats(
        sent=sum(s.sent for s in stats),
        delivered=sum(s.delivered for s in stats),
        errors=sum(s.errors for s in stats),
        count=histogram.count,
        p50=histogram.percentile(50),
        p95=histogram.percentile(95),
        p99=histogram.percentile(99),
        max=histogram.max,
    )


@dataclass
class Report:
    """The outcome of a simulation.

    Attributes:
        url: The server the run talked to.
        settings: The run's settings (what the flags said; never the agent key).
        duration: Seconds from the start (agents connected) to the end of the final wait.
        events: One [EventReport][vilnius_client.sim.EventReport] per event type.
        messages: The message types (`new-message`, `agent-message`) together: their
            summed counters and their latencies in one histogram (what `max_p99_ms` checks).
        clients: Clients started (agents + customer incarnations).
        reconnects: Automatic reconnections seen by the clients.
        reloads: Customers that disconnected on purpose and came back (churn).
        drained: False when the final wait timed out: deliveries or agents' answers were
            still outstanding (those missing are counted as lost; unsent answers are not).
        errors: Client errors: failed sends, ``error-event``, failed reconnections, customers
            that could not connect... and the first few of their messages in
            ``error_samples``.
        ramp_seconds: How long the customers took to connect (the ramp-up); deliveries of
            messages sent meanwhile are left out of the latency figures.
        send_seconds: How long the scenario sent: from its start (with a spawn rate, the
            customers send during the ramp-up) or from the end of the ramp-up (without).
        interrupted: The run was stopped early (Ctrl-C): the report is partial.
        max_p99_ms: The threshold on `messages.p99`, in milliseconds (None: none).
        max_error_rate: The threshold on `error_rate`.
        series: One [TimePoint][vilnius_client.sim.TimePoint] a second.
        throttling: Production's message limit: what it would refuse at this run's pace,
            and the 429s this server answered (waited out, or refused in the end).
    """

    url: str
    settings: dict[str, Any]
    duration: float
    events: list[EventReport]
    messages: EventReport | None = None
    clients: int = 0
    reconnects: int = 0
    reloads: int = 0
    drained: bool = True
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    ramp_seconds: float = 0.0
    send_seconds: float = 0.0
    interrupted: bool = False
    max_p99_ms: float | None = None
    max_error_rate: float = 0.0
    series: list[TimePoint] = field(default_factory=list)
    throttling: Throttling = field(default_factory=Throttling)

    @classmethod
    def build(cls, tracker: Tracker, **fields: Any) -> Report:
        """Make the report from the tracker's counters plus the run-level ``fields``."""
        events = [EventReport.from_stats(kind, tracker.stats[kind]) for kind in KINDS]
        merged = LatencyHistogram()
        for kind in GATING:
            merged.add(tracker.stats[kind].latency)
        messages = EventReport.aggregate(MESSAGES, [e for e in events if e.gating], merged)
        return cls(events=events, messages=messages, **fields)

    # ------------------------------------------------------------------
    # Figures and verdict

    def event(self, name: str) -> EventReport:
        """The figures of event type ``name``."""
        return next(e for e in self.events if e.event == name)

    @property
    def messages_sent(self) -> int:
        """Messages sent, by customers and agents (each is a `new-message` to the agents)."""
        return self.event("new-message").sent

    @property
    def deliveries(self) -> tuple[int, int]:
        """Message deliveries ``(delivered, expected)``, both message types together."""
        gating = [e for e in self.events if e.gating]
        return sum(e.delivered for e in gating), sum(e.expected for e in gating)

    @property
    def messages_per_second(self) -> float:
        """Throughput: messages sent per second of sending."""
        return self.messages_sent / self.send_seconds if self.send_seconds > 0 else 0.0

    @property
    def deliveries_per_second(self) -> float:
        """Message deliveries per second of the whole run."""
        return self.deliveries[0] / self.duration if self.duration > 0 else 0.0

    @property
    def error_rate(self) -> float:
        """Client errors per tracked send (sends of every event type, failed ones included)."""
        operations = sum(e.sent + e.errors for e in self.events)
        if operations == 0:
            return 1.0 if self.errors else 0.0
        return self.errors / operations

    @property
    def delivery_failures(self) -> list[str]:
        """Why the deliveries failed: messages lost or duplicated, the final wait cut short."""
        reasons = []
        for e in self.events:
            if e.gating and (e.lost or e.duplicated):
                reasons.append(f"{e.event}: {e.lost} lost, {e.duplicated} duplicated")
        if not self.drained:
            reasons.append(
                "the final wait timed out with deliveries or agents' answers outstanding"
            )
        return reasons

    @property
    def threshold_failures(self) -> list[str]:
        """Which thresholds failed (message p99, client error rate)."""
        reasons = []
        p99 = self.messages.p99 if self.messages is not None else math.nan
        if self.max_p99_ms is not None and not math.isnan(p99) and p99 * 1000 > self.max_p99_ms:
            reasons.append(f"message p99 {p99 * 1000:.1f} ms > --max-p99-ms {self.max_p99_ms:g}")
        if self.error_rate > self.max_error_rate:
            reasons.append(
                f"client error rate {self.error_rate:.4f} ({self.errors} errors)"
                f" > --max-error-rate {self.max_error_rate:g}"
            )
        return reasons

    @property
    def failures(self) -> list[str]:
        """Every reason the run failed (empty when it passed)."""
        return self.delivery_failures + self.threshold_failures

    @property
    def ok(self) -> bool:
        """True when nothing was lost or duplicated, the final wait finished, and every
        threshold was met."""
        return not self.failures

    @property
    def exit_code(self) -> ExitCode:
        """The exit status `vilnius-sim` returns for this report."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.delivery_failures:
            return ExitCode.LOST
        if self.threshold_failures:
            return ExitCode.THRESHOLD
        return ExitCode.OK

    def verdict(self) -> str:
        """One line: OK, FAILED with the reasons, or INTERRUPTED."""
        if self.interrupted:
            return (
                f"INTERRUPTED after {self.duration:.1f} s: partial report"
                f" (exit {int(ExitCode.INTERRUPTED)})"
            )
        if self.ok:
            return "OK: no message lost or duplicated, every threshold met"
        return f"FAILED (exit {int(self.exit_code)}): " + "; ".join(self.failures)

    def counts_line(self) -> str:
        """The counters in the words of the live status line."""
        delivered, expected = self.deliveries
        return counts_line(
            sent=self.messages_sent,
            per_second=self.messages_per_second,
            delivered=delivered,
            expected=expected,
            errors=self.errors,
            reconnects=self.reconnects,
            reloads=self.reloads,
        )

    # ------------------------------------------------------------------
    # Renderers

    def table(self) -> str:
        """The report as a plain-text table with a summary and the verdict."""
        head = (
            f"{'event':<24}{'sent':>8}{'expected':>10}{'delivered':>10}{'lost':>7}"
            f"{'dup':>6}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        )
        lines = [head, "-" * len(head)]
        for e in self.events:
            lines.append(
                f"{e.event:<24}{e.sent:>8}{e.expected:>10}{e.delivered:>10}{e.lost:>7}"
                f"{e.duplicated:>6}{e.errors:>7}{_ms(e.p50):>9}{_ms(e.p95):>9}{_ms(e.p99):>9}"
            )
        lines += ["-" * len(head), self.counts_line()]
        m = self.messages
        if m is not None:
            latency = (
                f"message latency p50 {_ms(m.p50)} ms, p99 {_ms(m.p99)} ms, max {_ms(m.max)} ms"
                f" over {m.measured} deliveries, {self.deliveries_per_second:.1f} deliveries/s"
            )
            if m.warmup:
                latency += f" ({m.warmup} of messages sent during the ramp-up left out)"
            lines.append(latency)
        lines += [
            self.throttling.line(),
            f"{self.clients} clients, ramp-up {self.ramp_seconds:.1f} s, sending"
            f" {self.send_seconds:.1f} s, {self.duration:.1f} s in all against {self.url}",
            self.verdict(),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (latencies in milliseconds, ``null`` when none)."""
        delivered, expected = self.deliveries
        return {
            "ok": self.ok,
            "exitCode": int(self.exit_code),
            "failures": self.failures,
            "interrupted": self.interrupted,
            "url": self.url,
            "settings": self.settings,
            "durationSeconds": round(self.duration, 3),
            "rampSeconds": round(self.ramp_seconds, 3),
            "sendSeconds": round(self.send_seconds, 3),
            "clients": self.clients,
            "reconnects": self.reconnects,
            "reloads": self.reloads,
            "drained": self.drained,
            "errors": self.errors,
            "errorRate": self.error_rate,
            "errorSamples": self.error_samples,
            "thresholds": {"maxP99Ms": self.max_p99_ms, "maxErrorRate": self.max_error_rate},
            "throughput": {
                "messagesSent": self.messages_sent,
                "messagesPerSecond": round(self.messages_per_second, 3),
                "deliveries": delivered,
                "expectedDeliveries": expected,
                "deliveriesPerSecond": round(self.deliveries_per_second, 3),
            },
            "messages": _messages_dict(self.messages) if self.messages is not None else None,
            "throttling": self.throttling.to_dict(),
            "events": {e.event: _event_dict(e) for e in self.events},
        }

    def write_json(self, path: str | Path) -> None:
        """Write [to_dict][vilnius_client.sim.Report.to_dict] to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def write_csv(self, prefix: str | Path) -> tuple[Path, Path]:
        """Write ``PREFIX_stats.csv`` and ``PREFIX_stats_history.csv`` (as Locust does).

        The statistics have one row per event type plus ``Aggregated`` (the message types
        summed); the history has, for every second of the run, one row per event type plus
        ``Aggregated``, with the rates and latency percentiles of that second.

        Returns:
            The two paths written.
        """
        stats_path = Path(f"{prefix}_stats.csv")
        history_path = Path(f"{prefix}_stats_history.csv")
        pct_names = [f"{q:g}%" for q in CSV_PERCENTILES]
        with stats_path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(
                [
                    *("Event", "Gating", "Sent", "Expected", "Delivered", "Lost"),
                    *("Duplicated", "Unexpected", "Errors", "Warm-up deliveries"),
                    *("Measured deliveries", "Deliveries/s", "Min ms", "Mean ms", "Max ms"),
                    *pct_names,
                ]
            )
            rows = [*self.events, *([self.messages] if self.messages else [])]
            for e in rows:
                name = "Aggregated" if e.event == MESSAGES else e.event
                rate = e.delivered / self.duration if self.duration > 0 else 0.0
                w.writerow(
                    [
                        *(name, e.gating, e.sent, e.expected, e.delivered, e.lost),
                        *(e.duplicated, e.unexpected, e.errors, e.warmup, e.measured),
                        *(f"{rate:.3f}", _csv_ms(e.min), _csv_ms(e.mean), _csv_ms(e.max)),
                        *(_csv_ms(e.percentiles.get(q, math.nan)) for q in CSV_PERCENTILES),
                    ]
                )
        with history_path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(
                [
                    *("Timestamp", "Elapsed s", "Connected", "Reconnects", "Reloads"),
                    *("Client errors", "Event", "Sent", "Delivered", "Errors", "Sent/s"),
                    *("Delivered/s", "Interval deliveries", "p50 ms", "p95 ms", "p99 ms"),
                    "Max ms",
                ]
            )
            previous: TimePoint | None = None
            for point in self.series:
                span = point.elapsed - previous.elapsed if previous else point.elapsed
                for name, s in point.events.items():
                    before = previous.events[name] if previous else None
                    sent_rate = (s.sent - (before.sent if before else 0)) / span if span else 0
                    done = s.delivered - (before.delivered if before else 0)
                    w.writerow(
                        [
                            *(int(point.timestamp), f"{point.elapsed:.3f}", point.connected),
                            *(point.reconnects, point.reloads, point.errors),
                            *("Aggregated" if name == MESSAGES else name, s.sent, s.delivered),
                            *(s.errors, f"{sent_rate:.3f}", f"{done / span if span else 0:.3f}"),
                            *(s.count, _csv_ms(s.p50), _csv_ms(s.p95), _csv_ms(s.p99)),
                            _csv_ms(s.max),
                        ]
                    )
                previous = point
        return stats_path, history_path

    def write_html(self, path: str | Path) -> None:
        """Write the self-contained HTML report (inline CSS and SVG, no external assets)."""
        Path(path).write_text(self.to_html(), encoding="utf-8")

    def to_html(self) -> str:
        """The report as one self-contained HTML page with a latency chart."""
        return html_page(self)


def counts_line(
    *,
    sent: int,
    per_second: float,
    delivered: int,
    expected: int,
    errors: int,
    reconnects: int,
    reloads: int,
) -> str:
    """The run's counters in one line, shared by the live status and the final report."""
    return (
        f"sent {sent} ({per_second:.1f}/s)  delivered {delivered}/{expected}  errors {errors}"
        f"  reconnects {reconnects}  reloads {reloads}"
    )


def _messages_dict(e: EventReport) -> dict[str, Any]:
    # Deliveries only: a reply is sent once but tracked as two event types.
    whole = _event_dict(e)
    return {k: whole[k] for k in ("expected", "delivered", "lost", "duplicated", "warmup")} | {
        "latencyMs": whole["latencyMs"]
    }


def _event_dict(e: EventReport) -> dict[str, Any]:
    return {
        "sent": e.sent,
        "expected": e.expected,
        "delivered": e.delivered,
        "lost": e.lost,
        "duplicated": e.duplicated,
        "unexpected": e.unexpected,
        "errors": e.errors,
        "warmup": e.warmup,
        "gating": e.gating,
        "latencyMs": {
            "p50": _ms_or_none(e.p50),
            "p95": _ms_or_none(e.p95),
            "p99": _ms_or_none(e.p99),
            "max": _ms_or_none(e.max),
            "mean": _ms_or_none(e.mean),
        },
    }


def _csv_ms(seconds: float) -> str:
    return "" if math.isnan(seconds) else f"{seconds * 1000:.3f}"


def _ms_or_none(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 3)
