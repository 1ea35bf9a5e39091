"""vilnius-sim measuring the user's real bot as a fleet (issues 22 and 23): three replicas of
examples/first_bot.py, made a fleet by ``$VILNIUS_FLEET`` alone, answer every simulated
customer's message once, and the simulator's reply figures say so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mock_server import RunningServer
from tests.examples.helpers import Example
from tests.fleet.redis_process import RedisProcess
from vilnius_client.sim import ExitCode
from vilnius_client.sim.__main__ import main


@pytest.fixture
async def replicas() -> AsyncIterator[list[Example]]:
    started: list[Example] = []
    yield started
    for bot in started:
        await bot.kill()


async def test_the_simulator_measures_first_bot_run_as_three_replicas(
    server: RunningServer, redis_server: RedisProcess, replicas: list[Example], tmp_path: Path
) -> None:
    fleet = f"{redis_server.url.rsplit('/', 1)[0]}/9"  # a database of its own
    for _ in range(3):
        replicas.append(
            await Example.start("first_bot.py", VILNIUS_URL=server.url, VILNIUS_FLEET=fleet)
        )
    for bot in replicas:
        await bot.wait_for_line("online")
    report_path = tmp_path / "report.json"

    status = await asyncio.to_thread(
        main,
        [
            *("--url", server.url, "--bot", "external", "--quiet"),
            *("--customers", "6", "--messages", "24", "--rate", "40"),
            *("--max-reply-p95-ms", "5000", "--json", str(report_path)),
        ],
    )

    report = json.loads(report_path.read_text())
    assert status == ExitCode.OK, report["failures"]
    replies = report["replies"]
    assert replies["sent"] == replies["answered"] == 24
    assert replies["unanswered"] == replies["answeredTwice"] == replies["duplicates"] == 0
