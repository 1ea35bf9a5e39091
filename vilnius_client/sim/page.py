"""The simulator's self-contained HTML report: a table, the verdict and an inline SVG chart."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

from .figures import REPLY
from .tracker import KINDS

if TYPE_CHECKING:
    from .report import Report

__all__ = ["html_page", "latency_chart"]

_COLOURS = {
    REPLY: "#d62728",
    "new-message": "#1f77b4",
    "agent-message": "#2ca02c",
    "customer-typing-status": "#ff7f0e",
    "agent-typing-status": "#9467bd",
}


def html_page(report: Report) -> str:
    """``report`` as one HTML page (inline CSS and SVG, no external assets)."""
    esc = html.escape
    if report.replies is not None:
        r = report.replies
        head = _row("th", "bot under test", "sent", "answered", "unanswered", "late", "twice")
        cells = [f"reply within {r.deadline:g} s", r.sent, r.answered, r.unanswered, r.late]
        rows = _row("td", *cells, r.twice, *map(_ms, (r.p50, r.p95, r.p99, r.max)))
        rows = rows.replace("<tr>", "<tr class='bad'>") if r.unanswered else rows
    else:
        head = _row("th", "event", "sent", "expected", "delivered", "lost", "dup", "errors")
        rows = "\n".join(
            f"<tr class='{'bad' if e.gating and (e.lost or e.duplicated) else ''}'>"
            f"<td>{esc(e.event)}{'' if e.gating else ' <small>(volatile)</small>'}</td>"
            f"<td>{e.sent}</td><td>{e.expected}</td><td>{e.delivered}</td><td>{e.lost}</td>"
            f"<td>{e.duplicated}</td><td>{e.errors}</td><td>{_ms(e.p50)}</td>"
            f"<td>{_ms(e.p95)}</td><td>{_ms(e.p99)}</td><td>{_ms(e.max)}</td></tr>"
            for e in report.events
        )
    head = head.replace(
        "</tr>", "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>"
    )
    checks = "".join(
        f"<li class='{'ok' if c.failed == 0 else 'fail'}'>{esc(name)}: {c.passed} passed,"
        f" {c.failed} failed</li>"
        for name, c in report.checks.items()
    )
    settings = ", ".join(f"{esc(str(k))}={esc(str(v))}" for k, v in report.settings.items())
    css = "ok" if report.ok and not report.interrupted else "fail"
    verdict = f"<p class='{css}'>{esc(report.verdict())}</p>"
    errors = "".join(f"<li><code>{esc(s)}</code></li>" for s in report.error_samples)
    series: dict[str, list[tuple[float, float, float]]] = {}
    for point in report.series:
        for kind in (*KINDS, REPLY):
            s = point.events.get(kind)
            if s is not None and s.count:
                series.setdefault(kind, []).append((point.elapsed, s.p50, s.p99))
    run = f"run {esc(report.run_id)}" + (
        f", {report.shards} shards merged" if report.shards > 1 else ""
    )
    rate = "" if report.external else f"{report.deliveries_per_second:.1f} deliveries/s &middot; "
    return _PAGE.format(
        url=esc(report.url),
        settings=settings,
        verdict=verdict,
        title="Replies" if report.external else "Deliveries",
        head=head,
        rows=rows,
        chart=latency_chart(series) if report.series or report.shards == 1 else _NO_SERIES,
        summary=(
            f"{run} &middot; {report.clients} clients &middot; {esc(report.counts_line())}"
            f" &middot; {rate}ramp-up {report.ramp_seconds:.1f} s &middot;"
            f" {report.duration:.1f} s"
        ),
        checks=f"<h2>Checks</h2><ul>{checks}</ul>" if checks else "",
        errors=f"<h2>Client errors</h2><ul>{errors}</ul>" if errors else "",
    )


def _row(cell: str, *values: object) -> str:
    return "<tr>" + "".join(f"<{cell}>{html.escape(str(v))}</{cell}>" for v in values) + "</tr>"


_NO_SERIES = "<p>A merged report has no chart over time: each shard's own report has one.</p>"


def latency_chart(
    series: dict[str, list[tuple[float, float, float]]], width: int = 760, height: int = 300
) -> str:
    """An inline SVG: p50 (solid) and p99 (dashed) latency per second, per event type.

    Args:
        series: Per event type, ``(seconds since start, p50, p99)`` (latencies in seconds).
        width: Of the SVG, in pixels.
        height: Of the SVG, in pixels.
    """
    series = {k: v for k, v in series.items() if v}
    if not series:
        return "<p>No deliveries to chart.</p>"
    end = max(t for points in series.values() for t, _, _ in points)
    top = _nice(max(p99 for points in series.values() for _, _, p99 in points) * 1000)
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
        "seconds since start (delivery time)</text>"
        f"<text x='14' y='{upper + plot_h / 2}' text-anchor='middle' "
        f"transform='rotate(-90 14 {upper + plot_h / 2})'>latency ms</text>"
    )
    for kind, points in series.items():
        colour = _COLOURS.get(kind, "#333")
        for index, label, dash in ((1, "p50", ""), (2, "p99", " stroke-dasharray='6 4'")):
            path = " ".join(xy(p[0], p[index] * 1000) for p in points)
            parts.append(
                f"<polyline fill='none' stroke='{colour}' stroke-width='2'{dash} "
                f"points='{path}'><title>{html.escape(kind)} {label}</title></polyline>"
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
    """Seconds as milliseconds with one decimal; ``-`` when NaN (the table and the page)."""
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


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
<h2>{title}</h2>
<table>{head}
{rows}
</table>
{checks}
<h2>Latency over time</h2>
{chart}
{errors}
</body></html>
"""
