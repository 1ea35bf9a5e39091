"""The report as CSV files, in the shape Locust's ``--csv`` writes them."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

from .figures import CSV_PERCENTILES, MESSAGES, TimePoint

if TYPE_CHECKING:
    from .report import Report

__all__ = ["write_csv"]


def write_csv(report: Report, prefix: str | Path) -> tuple[Path, Path]:
    """Write ``report`` as ``PREFIX_stats.csv`` and ``PREFIX_stats_history.csv``.

    The statistics have one row per event type plus ``Aggregated`` (the message types
    summed), or the ``reply`` row with a bot under test; the history has, for every second
    of the run, the same rows with the rates and latency percentiles of that second.

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
        if report.replies is not None:
            rows = [report.replies.as_event()]
        else:
            rows = [*report.events, *([report.messages] if report.messages else [])]
        for e in rows:
            name = "Aggregated" if e.event == MESSAGES else e.event
            rate = e.delivered / report.duration if report.duration > 0 else 0.0
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
        for point in report.series:
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


def _csv_ms(seconds: float) -> str:
    return "" if math.isnan(seconds) else f"{seconds * 1000:.3f}"
