"""What a newcomer sees when a step goes wrong: each example and the README's bot end a
wrong URL, a refused key and Ctrl-C with one line on standard error (issue 20).

Each is run as a user runs it, a subprocess against the reference server on loopback, its
standard output and standard error read apart and checked line by line.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mock_server import RunningServer, serve
from tests.conftest import scaled
from tests.examples.helpers import EXAMPLES, ROOT, example_env

KEY = "test-key"  # the agent key of the `token_server` fixture
README_URL = "http://127.0.0.1:3002"


@dataclass
class Face:
    """How one example is started and what it prints when it is up."""

    name: str  # how it names itself in its one line
    argv: list[str]  # after the interpreter; "{url}" and "{key}" are filled in
    env: dict[str, str]
    up: str  # a regular expression for the line that says it is up
    interrupted: int = 0  # exit status after Ctrl-C
    uses_key: tuple[str, ...] = ()  # what makes it use the agent key (else it never does)
    chatter: str = "(?!)"  # connection changes it prints (also before it is up)
    also: tuple[str, ...] = ()  # the other lines it prints while up


def _readme_bot(tmp: Path, url: str) -> Path:
    """The README's bot, as written, with the URL of the test's server."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A first bot", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert README_URL in code
    script = tmp / "readme_bot.py"
    script.write_text(code.replace(README_URL, url))
    return script


FACES = {
    "first_bot": Face(
        "first-bot",
        [str(EXAMPLES / "first_bot.py")],
        {"VILNIUS_URL": "{url}", "VILNIUS_AGENT_KEY": "{key}"},
        r"first-bot is online; waiting for customers \(Ctrl-C to stop\)",
    ),
    "agent_bot": Face(
        "agent_bot",
        [str(EXAMPLES / "agent_bot.py"), "--url", "{url}", "--agent-key", "{key}"],
        {},
        r"\[bot\] auto-responder online at {url}",
        chatter=r"\[bot\] connection: \w+ -> \w+ \(.*\)",
        also=(r"\[bot\] system mode: hitl",),
    ),
    "dashboard_monitor": Face(
        "dashboard_monitor",
        [str(EXAMPLES / "dashboard_monitor.py"), "--url", "{url}", "--agent-key", "{key}"],
        {},
        r"-- monitoring {url} as dashboard-monitor",
        chatter=r"-- connection \w+ -> \w+ \(.*\)",
        also=(r"\d\d:\d\d:\d\d\.\d{3} 📨 [a-z-]+: .+",),
    ),
    "reassignment_watcher": Face(
        "reassignment_watcher",
        [str(EXAMPLES / "reassignment_watcher.py"), "--url", "{url}", "--agent-key", "{key}"],
        {},
        r"-- watching {url}: 0 active conversations",
        also=(r"👤 [\w-]+: new -> \w+ \(0 chats\)", r"   load: -"),
    ),
    "customer_qa": Face(
        "customer_qa",
        [str(EXAMPLES / "customer_qa.py"), "--url", "{url}", "--timeout", "60"],
        {},
        r"\[qa\] customer: Hello! I ordered a blue teapot last week\.",  # nobody answers
        also=(r"\[qa\] conversation conv-[0-9a-f]{16} started as qa-visitor",),
        interrupted=130,
        uses_key=("--autopilot", "--agent-key", "{key}"),
    ),
    "readme": Face(
        "bot-1",
        ["{readme}"],
        {},
        r"bot-1 is online \(Ctrl-C to stop\)",
    ),
}


@dataclass
class Ended:
    """A finished run: its exit status and its output, line by line."""

    status: int
    out: list[str]
    err: list[str]


class Run:
    """One example as a subprocess, standard output and standard error read apart."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out: list[str] = []

    @classmethod
    async def start(cls, face: Face, url: str, key: str, tmp: Path) -> Run:
        def fill(text: str) -> str:
            if text == "{readme}":
                return str(_readme_bot(tmp, url))
            return text.replace("{url}", url).replace("{key}", key)

        env = example_env(**{name: fill(value) for name, value in face.env.items()})
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *map(fill, face.argv),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=str(tmp),  # what an example writes (its resume file) stays in the test's folder
        )
        return cls(process)

    async def wait_for(self, pattern: str) -> None:
        """Read standard output until a line matches ``pattern`` (bounded)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(scaled(20)):
            while not any(re.fullmatch(pattern, line) for line in self.out):
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"ended before {pattern!r}: {self.out}")
                self.out.append(raw.decode().rstrip("\n"))

    async def end(self, limit: float = 40.0) -> Ended:
        """Wait for the end (bounded: killed after ``limit`` seconds)."""
        try:
            out, err = await asyncio.wait_for(self.process.communicate(), scaled(limit))
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"still running after {limit} s: {self.out}") from None
        assert self.process.returncode is not None
        lines = self.out + out.decode().splitlines()
        return Ended(self.process.returncode, lines, err.decode().splitlines())

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
async def runs() -> AsyncIterator[list[Run]]:
    """Runs a test started; killed at teardown if the test failed midway."""
    started: list[Run] = []
    yield started
    for run in started:
        await run.kill()


