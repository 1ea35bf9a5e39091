"""The verdict as JUnit XML (``--junit FILE``): one test case per limit of the run, so that a
CI system (GitLab, Jenkins, GitHub's test reporters) shows which limit failed.

The test cases are the report's outcomes (`vilnius_client.sim.verdict`): ``deliveries``
(exit 1 when it fails), then each threshold by its flag's name (``max-p99-ms``,
``max-error-rate``, ``max-reply-p95-ms``, ``max-unanswered``: exit 4) and each check
(``check: <name>``). An interrupted run adds an ``interrupted`` case in error. The whole table
is the suite's ``system-out``.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Report

__all__ = ["junit_xml"]

SUITE = "vilnius-sim"


def junit_xml(report: Report) -> str:
    """``report``'s outcomes as a JUnit XML document."""
    outcomes = report.outcomes
    failures = sum(1 for o in outcomes if not o.passed)
    errors = 1 if report.interrupted else 0
    seconds = f"{report.duration:.3f}"
    counts = {
        "tests": str(len(outcomes) + errors),
        "failures": str(failures),
        "errors": str(errors),
        "time": seconds,
    }
    root = ET.Element("testsuites", {"name": SUITE, **counts})
    started = report.started_at or time.time()
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": f"{SUITE} run {report.run_id}",
            **counts,
            "skipped": "0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("url", report.url),
        ("runId", report.run_id),
        ("shard", str(report.shard)),
        ("shards", str(report.shards)),
        ("bot", report.bot),
        ("exitCode", str(int(report.exit_code))),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for outcome in outcomes:
        case = ET.SubElement(
            suite, "testcase", {"classname": SUITE, "name": outcome.name, "time": "0"}
        )
        if not outcome.passed:
            failure = ET.SubElement(
                case,
                "failure",
                {"message": outcome.message, "type": f"exit {int(outcome.code)}"},
            )
            failure.text = outcome.message
        else:
            ET.SubElement(case, "system-out").text = outcome.message
    if report.interrupted:
        case = ET.SubElement(
            suite, "testcase", {"classname": SUITE, "name": "interrupted", "time": seconds}
        )
        ET.SubElement(case, "error", {"message": report.verdict(), "type": "exit 130"})
    ET.SubElement(suite, "system-out").text = report.table()
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
