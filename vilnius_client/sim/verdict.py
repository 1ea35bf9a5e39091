"""A run's verdict, limit by limit: each `Outcome` is one thing that passes or fails the run
(the deliveries, each threshold, each named check), with the exit status it fails with.

One list serves the report's verdict line, its exit status, ``failures`` in the JSON and the
JUnit test cases (`vilnius_client.sim.junit`), so that they cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Report

__all__ = ["CheckCounts", "ExitCode", "Outcome", "outcomes"]


@dataclass
class CheckCounts:
    """How often one named check ([SimContext.check][vilnius_client.sim.SimContext.check])
    passed and failed."""

    passed: int = 0
    failed: int = 0


class ExitCode(IntEnum):
    """The exit status of `vilnius-sim` (and `Report.exit_code`).

    When several failures apply, the lowest code wins (a lost message before a slow one).
    """

    OK = 0
    """Every message delivered exactly once, every threshold and check met."""
    LOST = 1
    """A message (`new-message`, `agent-message`) was lost or duplicated, or the final
    wait timed out with deliveries or agents' answers outstanding."""
    USAGE = 2
    """Bad arguments or scenario file, or credentials the server needs are missing (nothing
    was sent)."""
    ERROR = 3
    """The run itself failed (for instance the server refused the agent key)."""
    THRESHOLD = 4
    """A threshold or check failed: message p99 above `--max-p99-ms`, the client error rate
    above `--max-error-rate` (0 by default: any client error fails the run), the bot's
    reply p95 above `--max-reply-p95-ms`, more unanswered messages than `--max-unanswered`
    (0 by default), or a scenario's check."""
    UNREACHABLE = 5
    """The agents could not connect within `--connect-timeout`."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C (SIGINT) or `Simulation.stop`; the report is partial."""


@dataclass(frozen=True)
class Outcome:
    """One limit of the run and whether it held.

    Attributes:
        name: What it is, as the flag spells it (``max-p99-ms``), ``deliveries``, or
            ``check: <name>``.
        passed: Whether it held.
        message: What was measured against what was allowed, in one line.
        code: The exit status it fails the run with.
    """

    name: str
    passed: bool
    message: str
    code: ExitCode


def outcomes(report: Report) -> list[Outcome]:
    """Every limit of ``report``'s run, in the order of the exit codes."""
    result = [_deliveries(report)]
    messages = report.messages
    p99 = messages.p99 if messages is not None else math.nan
    if report.max_p99_ms is not None:
        result.append(
            _at_most("max-p99-ms", "message p99", p99 * 1000, report.max_p99_ms, unit=" ms")
        )
    result.append(
        _at_most(
            "max-error-rate",
            "client error rate",
            report.error_rate,
            report.max_error_rate,
            digits=4,
            unit=f" ({report.errors} errors)",
        )
    )
    replies = report.replies
    if replies is not None:
        if report.max_reply_p95_ms is not None:
            result.append(
                _at_most(
                    "max-reply-p95-ms",
                    "reply p95",
                    replies.p95 * 1000,
                    report.max_reply_p95_ms,
                    unit=" ms",
                )
            )
        result.append(
            _at_most(
                "max-unanswered",
                f"unanswered messages (of {replies.sent}, within {replies.deadline:g} s)",
                replies.unanswered,
                report.max_unanswered,
                digits=0,
            )
        )
    for name, counts in report.checks.items():
        passed = counts.failed == 0
        result.append(
            Outcome(
                f"check: {name}",
                passed,
                f"check {name!r}: {counts.passed} passed, {counts.failed} failed",
                ExitCode.THRESHOLD,
            )
        )
    return result


def _deliveries(report: Report) -> Outcome:
    reasons = []
    for e in report.events:
        if e.gating and (e.lost or e.duplicated):
            reasons.append(f"{e.event}: {e.lost} lost, {e.duplicated} duplicated")
    if not report.drained:
        reasons.append("the final wait timed out with deliveries or agents' answers outstanding")
    message = "; ".join(reasons) or "no message lost or duplicated, the final wait finished"
    return Outcome("deliveries", not reasons, message, ExitCode.LOST)


def _at_most(
    name: str, what: str, value: float, limit: float, *, unit: str = "", digits: int = 1
) -> Outcome:
    """``value`` must not exceed ``limit``; a value not measured (NaN) passes."""
    passed = math.isnan(value) or value <= limit
    shown = "none measured" if math.isnan(value) else f"{value:.{digits}f}{unit}"
    relation = "<=" if passed else ">"
    return Outcome(
        name,
        passed,
        f"{what} {shown} {relation} --{name} {limit:g}",
        ExitCode.THRESHOLD,
    )
