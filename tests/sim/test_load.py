"""Load shapes end to end: the staged example file, arrivals, stopping a staged run, and the
pytest helper for a bot's reply latency."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

from mock_server import RunningServer
from tests.conftest import scaled
from tests.examples.helpers import EXAMPLES
from vilnius_client.sim import (
    ArrivalPhase,
    ExitCode,
    SimConfig,
    SimCustomer,
    Simulation,
    Stage,
    ThinkTime,
)
from vilnius_client.sim.__main__ import main

STAGED = EXAMPLES / "scenarios" / "staged.toml"


def test_the_staged_example_ramps_up_holds_and_ramps_down(tmp_path: Path) -> None:
    json_path, prefix = tmp_path / "report.json", tmp_path / "run"

    status = main(
        ["--scenario", str(STAGED), "--quiet", "--json", str(json_path), "--csv", str(prefix)]
    )

    report = json.loads(json_path.read_text())
    assert status == ExitCode.OK, report["failures"]
    assert report["settings"]["stages"] == [
        {"duration": 2.0, "customers": 6},
        {"duration": 3.0, "customers": 6},
        {"duration": 1.0, "customers": 0},
    ]
    assert report["clients"] == 2 + 6, "two agents, six customer slots"
    throughput = report["throughput"]
    assert throughput["customerMessages"] == throughput["agentMessages"] > 6
    assert report["events"]["agent-message"]["delivered"] == throughput["agentMessages"]
    with Path(f"{prefix}_stats_history.csv").open() as f:
        connected = [
            int(row["Connected"]) for row in csv.DictReader(f) if row["Event"] == "Aggregated"
        ]
    assert max(connected) == 8, connected  # the hold
    assert connected[-1] < 8, "ramped down"


async def test_arrivals_start_conversations_at_the_rate(server: RunningServer) -> None:
    config = SimConfig(
        agents=1,
        arrivals=(ArrivalPhase(1.0, 6),),
        messages_per_customer=2,
        think_time=ThinkTime(0.05, 0.05),
        typing=False,
    )

    report = await Simulation(server.url, config).run()

    assert report.ok, report.table()
    assert report.clients == 1 + 6
    assert (report.customer_messages, report.agent_messages) == (12, 12)
    assert report.event("agent-message").delivered == 12


async def test_stopping_a_staged_run_lets_its_customers_go(server: RunningServer) -> None:
    answered = asyncio.Event()

    async def chat(customer: SimCustomer) -> None:
        while await customer.ask("anyone there?") is not None:
            answered.set()
            if not await customer.think():
                return

    config = SimConfig(
        agents=1, stages=(Stage(0.3, 3), Stage(60, 3)), think_time=ThinkTime(0.05, 0.1)
    )
    sim = Simulation(server.url, config, conversation=chat)
    run = asyncio.create_task(sim.run())
    async with asyncio.timeout(scaled(20)):
        await answered.wait()
        sim.stop()
        report = await run

    assert report.interrupted
    assert report.send_seconds < 30
    agent_message = report.event("agent-message")
    assert agent_message.delivered == agent_message.sent > 0
    assert report.event("new-message").lost == 0


def test_flags_win_over_the_scenario_file(tmp_path: Path) -> None:
    json_path = tmp_path / "report.json"

    status = main(
        [
            *("--scenario", str(STAGED), "--stage", "1s:2", "--stage", "0.5s:0"),
            *("--agents", "1", "--think-time", "0.1", "--quiet", "--json", str(json_path)),
        ]
    )

    report = json.loads(json_path.read_text())
    assert status == ExitCode.OK, report["failures"]
    settings = report["settings"]
    assert settings["stages"] == [
        {"duration": 1.0, "customers": 2},
        {"duration": 0.5, "customers": 0},
    ]
    assert (settings["agents"], settings["think_time"]) == (1, {"low": 0.1, "high": 0.1})
    assert settings["max_p99_ms"] == 2000, "the rest from the file"
