"""Every example, run as a user would run it, against the reference server on loopback."""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mock_server import RunningServer, serve
from tests.conftest import scaled
from tests.deployments import USERS, server_config
from tests.examples.helpers import EXAMPLES, Example, example_env, load_example
from vilnius_client import AgentClient, AgentMessageEvent, CustomerClient, Event, PersonalStatus

KEY = "test-key"  # the agent key of the `token_server` fixture


@pytest.fixture
async def started() -> AsyncIterator[list[Example]]:
    """Examples a test started; killed at teardown if the test failed midway."""
    examples: list[Example] = []
    yield examples
    for example in examples:
        await example.kill()


async def run(started: list[Example], script: str, *args: str, **env: str) -> Example:
    example = await Example.start(script, *args, **env)
    started.append(example)
    return example


async def ask(customer: CustomerClient, text: str) -> AgentMessageEvent:
    async with customer.stream(Event.AGENT_MESSAGE) as replies:
        await customer.send_message(text)
        reply = await asyncio.wait_for(anext(replies), scaled(10))
    return reply


# -- the demo ---------------------------------------------------------------


async def test_demo_plays_every_flow(started: list[Example]) -> None:
    demo = await run(started, "demo.py", "--no-color")
    assert await demo.finish(limit=60) == 0, demo.output
    summary = demo.output.strip().splitlines()[-1]
    match = re.search(r"(\d+)/(\d+) flows passed · (\d+) events received", summary)
    assert match, demo.output
    passed, total, received = map(int, match.groups())
    assert passed == total >= 14, demo.output
    assert received >= 40
    for flow in (
        "customer typing",
        "heartbeat",
        "bulk reassignment",
        "system mode toggle",
        "AFK",
        "server restart",
    ):
        assert f"✔ {flow}" in demo.output or flow in demo.output, flow
    assert "(replayed)" in demo.output or "new-message" in demo.output
    assert "Traceback" not in demo.output


@pytest.fixture
async def production() -> AsyncIterator[RunningServer]:
    """The reference server playing production, with the agent users of tests.deployments."""
    async with serve(config=server_config("lizdeika")) as running:
        yield running


async def test_demo_plays_every_flow_against_production(started: list[Example]) -> None:
    demo = await run(started, "demo.py", "--profile", "lizdeika", "--no-color")
    assert await demo.finish(limit=60) == 0, demo.output
    summary = demo.output.strip().splitlines()[-1]
    match = re.search(r"(\d+)/(\d+) flows passed", summary)
    assert match, demo.output
    passed, total = map(int, match.groups())
    assert passed == total >= 14, demo.output
    assert "agent-sent-message" in demo.output, "production's own event reached the handlers"
    assert "Traceback" not in demo.output
    # the agents list still shows bob after his disconnect: the demo says why
    lines = demo.output.splitlines()
    start = next(i for i, line in enumerate(lines) if "agent-bob disconnects" in line)
    listed = next(i for i in range(start, len(lines)) if "connected-agents-update" in lines[i])
    assert "agent-bob is still listed online: production does not mark" in lines[listed + 1]


