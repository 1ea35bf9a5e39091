"""vilnius-sim against a real bot (``--bot external``): examples/first_bot.py, or a slow one,
as subprocesses against the reference server; the simulator runs as `vilnius-sim` does
(``main`` in a thread: it runs its own event loop while the test's serves the server)."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mock_server import RunningServer
from tests.examples.helpers import EXAMPLES, Example
from vilnius_client.sim import ExitCode
from vilnius_client.sim.__main__ import main

SLOW_BOT = Path(__file__).with_name("slow_bot.py")
EXTERNAL = ["--bot", "external", "--quiet"]


@pytest.fixture
async def bots() -> AsyncIterator[list[Example]]:
    """Bots a test started; killed at teardown."""
    started: list[Example] = []
    yield started
    for bot in started:
        await bot.kill()


async def start_bot(bots: list[Example], url: str, script: Path, *args: str) -> Example:
    """Start ``script`` against ``url`` and wait until it says it is online."""
    bot = await Example.start(script, *args, VILNIUS_URL=url)
    bots.append(bot)
    await bot.wait_for_line("online")
    return bot


async def sim(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


def junit_cases(path: Path) -> dict[str, bool]:
    """The JUnit file's test cases: name -> passed."""
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {case.attrib["name"]: case.find("failure") is None for case in suite.iter("testcase")}


async def test_first_bot_under_load_reports_its_reply_latency(
    server: RunningServer, bots: list[Example], tmp_path: Path
) -> None:
    await start_bot(bots, server.url, EXAMPLES / "first_bot.py")
    json_path, junit_path = tmp_path / "report.json", tmp_path / "junit.xml"
    html_path = tmp_path / "report.html"

    status = await sim(
        *("--url", server.url, *EXTERNAL, "--customers", "3", "--messages", "12"),
        *("--rate", "40", "--max-reply-p95-ms", "5000"),
        *("--json", str(json_path), "--junit", str(junit_path), "--html", str(html_path)),
    )

    report = json.loads(json_path.read_text())
    assert status == ExitCode.OK, report["failures"]
    replies = report["replies"]
    assert replies["sent"] == replies["answered"] == 12
    assert replies["unanswered"] == replies["answeredTwice"] == replies["duplicates"] == 0
    latency = replies["latencyMs"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"] < 5000
    # Nothing of the simulator's own answered: no simulated agent was started.
    assert report["throughput"] == report["throughput"] | {
        "customerMessages": 12,
        "agentMessages": 0,
    }
    assert report["clients"] == 3
    assert junit_cases(junit_path) == {
        "deliveries": True,
        "max-error-rate": True,
        "max-reply-p95-ms": True,
        "max-unanswered": True,
    }
    page = html_path.read_text()
    assert "<h2>Replies</h2>" in page
    assert "<td>reply within 10 s</td><td>12</td><td>12</td>" in page


async def test_a_slow_bot_fails_the_reply_threshold(
    server: RunningServer, bots: list[Example], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await start_bot(bots, server.url, SLOW_BOT, "0.4")
    json_path, junit_path = tmp_path / "report.json", tmp_path / "junit.xml"

    status = await sim(
        *("--url", server.url, *EXTERNAL, "--customers", "2", "--messages", "4"),
        *("--rate", "40", "--reply-deadline", "5", "--max-reply-p95-ms", "200"),
        *("--json", str(json_path), "--junit", str(junit_path)),
    )

    assert status == ExitCode.THRESHOLD == 4
    out = capsys.readouterr().out
    assert "FAILED (exit 4): reply p95" in out
    report = json.loads(json_path.read_text())
    assert report["replies"]["answered"] == 4, "slow, but within the deadline"
    assert report["replies"]["latencyMs"]["p50"] >= 400
    assert junit_cases(junit_path) == {
        "deliveries": True,
        "max-error-rate": True,
        "max-reply-p95-ms": False,
        "max-unanswered": True,
    }
    failure = ET.parse(junit_path).getroot().find(".//testcase[@name='max-reply-p95-ms']/failure")
    assert failure is not None
    assert "> --max-reply-p95-ms 200" in failure.attrib["message"]


async def test_messages_unanswered_within_the_deadline_fail_the_run(
    server: RunningServer, bots: list[Example], tmp_path: Path
) -> None:
    await start_bot(bots, server.url, SLOW_BOT, "0.5")
    json_path = tmp_path / "report.json"
    args = [
        *("--url", server.url, *EXTERNAL, "--customers", "2", "--messages", "6"),
        *("--rate", "40", "--reply-deadline", "0.2", "--json", str(json_path)),
    ]

    assert await sim(*args) == ExitCode.THRESHOLD
    replies = json.loads(json_path.read_text())["replies"]
    # Each customer gave up after its first message went unanswered: it never writes over
    # a reply still to come.
    assert (replies["sent"], replies["answered"], replies["unanswered"]) == (2, 0, 2)

    assert await sim(*args, "--max-unanswered", "2") == ExitCode.OK


async def test_a_conversation_hook_checks_the_replies_content(
    server: RunningServer, bots: list[Example], tmp_path: Path
) -> None:
    await start_bot(bots, server.url, EXAMPLES / "first_bot.py")
    json_path = tmp_path / "report.json"
    hook = "examples/scenarios/conversation.py:ask_about_parcel"

    status = await sim(
        *("--url", server.url, *EXTERNAL, "--arrival-rate", "4", "--duration", "1"),
        *("--think-time", "0.05", "--conversation", hook, "--json", str(json_path)),
    )

    report = json.loads(json_path.read_text())
    assert status == ExitCode.OK, report["failures"]
    # 4 arrivals, each asking twice; first-bot quotes the question, so the check passes.
    assert report["replies"]["answered"] == 8
    assert report["checks"] == {"the answer is about the parcel": {"passed": 4, "failed": 0}}


async def test_a_failed_check_fails_the_run(
    server: RunningServer, bots: list[Example], capsys: pytest.CaptureFixture[str]
) -> None:
    await start_bot(bots, server.url, EXAMPLES / "first_bot.py")

    status = await sim(
        *("--url", server.url, *EXTERNAL, "--arrival-rate", "2", "--duration", "1"),
        "--conversation",
        "tests.sim.scenarios:expects_a_tracking_number",
    )

    assert status == ExitCode.THRESHOLD
    assert "check 'the answer has a tracking number': 0 passed, 2 failed" in capsys.readouterr().out
