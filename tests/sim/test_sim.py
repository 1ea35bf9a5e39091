"""vilnius-sim end to end: short runs against the in-process reference server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mock_server import RunningServer
from vilnius_client.sim import SimConfig, SimContext, Simulation
from vilnius_client.sim.__main__ import main


def test_cli_run_delivers_everything_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    json_path, html_path = tmp_path / "report.json", tmp_path / "report.html"

    # No --url: the reference server runs in-process.
    status = main(
        [
            *("--agents", "2", "--customers", "5"),
            *("--messages", "30", "--rate", "60", "--seed", "1", "--quiet"),
            *("--json", str(json_path), "--html", str(html_path)),
        ]
    )

    assert status == 0
    assert "OK: no message lost or duplicated" in capsys.readouterr().out
    report = json.loads(json_path.read_text())
    assert report["ok"] is True
    new_message = report["events"]["new-message"]
    # 30 customer messages + 30 echoed replies, each to both agents.
    assert (new_message["sent"], new_message["delivered"]) == (60, 120)
    assert new_message["lost"] == new_message["duplicated"] == 0
    assert new_message["latencyMs"]["p99"] is not None
    agent_message = report["events"]["agent-message"]
    assert (agent_message["sent"], agent_message["delivered"]) == (30, 30)
    page = html_path.read_text()
    assert "<svg" in page
    assert "<polyline" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # self-contained


async def test_churned_customers_do_not_lose_replies(server: RunningServer) -> None:
    config = SimConfig(agents=2, customers=4, messages=16, rate=40, churn=0.5, typing=False, seed=3)

    report = await Simulation(server.url, config).run()

    assert report.reloads == 2
    assert report.ok, report.table()
    assert report.event("agent-message").delivered == 16
    assert report.event("new-message").delivered == 2 * 32


async def test_python_scenario_with_canned_replies(server: RunningServer) -> None:
    seen: list[str] = []

    async def flow(ctx: SimContext) -> None:
        customer = await ctx.new_customer("alice")
        customer.client.on("agent-message", lambda e: seen.append(e.message.content))  # type: ignore[union-attr]
        await customer.say("where is my parcel?")
        assert await ctx.settle(10)
        await customer.reload(downtime=0.05)
        await customer.say("thanks")

    report = await Simulation(server.url, SimConfig(agents=1, reply="canned"), scenario=flow).run()

    assert report.ok, report.table()
    assert report.event("agent-message").delivered == 2
    assert seen
    assert seen[0].startswith("Thanks for your message")


def test_lost_messages_fail_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            *("--agents", "1", "--scenario", "tests.sim.scenarios:expects_a_ghost_message"),
            *("--quiet", "--drain-timeout", "0.5"),
        ]
    )

    assert status == 1
    assert "FAILED" in capsys.readouterr().out
