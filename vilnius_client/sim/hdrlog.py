"""A run's latency histograms and counters in one file (``--hdr-out FILE``): an HdrHistogram
log, the text format every HdrHistogram implementation reads (Java's HistogramLogProcessor,
HdrHistogram's online plotter, ``hdrh`` in Python).

The log has one interval line per measured latency histogram, tagged with what it measures
(``Tag=new-message``, ``Tag=agent-message``, ``Tag=customer-typing-status``,
``Tag=agent-typing-status``, ``Tag=reply``), spanning the whole run, in microseconds and in
HdrHistogram's compressed encoding. A comment line, which log readers skip, carries the
counters a merge needs (sent, delivered, lost..., the run id and shard, the thresholds) as
JSON::

    #[vilnius-sim {"format": 1, "runId": "ci-1234", "shard": [1, 2], ...}]
    #[Histogram log format version 1.3]
    #[StartTime: 1733580000.123 (seconds since epoch), 2024-12-07 14:00:00]
    "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
    Tag=new-message,0.000,12.345,0.055,HISTFAAAAC...
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .figures import COUNTERS
from .histogram import LatencyHistogram

if TYPE_CHECKING:
    from .report import Report

__all__ = ["FORMAT", "ShardLog", "read_log", "write_log"]

FORMAT = 1
"""Version of the JSON comment's content."""

_HEADER = "#[vilnius-sim "
_LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'


@dataclass
class ShardLog:
    """What one ``--hdr-out`` file holds.

    Attributes:
        path: Where it was read from.
        data: The counters (the JSON comment).
        histograms: The latency histograms, by tag.
    """

    path: str
    data: dict[str, Any]
    histograms: dict[str, LatencyHistogram] = field(default_factory=dict)


def write_log(report: Report, path: str | Path) -> None:
    """Write ``report``'s histograms and counters to ``path`` (see the module)."""
    started = report.started_at or time.time()
    lines = [
        _HEADER + json.dumps(_counters(report), separators=(",", ":")) + "]",
        "#[Histogram log format version 1.3]",
        f"#[StartTime: {started:.3f} (seconds since epoch),"
        f" {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(started))} UTC]",
        _LEGEND,
    ]
    for tag, histogram in report.histograms.items():
        if histogram.count:
            lines.append(
                f"Tag={tag},0.000,{report.duration:.3f},{histogram.max * 1000:.3f},"
                f"{histogram.encode()}"
            )
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_log(path: str | Path) -> ShardLog:
    """Read a file `write_log` wrote.

    Raises:
        ValueError: It is not one (the message says what is wrong).
        OSError: It cannot be read.
    """
    data: dict[str, Any] | None = None
    histograms: dict[str, LatencyHistogram] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(_HEADER) and line.endswith("]"):
            try:
                data = json.loads(line[len(_HEADER) : -1])
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{path}:{number}: the vilnius-sim line is no JSON: {exc}"
                ) from None
        elif line.startswith("Tag="):
            tag, _, rest = line[len("Tag=") :].partition(",")
            payload = rest.rsplit(",", 1)[-1]
            try:
                histogram = LatencyHistogram.decode(payload)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
            if tag in histograms:
                histograms[tag].add(histogram)
            else:
                histograms[tag] = histogram
    if data is None:
        raise ValueError(f"{path}: not a vilnius-sim --hdr-out file (no '{_HEADER}' line)")
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: format {data.get('format')!r}, this vilnius-sim reads {FORMAT}")
    return ShardLog(str(path), data, histograms)


def _counters(report: Report) -> dict[str, Any]:
    t = report.throttling
    r = report.replies
    return {
        "format": FORMAT,
        "runId": report.run_id,
        "shard": [report.shard.index, report.shard.count],
        "url": report.url,
        "bot": report.bot,
        "settings": report.settings,
        "startedAt": report.started_at,
        "sendStartedAt": report.send_started_at,
        "durationSeconds": report.duration,
        "rampSeconds": report.ramp_seconds,
        "sendSeconds": report.send_seconds,
        "clients": report.clients,
        "reconnects": report.reconnects,
        "reloads": report.reloads,
        "drained": report.drained,
        "interrupted": report.interrupted,
        "errors": report.errors,
        "errorSamples": report.error_samples,
        "customerMessages": report.customer_messages,
        "agentMessages": report.agent_messages,
        "thresholds": {
            "maxP99Ms": report.max_p99_ms,
            "maxErrorRate": report.max_error_rate,
            "maxReplyP95Ms": report.max_reply_p95_ms,
            "maxUnanswered": report.max_unanswered,
        },
        "throttling": {
            "limit": t.limit,
            "window": t.window,
            "messages": t.messages,
            "wouldRefuse": t.would_refuse,
            "waits": t.waits,
            "waitedSeconds": t.waited_seconds,
            "refused": t.refused,
        },
        "events": {e.event: [getattr(e, name) for name in COUNTERS] for e in report.events},
        "replies": None
        if r is None
        else {
            "deadline": r.deadline,
            "sent": r.sent,
            "answered": r.answered,
            "unanswered": r.unanswered,
            "late": r.late,
            "twice": r.twice,
            "duplicates": r.duplicates,
            "unsolicited": r.unsolicited,
        },
        "checks": {name: [c.passed, c.failed] for name, c in report.checks.items()},
    }
