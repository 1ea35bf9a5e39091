"""The simulator's report: what a run (or a merge of shards) measured, its verdict, and its
renderings: a terminal table and JSON here; CSV (`vilnius_client.sim.csvout`), the HTML page
(`vilnius_client.sim.page`), JUnit XML (`vilnius_client.sim.junit`) and the HdrHistogram log
(`vilnius_client.sim.hdrlog`) read the same fields.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .figures import MESSAGES, REPLY, EventReport, ReplyReport, TimePoint
from .histogram import LatencyHistogram
from .page import _ms, html_page
from .replies import ReplyCounts
from .shape import Shard
from .throttle import Throttling
from .tracker import GATING, KINDS, Tracker
from .verdict import CheckCounts, ExitCode, Outcome, outcomes

__all__ = ["Report", "counts_line"]


@dataclass
class Report:
    """The outcome of a simulation (or of several shards, merged).

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
        run_id: The run's id (its tags and ids start with it).
        shard: Which shard of the scenario this run was (``1/1``: the whole of it).
        shards: How many runs the report merges (1: a single run).
        bot: ``"sim"`` (the run's own agents answered) or ``"external"`` (a bot under test).
        replies: With a bot under test: what it did with the customers' messages.
        max_reply_p95_ms: The threshold on ``replies.p95``, in milliseconds (None: none).
        max_unanswered: The threshold on ``replies.unanswered``.
        checks: The scenario's named checks, with their passes and failures.
        customer_messages: Messages the customers sent.
        agent_messages: Messages the simulated agents sent.
        started_at: Unix time of the start (agents connected).
        send_started_at: Unix time sending started.
        histograms: The measured latencies, per event type and ``reply`` (what
            `--hdr-out` writes and a merge adds up).
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
    run_id: str = ""
    shard: Shard = field(default_factory=Shard)
    shards: int = 1
    bot: str = "sim"
    replies: ReplyReport | None = None
    max_reply_p95_ms: float | None = None
    max_unanswered: int = 0
    checks: dict[str, CheckCounts] = field(default_factory=dict)
    customer_messages: int = 0
    agent_messages: int = 0
    started_at: float = 0.0
    send_started_at: float = 0.0
    histograms: dict[str, LatencyHistogram] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        tracker: Tracker,
        *,
        replies: ReplyCounts | None = None,
        reply_deadline: float = 10.0,
        **fields: Any,
    ) -> Report:
        """Make the report from the trackers' counters plus the run-level ``fields``.

        Args:
            tracker: The deliveries of the run's tracked messages.
            replies: The bot's replies (a bot under test), or None.
            reply_deadline: Seconds a reply could take.
            **fields: The other attributes.
        """
        histograms = {kind: tracker.stats[kind].latency for kind in KINDS}
        events = [EventReport.from_stats(kind, tracker.stats[kind]) for kind in KINDS]
        reply_report = None
        if replies is not None:
            reply_report = ReplyReport.from_counts(replies, reply_deadline)
            histograms[REPLY] = replies.latency
        return cls.assemble(events, histograms, replies=reply_report, **fields)

    @classmethod
    def assemble(
        cls, events: list[EventReport], histograms: dict[str, LatencyHistogram], **fields: Any
    ) -> Report:
        """Make the report from its event rows and their latency ``histograms`` (what
        `build` and a merge of shards do); adds the ``messages`` row."""
        merged = LatencyHistogram()
        for kind in GATING:
            if kind in histograms:
                merged.add(histograms[kind])
        messages = EventReport.aggregate(MESSAGES, [e for e in events if e.gating], merged)
        return cls(events=events, messages=messages, histograms=histograms, **fields)

    # ------------------------------------------------------------------
    # Figures and verdict

    def event(self, name: str) -> EventReport:
        """The figures of event type ``name``."""
        return next(e for e in self.events if e.event == name)

    @property
    def external(self) -> bool:
        """True when the customers talked to a bot under test."""
        return self.replies is not None

    @property
    def messages_sent(self) -> int:
        """Messages sent, by customers and simulated agents together."""
        return self.customer_messages + self.agent_messages

    @property
    def deliveries(self) -> tuple[int, int]:
        """Message deliveries ``(delivered, expected)``, both message types together."""
        gating = [e for e in self.events if e.gating]
        return sum(e.delivered for e in gating), sum(e.expected for e in gating)

    @property
    def messages_per_second(self) -> float:
        """Throughput: the customers' messages per second of sending (what ``rate`` sets)."""
        return self.customer_messages / self.send_seconds if self.send_seconds > 0 else 0.0

    @property
    def deliveries_per_second(self) -> float:
        """Message deliveries per second of the whole run."""
        return self.deliveries[0] / self.duration if self.duration > 0 else 0.0

    @property
    def error_rate(self) -> float:
        """Client errors per tracked send (sends of every event type, failed ones included;
        with a bot under test, the customers' messages)."""
        operations = sum(e.sent + e.errors for e in self.events)
        operations += self.replies.sent if self.replies is not None else 0
        if operations == 0:
            return 1.0 if self.errors else 0.0
        return self.errors / operations

    @property
    def outcomes(self) -> list[Outcome]:
        """Every limit of the run (deliveries, thresholds, checks) and whether it held."""
        return outcomes(self)

    @property
    def delivery_failures(self) -> list[str]:
        """Why the deliveries failed: messages lost or duplicated, the final wait cut short."""
        return [o.message for o in self.outcomes if not o.passed and o.code == ExitCode.LOST]

    @property
    def threshold_failures(self) -> list[str]:
        """Which thresholds and checks failed."""
        return [o.message for o in self.outcomes if not o.passed and o.code == ExitCode.THRESHOLD]

    @property
    def failures(self) -> list[str]:
        """Every reason the run failed (empty when it passed)."""
        return [o.message for o in self.outcomes if not o.passed]

    @property
    def ok(self) -> bool:
        """True when nothing was lost or duplicated, the final wait finished, and every
        threshold and check was met."""
        return all(o.passed for o in self.outcomes)

    @property
    def exit_code(self) -> ExitCode:
        """The exit status `vilnius-sim` returns for this report."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return min((o.code for o in self.outcomes if not o.passed), default=ExitCode.OK)

    def verdict(self) -> str:
        """One line: OK, FAILED with the reasons, or INTERRUPTED."""
        if self.interrupted:
            return (
                f"INTERRUPTED after {self.duration:.1f} s: partial report"
                f" (exit {int(ExitCode.INTERRUPTED)})"
            )
        if self.ok:
            limits = "every threshold and check met" if self.checks else "every threshold met"
            r = self.replies
            if r is not None:
                return (
                    f"OK: {r.answered}/{r.sent} messages answered within {r.deadline:g} s, {limits}"
                )
            return f"OK: no message lost or duplicated, {limits}"
        return f"FAILED (exit {int(self.exit_code)}): " + "; ".join(self.failures)

    def counts_line(self) -> str:
        """The counters in the words of the live status line."""
        delivered, expected = self.deliveries
        if self.replies is not None:
            delivered, expected = self.replies.answered, self.replies.sent
        return counts_line(
            customers=self.customer_messages,
            agents=None if self.external else self.agent_messages,
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
        lines = self._reply_rows() if self.replies is not None else self._event_rows()
        lines.append(self.counts_line())
        r, m = self.replies, self.messages
        if r is not None:
            lines.append(
                f"time to first reply p50 {_ms(r.p50)} ms, p95 {_ms(r.p95)} ms, p99"
                f" {_ms(r.p99)} ms, max {_ms(r.max)} ms over {r.answered} answers; unanswered"
                f" {r.unanswered} ({r.late} late), answered twice {r.twice}"
            )
        elif m is not None:
            latency = (
                f"message latency p50 {_ms(m.p50)} ms, p99 {_ms(m.p99)} ms, max {_ms(m.max)} ms"
                f" over {m.measured} deliveries, {self.deliveries_per_second:.1f} deliveries/s"
            )
            if m.warmup:
                latency += f" ({m.warmup} of messages sent during the ramp-up left out)"
            lines.append(latency)
        for name, counts in self.checks.items():
            lines.append(f"check {name!r}: {counts.passed} passed, {counts.failed} failed")
        run = f"run {self.run_id}" + (f" shard {self.shard}" if self.shard.count > 1 else "")
        if self.shards > 1:
            run = f"run {self.run_id}, {self.shards} shards merged"
        lines += [
            self.throttling.line(),
            f"{self.clients} clients, ramp-up {self.ramp_seconds:.1f} s, sending"
            f" {self.send_seconds:.1f} s, {self.duration:.1f} s in all against {self.url} ({run})",
            self.verdict(),
        ]
        return "\n".join(lines)

    def _event_rows(self) -> list[str]:
        head = (
            f"{'event':<24}{'sent':>8}{'expected':>10}{'delivered':>10}{'lost':>7}"
            f"{'dup':>6}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        )
        lines = [head, "-" * len(head)]
        for e in self.events:
            lines.append(
                f"{e.event:<24}{e.sent:>8}{e.expected:>10}{e.delivered:>10}{e.lost:>7}"
                f"{e.duplicated:>6}{e.errors:>7}{_ms(e.p50):>9}{_ms(e.p95):>9}{_ms(e.p99):>9}"
                f"{_ms(e.max):>9}"
            )
        return [*lines, "-" * len(head)]

    def _reply_rows(self) -> list[str]:
        r = self.replies
        assert r is not None
        head = (
            f"{'bot under test':<24}{'sent':>8}{'answered':>10}{'unanswered':>11}{'late':>6}"
            f"{'twice':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        )
        row = (
            f"{f'reply within {r.deadline:g} s':<24}{r.sent:>8}{r.answered:>10}"
            f"{r.unanswered:>11}{r.late:>6}{r.twice:>7}{_ms(r.p50):>9}{_ms(r.p95):>9}"
            f"{_ms(r.p99):>9}{_ms(r.max):>9}"
        )
        return [head, "-" * len(head), row, "-" * len(head)]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (latencies in milliseconds, ``null`` when none)."""
        delivered, expected = self.deliveries
        return {
            "ok": self.ok,
            "exitCode": int(self.exit_code),
            "failures": self.failures,
            "outcomes": [
                {"name": o.name, "passed": o.passed, "message": o.message, "exitCode": int(o.code)}
                for o in self.outcomes
            ],
            "interrupted": self.interrupted,
            "url": self.url,
            "runId": self.run_id,
            "shard": str(self.shard),
            "shards": self.shards,
            "bot": self.bot,
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
            "thresholds": {
                "maxP99Ms": self.max_p99_ms,
                "maxErrorRate": self.max_error_rate,
                "maxReplyP95Ms": self.max_reply_p95_ms,
                "maxUnanswered": self.max_unanswered,
            },
            "throughput": {
                "customerMessages": self.customer_messages,
                "agentMessages": self.agent_messages,
                "customerMessagesPerSecond": round(self.messages_per_second, 3),
                "deliveries": delivered,
                "expectedDeliveries": expected,
                "deliveriesPerSecond": round(self.deliveries_per_second, 3),
            },
            "replies": _replies_dict(self.replies) if self.replies is not None else None,
            "checks": {n: {"passed": c.passed, "failed": c.failed} for n, c in self.checks.items()},
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
        summed), or the ``reply`` row with a bot under test; the history has, for every
        second of the run, the same rows with the rates and latency percentiles of that
        second.

        Returns:
            The two paths written.
        """
        from .csvout import write_csv

        return write_csv(self, prefix)

    def write_html(self, path: str | Path) -> None:
        """Write the self-contained HTML report (inline CSS and SVG, no external assets)."""
        Path(path).write_text(self.to_html(), encoding="utf-8")

    def to_html(self) -> str:
        """The report as one self-contained HTML page with a latency chart."""
        return html_page(self)

    def write_junit(self, path: str | Path) -> None:
        """Write the verdict as JUnit XML: one test case per limit (deliveries, each
        threshold, each check), so that CI shows which one failed."""
        from .junit import junit_xml

        Path(path).write_text(junit_xml(self), encoding="utf-8")

    def write_hdr(self, path: str | Path) -> None:
        """Write the latency histograms and counters as an HdrHistogram log, for
        `vilnius-sim merge` (see `vilnius_client.sim.hdrlog`)."""
        from .hdrlog import write_log

        write_log(self, path)


def counts_line(
    *,
    customers: int,
    agents: int | None,
    per_second: float,
    delivered: int,
    expected: int,
    errors: int,
    reconnects: int,
    reloads: int,
) -> str:
    """The run's counters in one line, shared by the live status and the final report.

    ``agents`` is None with a bot under test: its messages are replies, ``delivered`` and
    ``expected`` then the messages answered and sent.
    """
    sent = f"sent {customers} by customers ({per_second:.1f}/s)"
    if agents is None:
        done = f"answered {delivered}/{expected}"
    else:
        sent += f" + {agents} by agents"
        done = f"delivered {delivered}/{expected}"
    return f"{sent}  {done}  errors {errors}  reconnects {reconnects}  reloads {reloads}"


def _replies_dict(r: ReplyReport) -> dict[str, Any]:
    return {
        "deadlineSeconds": r.deadline,
        "sent": r.sent,
        "answered": r.answered,
        "unanswered": r.unanswered,
        "late": r.late,
        "answeredTwice": r.twice,
        "duplicates": r.duplicates,
        "unsolicited": r.unsolicited,
        "latencyMs": _latency_dict(r.p50, r.p95, r.p99, r.max, r.mean),
    }


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
        "latencyMs": _latency_dict(e.p50, e.p95, e.p99, e.max, e.mean),
    }


def _latency_dict(p50: float, p95: float, p99: float, top: float, mean: float) -> dict[str, Any]:
    return {
        "p50": _ms_or_none(p50),
        "p95": _ms_or_none(p95),
        "p99": _ms_or_none(p99),
        "max": _ms_or_none(top),
        "mean": _ms_or_none(mean),
    }


def _ms_or_none(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 3)
