"""The simulator's report: a terminal table, JSON, and a self-contained HTML page."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tracker import GATING, KINDS, KindStats, Tracker, percentile

__all__ = ["EventReport", "Report"]

_COLOURS = {
    "new-message": "#1f77b4",
    "agent-message": "#2ca02c",
    "customer-typing-status": "#ff7f0e",
    "agent-typing-status": "#9467bd",
}


@dataclass(frozen=True)
class EventReport:
    """The figures of one event type (latencies in seconds; NaN when nothing arrived)."""

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

    @classmethod
    def from_stats(cls, event: str, stats: KindStats) -> EventReport:
        """Summarise the tracker's counters of ``event``."""
        ordered = sorted(stats.latencies)
        return cls(
            event=event,
            sent=stats.sent,
            expected=stats.expected,
            delivered=stats.delivered,
            lost=stats.lost,
            duplicated=stats.duplicated,
            unexpected=stats.unexpected,
            errors=stats.errors,
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            max=ordered[-1] if ordered else math.nan,
            gating=event in GATING,
        )


@dataclass
class Report:
    """The outcome of a simulation.

    Attributes:
        url: The server the run talked to.
        settings: The run's settings (what the flags said).
        duration: Seconds from the first send to the end of the drain.
        events: One :class:`EventReport` per event type.
        clients: Clients started (agents + customer incarnations).
        reconnects: Automatic reconnections seen by the clients.
        reloads: Customers that disconnected on purpose and came back (churn).
        drained: False when the drain timed out: deliveries or agents' answers were still
            outstanding (those missing are counted as lost; unsent answers are not).
        errors: Errors reported by clients outside tracked sends (``error-event``, handler
            failures...), and the first few of their messages in ``error_samples``.
        samples: Per event type, ``(seconds since start, latency)`` of every delivery.
    """

    url: str
    settings: dict[str, Any]
    duration: float
    events: list[EventReport]
    clients: int = 0
    reconnects: int = 0
    reloads: int = 0
    drained: bool = True
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @classmethod
    def build(cls, tracker: Tracker, **fields: Any) -> Report:
        """Make the report from the tracker's counters plus the run-level ``fields``."""
        events = [EventReport.from_stats(kind, tracker.stats[kind]) for kind in KINDS]
        samples = {kind: tracker.stats[kind].samples for kind in KINDS}
        return cls(events=events, samples=samples, **fields)

    @property
    def ok(self) -> bool:
        """True when no message (``new-message``, ``agent-message``) was lost or duplicated."""
        return not any(e.gating and (e.lost or e.duplicated) for e in self.events)

    def event(self, name: str) -> EventReport:
        """The figures of event type ``name``."""
        return next(e for e in self.events if e.event == name)

    # ------------------------------------------------------------------
    # Renderers

    def table(self) -> str:
        """The report as a plain-text table."""
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
        verdict = (
            "OK: no message lost or duplicated"
            if self.ok
            else "FAILED: messages lost or duplicated"
        )
        lines += [
            "-" * len(head),
            f"{self.clients} clients, {self.reconnects} reconnects, {self.reloads} reloads,"
            f" {self.errors} client errors, {self.duration:.1f} s against {self.url}",
            verdict,
        ]
        if not self.drained:
            lines.append("warning: the drain timed out; some agents' answers were never sent")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (latencies in milliseconds, ``null`` when none)."""
        return {
            "ok": self.ok,
            "url": self.url,
            "settings": self.settings,
            "durationSeconds": round(self.duration, 3),
            "clients": self.clients,
            "reconnects": self.reconnects,
            "reloads": self.reloads,
            "drained": self.drained,
            "errors": self.errors,
            "errorSamples": self.error_samples,
            "events": {
                e.event: {
                    "sent": e.sent,
                    "expected": e.expected,
                    "delivered": e.delivered,
                    "lost": e.lost,
                    "duplicated": e.duplicated,
                    "unexpected": e.unexpected,
                    "errors": e.errors,
                    "gating": e.gating,
                    "latencyMs": {
                        "p50": _ms_or_none(e.p50),
                        "p95": _ms_or_none(e.p95),
                        "p99": _ms_or_none(e.p99),
                        "max": _ms_or_none(e.max),
                    },
                }
                for e in self.events
            },
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def write_html(self, path: str | Path) -> None:
        """Write the self-contained HTML report (inline CSS and SVG, no external assets)."""
        Path(path).write_text(self.to_html(), encoding="utf-8")

    def to_html(self) -> str:
        """The report as one self-contained HTML page with a latency chart."""
        esc = html.escape
        rows = "\n".join(
            f"<tr class='{'bad' if e.gating and (e.lost or e.duplicated) else ''}'>"
            f"<td>{esc(e.event)}{'' if e.gating else ' <small>(volatile)</small>'}</td>"
            f"<td>{e.sent}</td><td>{e.expected}</td><td>{e.delivered}</td><td>{e.lost}</td>"
            f"<td>{e.duplicated}</td><td>{e.errors}</td><td>{_ms(e.p50)}</td>"
            f"<td>{_ms(e.p95)}</td><td>{_ms(e.p99)}</td><td>{_ms(e.max)}</td></tr>"
            for e in self.events
        )
        settings = ", ".join(f"{esc(str(k))}={esc(str(v))}" for k, v in self.settings.items())
        verdict = (
            "<p class='ok'>&#10004; No message lost or duplicated.</p>"
            if self.ok
            else "<p class='fail'>&#10008; Messages were lost or duplicated.</p>"
        )
        errors = "".join(f"<li><code>{esc(s)}</code></li>" for s in self.error_samples)
        return _PAGE.format(
            url=esc(self.url),
            settings=settings,
            verdict=verdict,
            rows=rows,
            chart=latency_chart(self.samples),
            summary=(
                f"{self.clients} clients &middot; {self.reconnects} reconnects &middot; "
                f"{self.reloads} reloads &middot; {self.errors} client errors &middot; "
                f"{self.duration:.1f} s"
            ),
            errors=f"<h2>Client errors</h2><ul>{errors}</ul>" if errors else "",
        )


def latency_chart(
    samples: dict[str, list[tuple[float, float]]], width: int = 760, height: int = 300
) -> str:
    """An inline SVG: p50 (solid) and p99 (dashed) latency per time bucket, per event type."""
    series = {k: v for k, v in samples.items() if v}
    if not series:
        return "<p>No deliveries to chart.</p>"
    end = max(t for points in series.values() for t, _ in points)
    buckets = max(1, min(60, math.ceil(end) or 1))
    size = max(end, 1e-9) / buckets
    lines: list[tuple[str, str, list[tuple[float, float]]]] = []
    top = 0.0
    for kind, points in series.items():
        grouped: dict[int, list[float]] = {}
        for t, lat in points:
            grouped.setdefault(min(buckets - 1, int(t / size)), []).append(lat * 1000)
        p50, p99 = [], []
        for b in sorted(grouped):
            ordered = sorted(grouped[b])
            x = (b + 0.5) * size
            p50.append((x, percentile(ordered, 50)))
            p99.append((x, percentile(ordered, 99)))
        top = max(top, *(y for _, y in p99))
        lines += [(kind, "", p50), (kind, "6 4", p99)]
    top = _nice(top)
    left, right, upper, lower = 56, 16, 16, 40
    plot_w, plot_h = width - left - right, height - upper - lower

    def xy(x: float, y: float) -> str:
        return f"{left + x / max(end, 1e-9) * plot_w:.1f},{upper + plot_h - y / top * plot_h:.1f}"

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
        f"width='{width}' height='{height}' role='img' aria-label='latency over time'>",
        f"<rect x='{left}' y='{upper}' width='{plot_w}' height='{plot_h}' fill='#fafafa' "
        "stroke='#ccc'/>",
    ]
    for i in range(5):
        value = top * i / 4
        y = upper + plot_h - plot_h * i / 4
        parts.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eee'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{value:g}</text>"
        )
    for i in range(5):
        t = end * i / 4
        x = left + plot_w * i / 4
        parts.append(
            f"<text x='{x:.1f}' y='{upper + plot_h + 16}' text-anchor='middle'>{t:.1f}</text>"
        )
    parts.append(
        f"<text x='{left + plot_w / 2}' y='{height - 6}' text-anchor='middle'>"
        "seconds since start (send time)</text>"
        f"<text x='14' y='{upper + plot_h / 2}' text-anchor='middle' "
        f"transform='rotate(-90 14 {upper + plot_h / 2})'>latency ms</text>"
    )
    for kind, dash, points in lines:
        colour = _COLOURS.get(kind, "#333")
        path = " ".join(xy(x, y) for x, y in points)
        dashes = f" stroke-dasharray='{dash}'" if dash else ""
        parts.append(
            f"<polyline fill='none' stroke='{colour}' stroke-width='2'{dashes} points='{path}'>"
            f"<title>{html.escape(kind)} {'p99' if dash else 'p50'}</title></polyline>"
        )
    parts.append("</svg>")
    legend = "".join(
        f"<span><i style='background:{_COLOURS.get(kind, '#333')}'></i>{html.escape(kind)}</span>"
        for kind in series
    )
    return "".join(parts) + f"<div class='legend'>{legend} &middot; solid p50, dashed p99</div>"


def _nice(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def _ms_or_none(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 3)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vilnius-sim report</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 820px; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
tr.bad td {{ background: #fdecea; }}
.ok {{ color: #1b7f3b; font-weight: 600; }} .fail {{ color: #b3261e; font-weight: 600; }}
svg text {{ font-size: 11px; fill: #555; }}
.legend span {{ margin-right: 1em; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; }}
small, .meta {{ color: #666; }}
</style></head><body>
<h1>vilnius-sim report</h1>
<p class="meta">{url} &middot; {summary}<br>{settings}</p>
{verdict}
<h2>Deliveries</h2>
<table><tr><th>event</th><th>sent</th><th>expected</th><th>delivered</th><th>lost</th>
<th>dup</th><th>errors</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>
{rows}
</table>
<h2>Latency over time</h2>
{chart}
{errors}
</body></html>
"""
