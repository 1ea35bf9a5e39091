"""``vilnius-sim merge``: the shards of one scenario (their ``--hdr-out`` files) as one report.

Counters add up; latency histograms add up (HdrHistogram histograms merge without loss, so
the merged percentiles are those of all the shards' samples together); the run's span is
from the earliest shard's start to the latest one's end. The merged report has no time
series (each shard's own report has its chart). Its thresholds are the shards' (they must
agree) unless the merge is given others.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .figures import COUNTERS, REPLY, EventReport, ReplyReport
from .hdrlog import ShardLog, read_log
from .histogram import LatencyHistogram
from .replies import ReplyCounts
from .report import Report
from .shape import Shard
from .throttle import Throttling
from .tracker import GATING, KINDS
from .verdict import CheckCounts

__all__ = ["MergeError", "merge"]

_UNSET: Any = object()


class MergeError(ValueError):
    """The files cannot be merged: unreadable, of different runs, a shard missing or twice."""


def merge(
    paths: Iterable[str | Path],
    *,
    max_p99_ms: float | None = _UNSET,
    max_error_rate: float = _UNSET,
    max_reply_p95_ms: float | None = _UNSET,
    max_unanswered: int = _UNSET,
) -> Report:
    """One report of the shards whose ``--hdr-out`` files are ``paths``.

    Args:
        paths: One file per shard, every shard of one run (``--run-id``) exactly once.
        max_p99_ms: The thresholds; by default the ones the shards ran with.
        max_error_rate: See ``max_p99_ms``.
        max_reply_p95_ms: See ``max_p99_ms``.
        max_unanswered: See ``max_p99_ms``.

    Raises:
        MergeError: A file is unreadable or not one of ours; the files are of different
            runs; a shard is missing or given twice; thresholds disagree and none is given.
    """
    logs = _read_all(paths)
    first = logs[0].data
    thresholds = {
        "max_p99_ms": _agreed(logs, "maxP99Ms", max_p99_ms),
        "max_error_rate": _agreed(logs, "maxErrorRate", max_error_rate),
        "max_reply_p95_ms": _agreed(logs, "maxReplyP95Ms", max_reply_p95_ms),
        "max_unanswered": _agreed(logs, "maxUnanswered", max_unanswered),
    }
    histograms: dict[str, LatencyHistogram] = {}
    for log in logs:
        for tag, histogram in log.histograms.items():
            histograms.setdefault(tag, LatencyHistogram()).add(histogram)
    events = []
    for kind in KINDS:
        counts = [sum(values) for values in zip(*(_event(log, kind) for log in logs), strict=True)]
        events.append(
            EventReport.from_counts(
                kind,
                counts=tuple(counts),
                histogram=histograms.get(kind, LatencyHistogram()),
                gating=kind in GATING,
            )
        )
    starts = [log.data["startedAt"] for log in logs]
    ends = [log.data["startedAt"] + log.data["durationSeconds"] for log in logs]
    send_starts = [log.data["sendStartedAt"] for log in logs]
    send_ends = [log.data["sendStartedAt"] + log.data["sendSeconds"] for log in logs]
    settings = {k: v for k, v in first["settings"].items() if k != "shard"}
    return Report.assemble(
        events,
        histograms,
        url=first["url"],
        settings=settings,
        duration=max(ends) - min(starts),
        clients=_sum(logs, "clients"),
        reconnects=_sum(logs, "reconnects"),
        reloads=_sum(logs, "reloads"),
        drained=all(log.data["drained"] for log in logs),
        errors=_sum(logs, "errors"),
        error_samples=[s for log in logs for s in log.data["errorSamples"]][:20],
        ramp_seconds=max(log.data["rampSeconds"] for log in logs),
        send_seconds=max(send_ends) - min(send_starts),
        interrupted=any(log.data["interrupted"] for log in logs),
        throttling=_throttling(logs),
        run_id=first["runId"],
        shard=Shard(1, 1),
        shards=len(logs),
        bot=first["bot"],
        replies=_replies(logs, histograms.get(REPLY, LatencyHistogram())),
        checks=_checks(logs),
        customer_messages=_sum(logs, "customerMessages"),
        agent_messages=_sum(logs, "agentMessages"),
        started_at=min(starts),
        send_started_at=min(send_starts),
        **thresholds,
    )


def _read_all(paths: Iterable[str | Path]) -> list[ShardLog]:
    logs = []
    for path in paths:
        try:
            logs.append(read_log(path))
        except (OSError, ValueError) as exc:
            raise MergeError(str(exc)) from None
    if not logs:
        raise MergeError("no file to merge")
    runs = sorted({log.data["runId"] for log in logs})
    if len(runs) > 1:
        raise MergeError(
            f"the files are of different runs ({', '.join(runs)}): give each"
            " shard of one scenario the same --run-id"
        )
    counts = {log.data["shard"][1] for log in logs}
    if len(counts) > 1:
        raise MergeError(f"the files split the scenario differently (into {sorted(counts)})")
    count = counts.pop()
    seen: dict[int, str] = {}
    for log in logs:
        index = log.data["shard"][0]
        if index in seen:
            raise MergeError(f"shard {index}/{count} twice: {seen[index]} and {log.path}")
        seen[index] = log.path
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in seen]
    if missing:
        raise MergeError(f"run {runs[0]}: shard {', '.join(missing)} missing")
    if len({log.data["bot"] for log in logs}) > 1:
        raise MergeError("some shards ran with --bot sim, others with --bot external")
    return sorted(logs, key=lambda log: int(log.data["shard"][0]))


def _agreed(logs: list[ShardLog], name: str, given: Any) -> Any:
    if given is not _UNSET:
        return given
    values = {log.data["thresholds"][name] for log in logs}
    if len(values) > 1:
        raise MergeError(
            f"the shards ran with different {name} ({sorted(map(str, values))}): give the merge one"
        )
    return values.pop()


def _sum(logs: list[ShardLog], name: str) -> int:
    return sum(int(log.data[name]) for log in logs)


def _event(log: ShardLog, kind: str) -> list[int]:
    return list(log.data["events"].get(kind, [0] * len(COUNTERS)))


def _throttling(logs: list[ShardLog]) -> Throttling:
    parts = [log.data["throttling"] for log in logs]
    return Throttling(
        limit=parts[0]["limit"],
        window=parts[0]["window"],
        messages=sum(p["messages"] for p in parts),
        would_refuse=sum(p["wouldRefuse"] for p in parts),
        waits=sum(p["waits"] for p in parts),
        waited_seconds=sum(p["waitedSeconds"] for p in parts),
        refused=sum(p["refused"] for p in parts),
    )


def _replies(logs: list[ShardLog], histogram: LatencyHistogram) -> ReplyReport | None:
    parts = [log.data["replies"] for log in logs if log.data["replies"] is not None]
    if not parts:
        return None
    names = ("sent", "answered", "unanswered", "late", "twice", "duplicates", "unsolicited")
    counts = ReplyCounts(**{name: sum(p[name] for p in parts) for name in names})
    return ReplyReport.from_counts(counts, parts[0]["deadline"], histogram)


def _checks(logs: list[ShardLog]) -> dict[str, CheckCounts]:
    checks: dict[str, CheckCounts] = {}
    for log in logs:
        for name, (passed, failed) in log.data["checks"].items():
            counts = checks.setdefault(name, CheckCounts())
            counts.passed += passed
            counts.failed += failed
    return checks