async def test_demo_against_another_server_in_token_mode(
    token_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = load_example("demo.py")
    args = demo.parse_args(["--url", token_server.url, "--agent-key", KEY, "--no-color"])
    assert await demo.main_async(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert re.search(r"✔ (\d+)/\1 flows passed", out), out
    assert "server restart" not in out  # not ours to restart


async def test_demo_against_another_production_server(
    production: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ada, bob = USERS["ada"], USERS["bob"]
    demo = load_example("demo.py")
    args = demo.parse_args(
        [
            *("--url", production.url, "--profile", "lizdeika", "--no-color"),
            *("--agent-user", f"{ada.email}:{ada.password}"),
            *("--agent-user", f"{bob.email}:{bob.password}"),
        ]
    )
    assert await demo.main_async(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert re.search(r"✔ (\d+)/\1 flows passed", out), out
    assert "agent-sent-message" in out


async def test_demo_fails_loudly_without_credentials(
    token_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = load_example("demo.py")
    args = demo.parse_args(["--url", token_server.url, "--timeout", "2", "--no-color"])
    assert await demo.main_async(args) == 1
    out = capsys.readouterr().out
    assert "✘ agent bot connects" in out, out
    assert "✘ 0/1 flows passed" in out, out


# -- the bots -----------------------------------------------------------------


async def test_first_bot_answers(token_server: RunningServer, started: list[Example]) -> None:
    bot = await run(started, "first_bot.py", VILNIUS_URL=token_server.url, VILNIUS_AGENT_KEY=KEY)
    await bot.wait_for_line("first-bot is online")
    async with CustomerClient(token_server.url) as customer:
        await customer.start_conversation()
        async with customer.stream(Event.AGENT_TYPING_STATUS) as typing:
            reply = await ask(customer, "ping")
            shown = [(await asyncio.wait_for(anext(typing), scaled(10))).is_typing for _ in "12"]
    assert reply.message.content == "You said: ping"
    assert reply.message.agent_id == "first-bot"
    assert shown == [True, False]  # the customer does not see "typing" after the reply
    assert await bot.interrupt() == 0, bot.output


async def test_first_bot_logs_in_on_production(
    production: RunningServer, started: list[Example]
) -> None:
    user = USERS["bot"]
    login = {"VILNIUS_EMAIL": user.email, "VILNIUS_PASSWORD": user.password}
    bot = await run(started, "first_bot.py", VILNIUS_URL=production.url, **login)
    await bot.wait_for_line("first-bot is online")
    async with CustomerClient(production.url) as customer:
        reply = await ask(customer, "ping")  # the widget's way: the first message starts it
    assert reply.message.content == "You said: ping"
    assert await bot.interrupt() == 0, bot.output


async def test_agent_bot_and_monitor_log_in_on_production(
    production: RunningServer, started: list[Example]
) -> None:
    ada, bot = USERS["ada"], USERS["bot"]
    url = ["--url", production.url]
    monitor = await run(
        started,
        "dashboard_monitor.py",
        *url,
        VILNIUS_EMAIL=ada.email,
        VILNIUS_PASSWORD=ada.password,
    )
    await monitor.wait_for_line("-- monitoring")
    responder = await run(
        started,
        "agent_bot.py",
        *url,
        "--email",
        bot.email,
        "--typing-delay",
        "0",
        VILNIUS_PASSWORD=bot.password,
    )
    await responder.wait_for_line("online at")
    async with CustomerClient(production.url) as customer:
        reply = await ask(customer, "Is it raining?")
    assert "Good question" in reply.message.content
    await monitor.wait_for_line("📨 new-message: ")
    assert await responder.interrupt() == 0, responder.output
    assert await monitor.interrupt() == 0, monitor.output


@pytest.mark.parametrize(
    ("script", "args", "prog"),
    [
        ("first_bot.py", [], "first-bot"),
        ("agent_bot.py", ["--agent-key", "wrong-key"], "agent_bot"),
        ("dashboard_monitor.py", ["--agent-key", "wrong-key"], "dashboard_monitor"),
        ("reassignment_watcher.py", ["--agent-key", "wrong-key"], "reassignment_watcher"),
        ("customer_qa.py", ["--autopilot", "--agent-key", "wrong-key"], "customer_qa"),
    ],
)
async def test_a_wrong_agent_key_is_one_line(
    token_server: RunningServer, started: list[Example], script: str, args: list[str], prog: str
) -> None:
    url = [] if script == "first_bot.py" else ["--url", token_server.url]  # first_bot: env only
    env = {"VILNIUS_URL": token_server.url, "VILNIUS_AGENT_KEY": "wrong-key"}
    example = await run(started, script, *url, *args, **env)
    assert await example.finish() == 1, example.output
    assert "Traceback" not in example.output
    last = example.output.strip().splitlines()[-1]
    assert re.fullmatch(rf"{prog}: refused \(.*\): HTTP 401 unauthorized: wrong agent key", last)
    if script == "first_bot.py":
        assert example.lines == [last + "\n"]  # nothing else


async def agent_online(url: str, agent_id: str) -> None:
    """Wait until ``agent_id`` is connected to the dashboard (seen by an observer)."""
    async with AgentClient(url, agent_id="observer", agent_key=KEY) as observer:
        agents = await observer.connected_agents()
        if not any(a.id == agent_id and a.connected for a in agents):
            await observer.wait_for(
                Event.CONNECTED_AGENTS_UPDATE,
                lambda e: any(a.id == agent_id and a.connected for a in e.agents),
                timeout=scaled(10),
            )


async def test_agent_bot_answers_and_survives_a_restart(
    token_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example("agent_bot.py")
    argv = ["--url", token_server.url, "--agent-key", KEY, "--max-messages", "2"]
    args = example.parse_args([*argv, "--typing-delay", "0"])
    bot = asyncio.create_task(example.run(args))
    try:
        await agent_online(token_server.url, "auto-responder")
        async with CustomerClient(token_server.url, reconnection_delay=0.05) as customer:
            await customer.start_conversation()
            async with customer.stream(Event.AGENT_TYPING_STATUS) as typing:
                first = await ask(customer, "Where is my teapot?")
                assert (await asyncio.wait_for(anext(typing), scaled(10))).is_typing
            assert "Good question" in first.message.content

            await token_server.stop()
            await token_server.start()
            second = await ask(customer, "hello again")
            assert "Thanks for your message: 'hello again'" in second.message.content
        assert await asyncio.wait_for(bot, scaled(10)) == 0
    finally:
        bot.cancel()
        await asyncio.gather(bot, return_exceptions=True)
    out = capsys.readouterr().out
    assert "connection: connected -> reconnecting" in out, out
    assert "done: 2 replies" in out, out


async def test_agent_bot_stays_quiet_in_autopilot(
    token_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with AgentClient(token_server.url, agent_id="admin", agent_key=KEY) as admin:
        await admin.set_system_mode("autopilot")
    example = load_example("agent_bot.py")
    args = example.parse_args(["--url", token_server.url, "--agent-key", KEY, "--duration", "1"])
    bot = asyncio.create_task(example.run(args))
    try:
        await agent_online(token_server.url, "auto-responder")
        async with CustomerClient(token_server.url) as customer:
            await customer.start_conversation()
            reply = await ask(customer, "anyone?")
        assert reply.message.agent_id != "auto-responder"
        assert await asyncio.wait_for(bot, scaled(10)) == 0
    finally:
        bot.cancel()
        await asyncio.gather(bot, return_exceptions=True)
    out = capsys.readouterr().out
    assert "system mode: autopilot" in out
    assert "done: 0 replies" in out, out


# -- the customer QA script --------------------------------------------------------


async def run_qa(*argv: str) -> int:
    example = load_example("customer_qa.py")
    result: int = await example.run(example.parse_args(list(argv)))
    return result


async def test_customer_qa_passes_with_autopilot(
    token_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = token_server.url
    code = await run_qa("--url", url, "--agent-key", KEY, "--autopilot", "--expect", "automatic")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: 2 messages answered" in out


async def test_customer_qa_fails_on_an_unexpected_reply(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_qa("--url", server.url, "--autopilot", "--expect", "^never said$") == 1
    assert "FAIL: reply 1 does not match" in capsys.readouterr().out


async def test_customer_qa_fails_when_nobody_answers(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_qa("--url", server.url, "--timeout", "0.5") == 1
    assert "FAIL: no reply to message 1" in capsys.readouterr().out


# -- the monitors ---------------------------------------------------------------


async def test_dashboard_monitor_prints_every_event(
    token_server: RunningServer, started: list[Example]
) -> None:
    monitor = await run(
        started, "dashboard_monitor.py", "--url", token_server.url, "--agent-key", KEY, "--json"
    )
    await monitor.wait_for_line("-- monitoring")
    async with CustomerClient(token_server.url, visitor_id="watched-visitor") as customer:
        await customer.start_conversation()
        await customer.typing(True)
        await customer.send_message("hello monitor")
    await monitor.wait_for_line('"content": "hello monitor"')
    assert await monitor.interrupt() == 0, monitor.output
    for event in ("system-mode-update", "connected-agents-update", "new-conversation"):
        assert f"📨 {event}" in monitor.output, event
    assert "📨 customer-typing-status" in monitor.output
    assert '"visitorId": "watched-visitor"' in monitor.output  # camelCase wire JSON


async def test_dashboard_monitor_prints_one_readable_line_per_event(
    token_server: RunningServer, started: list[Example]
) -> None:
    url = token_server.url
    monitor = await run(started, "dashboard_monitor.py", "--url", url, "--agent-key", KEY)
    await monitor.wait_for_line("-- monitoring")
    async with CustomerClient(url, visitor_id="watched-visitor") as customer:
        conversation = await customer.start_conversation()
        await customer.typing(True)
        await customer.send_message("Where is my\nteapot? " * 40)
    line = await monitor.wait_for_line(f"📨 new-message: {conversation.id} visitor: ")
    assert await monitor.interrupt() == 0, monitor.output
    assert line.rstrip().endswith('…"'), line  # shortened, on one line
    assert ': "Where is my teapot? Where is my teapot?' in line, line
    out = monitor.output
    assert f"📨 new-conversation: {conversation.id} opened by visitor watched-visitor" in out
    assert f"📨 customer-typing-status: {conversation.id} customer typing" in out
    assert "📨 system-mode-update: mode hitl" in out
    assert re.search(r"📨 connected-agents-update: \d+ agents?: dashboard-monitor afk", out), out
    shown = [line for line in monitor.lines if "📨" in line]
    assert len(shown) >= 5, out
    assert all(len(line) < 160 for line in shown), out
    assert not any("Event(" in line or "datetime" in line for line in shown), out  # no reprs


async def test_dashboard_monitor_stops_after_max_events(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example("dashboard_monitor.py")
    args = example.parse_args(["--url", server.url, "--max-events", "2"])
    assert await asyncio.wait_for(example.run(args), scaled(10)) == 0
    out = capsys.readouterr().out
    assert "-- 2 events" in out, out
    assert out.count("📨") == 2, out


async def test_reassignment_watcher_follows_moves(
    token_server: RunningServer, started: list[Example]
) -> None:
    watcher = await run(
        started, "reassignment_watcher.py", "--url", token_server.url, "--agent-key", KEY
    )
    await watcher.wait_for_line("-- watching")
    url = token_server.url
    async with (
        AgentClient(url, agent_id="agent-a", agent_key=KEY) as a,
        AgentClient(url, agent_id="agent-b", agent_key=KEY) as b,
        CustomerClient(url) as customer,
    ):
        await watcher.wait_for_line("agent-b: new -> online")
        conversation = await customer.start_conversation()
        async with a.stream(Event.TICKETS_REASSIGNED) as moves:
            await a.bulk_assign([conversation.id], "agent-a")
            await a.set_personal_status(PersonalStatus.AFK)  # its conversation goes to agent-b
            async with asyncio.timeout(scaled(10)):
                async for moved in moves:
                    if moved.reason == "agent_afk" and moved.reassignments:
                        break
        assert moved.reassignments[0].to_agent_id == "agent-b"
        await watcher.wait_for_line(f"{conversation.id}: agent-a -> agent-b")
        del b
    assert await watcher.interrupt() == 0, watcher.output
    assert "tickets-reassigned (bulk_assign): 1 moved" in watcher.output
    assert f"{conversation.id}: nobody -> agent-a" in watcher.output


# -- the pytest example -------------------------------------------------------------


def _plugin_autoloaded() -> bool:
    return any(ep.name == "vilnius" for ep in importlib.metadata.entry_points(group="pytest11"))


async def run_pytest(directory: Path, env: dict[str, str]) -> str:
    """Run the venv's pytest in ``directory``; return its output (it must pass)."""
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not _plugin_autoloaded():  # a checkout that was not pip-installed
        args += ["-p", "_vilnius_pytestplugin"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=str(directory),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), scaled(60))
    text = out.decode()
    assert proc.returncode == 0, text
    return text


async def test_pytest_example_passes() -> None:
    text = await run_pytest(EXAMPLES / "pytest_example", example_env())
    assert re.search(r"\b6 passed\b", text), text


async def test_pytest_example_passes_when_copied_out_of_the_repository(tmp_path: Path) -> None:
    """What a user does: copy the example into a project and run pytest there."""
    copied = tmp_path / "my_bot_tests"
    shutil.copytree(EXAMPLES / "pytest_example", copied)
    env = {k: v for k, v in example_env().items() if k != "PYTHONPATH"}
    text = await run_pytest(copied, env)
    assert re.search(r"\b6 passed\b", text), text
    assert "warning" not in text.lower(), text