async def _start(
    runs: list[Run], name: str, url: str, key: str, tmp_path: Path, *, with_key: bool = False
) -> Run:
    face = FACES[name]
    if with_key:
        face = Face(
            face.name, [*face.argv, *face.uses_key], face.env, face.up, chatter=face.chatter
        )
    run = await Run.start(face, url, key, tmp_path)
    runs.append(run)
    return run


@pytest.mark.parametrize("name", list(FACES))
async def test_a_wrong_url_is_one_line(
    name: str, nothing_listens: str, runs: list[Run], tmp_path: Path
) -> None:
    face = FACES[name]
    # the SDK gives up on a first connection within connect_timeout (10 s by default)
    ended = await (await _start(runs, name, nothing_listens, KEY, tmp_path)).end(limit=30)
    assert ended.status == 1, ended
    assert all(re.fullmatch(face.chatter, line) for line in ended.out), ended
    assert len(ended.err) == 1, ended.err
    line = ended.err[0]
    assert line.startswith(f"{face.name}: "), line
    assert nothing_listens in line, line  # it names the URL it could not use


@pytest.mark.parametrize("name", list(FACES))
async def test_a_refused_key_is_one_line(
    name: str, token_server: RunningServer, runs: list[Run], tmp_path: Path
) -> None:
    face = FACES[name]
    run = await _start(runs, name, token_server.url, "wrong-key", tmp_path, with_key=True)
    ended = await run.end()
    assert ended.status == 1, ended
    assert all(re.fullmatch(face.chatter, line) for line in ended.out), ended
    refused = r"refused \(.+\)" if name != "readme" else re.escape(token_server.url)
    assert len(ended.err) == 1, ended.err
    assert re.fullmatch(
        rf"{re.escape(face.name)}: {refused}: HTTP 401 unauthorized: wrong agent key",
        ended.err[0],
    ), ended.err


@pytest.mark.parametrize("name", [name for name in FACES if name != "readme"])  # below
async def test_ctrl_c_is_one_line(
    name: str, token_server: RunningServer, runs: list[Run], tmp_path: Path
) -> None:
    face = FACES[name]
    run = await _start(runs, name, token_server.url, KEY, tmp_path)
    up = face.up.replace("{url}", re.escape(token_server.url))
    await run.wait_for(up)
    run.process.send_signal(signal.SIGINT)
    ended = await run.end()
    assert ended.status == face.interrupted, ended
    assert ended.err == [f"{face.name}: stopped (Ctrl-C)"]
    assert sum(bool(re.fullmatch(up, line)) for line in ended.out) == 1, ended.out
    for line in ended.out:  # every line is one it means to print
        assert any(re.fullmatch(p, line) for p in (up, face.chatter, *face.also)), line


async def test_ctrl_c_while_the_bot_reconnects_is_one_line(
    token_server: RunningServer, runs: list[Run], tmp_path: Path
) -> None:
    """The server went away; the bot keeps reconnecting; Ctrl-C still ends it at once."""
    face = FACES["first_bot"]
    run = await _start(runs, "first_bot", token_server.url, KEY, tmp_path)
    await run.wait_for(face.up)
    await token_server.stop()
    await asyncio.sleep(0.5)  # it noticed, and is reconnecting
    run.process.send_signal(signal.SIGINT)
    ended = await run.end(limit=10)
    await token_server.start()
    assert ended.status == face.interrupted, ended
    assert ended.err == [f"{face.name}: stopped (Ctrl-C)"]


