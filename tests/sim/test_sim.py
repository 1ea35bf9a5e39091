"""vilnius-sim end to end: short runs against the in-process reference server."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from tests.sim import scenarios
from vilnius_client.sim import ExitCode, ServerUnreachableError, SimConfig, SimContext, Simulation
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
    sim = Simulation(server.url, config)

    report = await sim.run()

    assert report.reloads == 2
    assert report.ok, report.table()
    assert report.event("agent-message").delivered == 16
    assert report.event("new-message").delivered == 2 * 32
    # 16 customer messages and 16 answers, counted apart; the throughput is the customers'
    # (what --rate sets), over the time spent sending.
    assert (report.customer_messages, report.agent_messages) == (16, 16)
    assert report.messages_sent == 32
    assert report.messages_per_second == pytest.approx(16 / report.send_seconds)
    assert "sent 16 by customers" in report.counts_line()
    assert " + 16 by agents" in report.counts_line()
    assert report.deliveries == (16 + 64, 16 + 64)
    # The live line's last word agrees with the report, in the same words.
    assert report.counts_line() in report.table()
    assert sim.status_line().endswith(report.counts_line())
    assert "reconnects 0  reloads 2" in report.counts_line()


async def test_spawn_rate_keeps_the_ramp_up_out_of_the_latency(server: RunningServer) -> None:
    config = SimConfig(
        agents=1, customers=3, spawn_rate=4, messages=24, rate=24, typing=False, seed=2
    )

    report = await Simulation(server.url, config).run()

    assert report.ok, report.table()
    assert report.ramp_seconds >= 2 / 4  # the 3rd customer starts half a second after the 1st
    messages = report.messages
    assert messages is not None
    # The first customers sent while the others were still connecting: those deliveries
    # count, but not in the latency figures.
    assert messages.warmup > 0
    assert messages.measured + messages.warmup == messages.delivered == 2 * 24 + 24


async def test_stop_ends_sending_then_reports_what_happened(server: RunningServer) -> None:
    answered = asyncio.Event()

    async def chatty(ctx: SimContext) -> None:
        customer = await ctx.new_customer()
        assert customer.client is not None
        customer.client.on("agent-message", lambda _event: answered.set())
        while await ctx.sleep(0.05):  # returns False once the run is stopping
            await customer.say("anyone there?")

    sim = Simulation(server.url, SimConfig(agents=1, typing=False), scenario=chatty)
    run = asyncio.create_task(sim.run())
    async with asyncio.timeout(scaled(20)):
        await answered.wait()
        sim.stop()
        report = await run

    assert report.interrupted
    assert report.exit_code == ExitCode.INTERRUPTED
    assert report.drained  # what was in flight was waited for
    agent_message = report.event("agent-message")
    assert agent_message.delivered == agent_message.sent > 0
    assert agent_message.lost == 0
    assert "INTERRUPTED" in report.table()


async def test_stopping_twice_skips_the_final_wait(server: RunningServer) -> None:
    returned = asyncio.Event()

    async def flow(ctx: SimContext) -> None:
        await scenarios.leaves_work_running(ctx)  # the final wait would take 60 s
        returned.set()

    sim = Simulation(server.url, SimConfig(agents=1, drain_timeout=60), scenario=flow)
    run = asyncio.create_task(sim.run())
    async with asyncio.timeout(scaled(20)):
        await returned.wait()
        sim.stop()
        sim.stop()  # Ctrl-C again: report now
        report = await run

    assert report.interrupted
    assert not report.drained
    assert report.duration < 30


async def test_agents_that_cannot_connect_raise_with_the_cause() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        sim = Simulation(url, SimConfig(connect_timeout=0.5))
        with pytest.raises(ServerUnreachableError, match="Connect call failed") as raised:
            await sim.run()

    assert raised.value.url == url
    assert raised.value.timeout == 0.5


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
