"""``vilnius-bot run`` (``python -m vilnius_client.run``): as a real process, as users run it.

A signal drains the bot and exits 0; a refused key, a target that cannot be run or a
missing extra ends it with one line and a non-zero status; the health endpoints answer.
(The runner under a fleet, killed and terminated mid-run: ``test_replicas.py``.)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from tests.faults.server_process import free_port
from tests.fleet.harness import Run
from vilnius_client import RestClient, Sender
from vilnius_client._scripts import MISSING_EXTRA
from vilnius_client.run import EXIT_FAILED, EXIT_USAGE

KEY = "test-key"  # the token_server fixture's agent key


@pytest.fixture
async def runs() -> AsyncIterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        if run.process.returncode is None:
            run.process.kill()
            await run.process.wait()


async def test_a_signal_drains_the_bot_and_exits_0(
    token_server: RunningServer, runs: list[Run]
) -> None:
    port = free_port()
    run = await Run.start(
        "run",
        "tests.fleet.runner_bots:made_async",
        "--health-host",
        "127.0.0.1",
        "--health-port",
        str(port),
        VILNIUS_URL=token_server.url,
        BOT_KEY=KEY,
    )
    runs.append(run)
    await run.line("connected to")
    async with aiohttp.ClientSession() as session:
        for path in ("/livez", "/readyz"):
            async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                assert response.status == 200
                body = await response.json()
                assert body["state"] == "connected"
    async with RestClient(token_server.url) as rest:
        conversation = await rest.create_conversation()
    async with RestClient(token_server.url, token=conversation.token) as customer:
        await customer.post_message(conversation.conversation_id, "hello")
        async with asyncio.timeout(scaled(10)):
            while True:
                answer = await customer.conversation_messages(conversation.conversation_id)
                if any(m.sender is Sender.AGENT for m in answer.messages):
                    break
                await asyncio.sleep(0.05)
    run.process.send_signal(signal.SIGINT)
    assert await run.end() == 0
    output = "".join(run.lines)
    assert "draining" in output
    assert output.rstrip().endswith("vilnius-bot: stopped")


async def test_a_refused_key_is_one_line_and_exit_1(
    token_server: RunningServer, runs: list[Run]
) -> None:
    run = await Run.start(
        "run", "tests.fleet.runner_bots:keyed", VILNIUS_URL=token_server.url, BOT_KEY="wrong"
    )
    runs.append(run)
    assert await run.end() == EXIT_FAILED
    assert len(run.lines) == 1, run.lines
    assert run.lines[0].startswith("vilnius-bot: refused:")


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("tests.fleet.runner_bots:nope", "tests.fleet.runner_bots has no attribute 'nope'"),
        ("tests.fleet.runner_bots:not_a_client", "is a int: expected an AgentClient"),
        ("tests.fleet.no_such_module:bot", "cannot import tests.fleet.no_such_module"),
        ("tests.fleet.runner_bots", "expected module:attribute"),
    ],
)
async def test_a_target_that_cannot_run_is_one_line_and_exit_2(
    runs: list[Run], target: str, problem: str
) -> None:
    run = await Run.start(target, VILNIUS_URL="http://127.0.0.1:9")
    runs.append(run)
    assert await run.end() == EXIT_USAGE
    assert len(run.lines) == 1, run.lines
    assert problem in run.lines[0]


async def test_a_fleet_without_redis_py_is_one_line_naming_the_extra(runs: list[Run]) -> None:
    program = (
        "import sys; sys.modules['redis'] = None; "
        "from vilnius_client.run import main; sys.exit(main())"
    )
    run = await Run.start(
        "run",
        "tests.fleet.runner_bots:keyed",
        "--fleet",
        "redis://127.0.0.1:6379/0",
        python=("-c", program),
        VILNIUS_URL="http://127.0.0.1:9",
    )
    runs.append(run)
    assert await run.end() == MISSING_EXTRA
    assert len(run.lines) == 1, run.lines
    assert "RedisFleet needs redis-py" in run.lines[0]
    assert "pip install 'vilnius-client[fleet]'" in run.lines[0]


def test_the_console_script_is_installed_and_named() -> None:
    script = Path(sys.executable).parent / "vilnius-bot"
    if not script.exists():
        pytest.skip("the package is not installed in this interpreter's environment")
    import subprocess

    result = subprocess.run(
        [str(script), "run", "--help"], capture_output=True, text=True, timeout=scaled(60)
    )
    assert result.returncode == 0
    assert "--drain-timeout" in result.stdout
    assert "--fleet" in result.stdout