async def test_the_readme_bot_answers(tmp_path: Path, runs: list[Run]) -> None:
    """The README's bot, as written: up, answering, stopped by Ctrl-C."""
    from vilnius_client import CustomerClient, Event

    async with serve(port=0, db=":memory:", auth="token", agent_key="secret") as server:
        run = await _start(runs, "readme", server.url, "secret", tmp_path)
        await run.wait_for(FACES["readme"].up)
        async with CustomerClient(server.url) as customer:
            await customer.start_conversation()
            async with customer.stream(Event.AGENT_MESSAGE) as replies:
                await customer.send_message("ping")
                reply = await asyncio.wait_for(anext(replies), scaled(10))
        assert reply.message.content == "You said: ping"
        run.process.send_signal(signal.SIGINT)
        ended = await run.end()
    assert (ended.status, ended.out, ended.err) == (
        0,
        ["bot-1 is online (Ctrl-C to stop)"],
        ["bot-1: stopped"],
    )


# -- the demo: its report is the timeline; what went wrong is also one line on stderr ----


async def _demo(runs: list[Run], *args: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "demo.py"),
        "--no-color",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=example_env(),
        cwd=str(ROOT),
    )
    run = Run(process)
    runs.append(run)
    return run


async def test_the_demo_against_a_wrong_url(nothing_listens: str, runs: list[Run]) -> None:
    ended = await (await _demo(runs, "--url", nothing_listens, "--timeout", "2")).end()
    assert ended.status == 1, ended
    assert len(ended.err) == 1, ended.err
    assert ended.err[0].startswith("demo: failed: agent bot connects and joins the dashboard: ")
    assert nothing_listens in ended.err[0]
    assert re.search(r"✘ 0/1 flows passed .* failed: agent bot connects", ended.out[-1])


async def test_the_demo_with_a_refused_key(token_server: RunningServer, runs: list[Run]) -> None:
    run = await _demo(runs, "--url", token_server.url, "--agent-key", "wrong-key")
    ended = await run.end()
    assert ended.status == 1, ended
    assert ended.err == [
        "demo: failed: agent bot connects and joins the dashboard: AuthError: HTTP 401"
        " unauthorized: wrong agent key"
    ]


async def test_ctrl_c_stops_the_demo_in_one_line(
    token_server: RunningServer, runs: list[Run]
) -> None:
    token_server.faults.block_sockets = True  # the first connection waits: time for Ctrl-C
    run = await _demo(runs, "--url", token_server.url, "--agent-key", KEY, "--timeout", "60")
    await run.wait_for(r"\+ *[\d.]+s agent-ada +→ connect \+ join-agent-dashboard +agent-ada")
    run.process.send_signal(signal.SIGINT)
    ended = await run.end()
    assert (ended.status, ended.err) == (130, ["demo: stopped (Ctrl-C)"]), ended


@pytest.mark.parametrize("seconds", ["0", "-1", "soon"])
async def test_the_demo_refuses_a_timeout_that_is_no_time(seconds: str, runs: list[Run]) -> None:
    ended = await (await _demo(runs, "--timeout", seconds)).end()
    assert ended.status == 2
    assert ended.err[-1] == (
        f"demo.py: error: argument --timeout: {seconds!r} is not a number of seconds above 0"
    )


# -- the getting-started guide shows what the scripts print ------------------------------


def _guide_transcript() -> list[str]:
    """The QA script's output as docs/getting-started.md shows it."""
    guide = (ROOT / "docs" / "getting-started.md").read_text()
    section = guide.split("## 5. Talk to it from a script", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


async def test_the_getting_started_transcript_is_what_the_scripts_print(
    token_server: RunningServer, runs: list[Run], tmp_path: Path
) -> None:
    bot = await _start(runs, "first_bot", token_server.url, KEY, tmp_path)
    await bot.wait_for(FACES["first_bot"].up)
    qa_face = Face(
        "customer_qa",
        [str(EXAMPLES / "customer_qa.py"), "--expect", "You said"],  # as the guide runs it
        {"VILNIUS_URL": "{url}"},
        "",
    )
    qa = await Run.start(qa_face, token_server.url, KEY, tmp_path)
    runs.append(qa)
    ended = await qa.end()
    assert (ended.status, ended.err) == (0, []), ended
    guide = _guide_transcript()
    assert len(ended.out) == len(guide), (ended.out, guide)
    for shown, printed in zip(guide, ended.out, strict=True):
        # the conversation's id is the server's own: only its shape is the guide's
        pattern = re.sub(r"conv-[0-9a-f]{16}", "@ID@", shown)
        pattern = re.escape(pattern).replace("@ID@", "conv-[0-9a-f]{16}")
        assert re.fullmatch(pattern, printed), (shown, printed)
