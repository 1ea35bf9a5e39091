"""The bots the README and examples/ show, run exactly as written, lose and double nothing.

Each bot runs as a user runs it (a subprocess, its resume file in the test's folder)
against the reference server as a subprocess on a file database, on both profiles:

1. a customer writes; the bot answers;
2. the bot is stopped (Ctrl-C) and 20 more messages come while it is down;
3. the bot is started again: it answers every one of them, once (``last_seq`` on our
   server, ``last_message_at`` on production, kept in its resume file);
4. the server is killed (SIGKILL) and restarted while the bot runs, and 5 more messages
   come: answered too, once.

The README's bot and ``examples/first_bot.py`` register their handler inside ``async
with`` (after connecting); ``examples/agent_bot.py`` registers before connecting.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.deployments import USERS, Inbox
from tests.examples.helpers import EXAMPLES, ROOT, example_env
from tests.faults.server_process import ServerProcess, free_port
from tests.faults.timing import scaled, wait_until
from vilnius_client import CustomerClient, Event, Sender

pytestmark = pytest.mark.timeout(120)

KEY = "secret"  # the README's agent key
README_URL = "http://127.0.0.1:3002"


def _readme_bot(folder: Path, url: str) -> Path:
    """The README's bot, as written, with the URL of the test's server."""
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## A first bot", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert README_URL in code
    assert 'resume_file="bot-1.json"' in code, "the README's bot keeps its place"
    script = folder / "readme_bot.py"
    script.write_text(code.replace(README_URL, url))
    return script


def _reply_of(bot: str, text: str) -> str:
    if bot == "agent_bot":
        sys.path.insert(0, str(EXAMPLES))
        try:
            from agent_bot import make_reply  # type: ignore[import-not-found]
        finally:
            sys.path.remove(str(EXAMPLES))
        return str(make_reply(text))
    return f"You said: {text}"


class Bot:
    """One documented bot as a subprocess in ``folder``."""

    def __init__(self, name: str, profile: str, server: ServerProcess, folder: Path) -> None:
        self.name = name
        self.profile = profile
        self.server = server
        self.folder = folder
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []

    def _command(self) -> tuple[list[str], dict[str, str]]:
        url = self.server.url
        login = USERS["bot"]
        if self.name == "readme":
            return [str(_readme_bot(self.folder, url))], {}
        if self.name == "first_bot":
            env = {"VILNIUS_URL": url, "VILNIUS_RESUME_FILE": "first-bot.json"}
            if self.profile == "lizdeika":
                env |= {"VILNIUS_EMAIL": login.email, "VILNIUS_PASSWORD": login.password}
            else:
                env |= {"VILNIUS_AGENT_KEY": KEY}
            return [str(EXAMPLES / "first_bot.py")], env
        argv = [str(EXAMPLES / "agent_bot.py"), "--url", url, "--typing-delay", "0"]
        argv += ["--resume-file", "auto-responder.json"]
        if self.profile == "lizdeika":
            return [*argv, "--email", login.email], {"VILNIUS_PASSWORD": login.password}
        return [*argv, "--agent-key", KEY], {}

    async def start(self) -> None:
        argv, env = self._command()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=example_env(**env),
            cwd=str(self.folder),  # where each keeps its resume file
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(scaled(20)):
            while not any("online" in line for line in self.output):
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"{self.name} ended: {self.output}")
                self.output.append(raw.decode().rstrip())
        self._drain = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.output.append(raw.decode().rstrip())

    async def stop(self) -> None:
        """Ctrl-C, as a user stops it; it must end by itself, quickly."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        status = await asyncio.wait_for(self.process.wait(), scaled(20))
        await self._drain
        assert status in (0, 130), (status, self.output)
        self.process = None

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture(params=["vilnius", "lizdeika"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    profile = str(request.param)
    if profile == "lizdeika":
        user = USERS["bot"]
        extra = (f"--agent-user={user.email}:{user.password}:{user.name}",)
        extra += ("--message-rate-limit", "off")
        process = ServerProcess(
            port=free_port(),
            db=tmp_path / "chat.db",
            log_path=tmp_path / "server.log",
            profile=profile,
            extra_args=extra,
        )
    else:
        process = ServerProcess(
            port=free_port(),
            db=tmp_path / "chat.db",
            log_path=tmp_path / "server.log",
            auth="token",
            extra_args=("--agent-key", KEY),
        )
    async with process:
        yield process


async def _answers(customer: CustomerClient) -> tuple[list[str], list[str]]:
    """The customer's messages and the agent replies stored in the conversation."""
    messages = await customer.history()
    asked = [m.content for m in messages if m.sender is Sender.VISITOR]
    answered = [m.content for m in messages if m.sender is Sender.AGENT]
    return asked, answered


@pytest.mark.parametrize("name", ["readme", "first_bot", "agent_bot"])
async def test_a_documented_bot_survives_its_restart_and_the_servers(
    name: str, server: ServerProcess, tmp_path: Path
) -> None:
    if name == "readme" and server.profile == "lizdeika":
        pytest.skip("the README's bot uses an agent key; its production form is first_bot's")
    bot = Bot(name, server.profile, server, tmp_path)
    sent: list[str] = []
    customer = CustomerClient(server.url, fallback_after=None)
    replies = Inbox()
    customer.on(Event.AGENT_MESSAGE, replies)

    async def until_answered() -> None:
        """Every message sent is answered in the conversation, exactly once."""
        await replies.until(len(sent), seconds=30)
        asked, answered = await _answers(customer)
        assert asked == sent
        assert sorted(answered) == sorted(_reply_of(name, text) for text in sent), "each once"

    try:
        async with customer:
            await bot.start()
            await customer.send_message("m0")
            sent.append("m0")
            await until_answered()

            await bot.stop()
            for n in range(1, 21):
                await customer.send_message(f"m{n}")
                sent.append(f"m{n}")
            await bot.start()
            await until_answered()

            await server.kill()
            await server.start()
            await wait_until(lambda: customer.get_connection_status().connected, 20)
            for n in range(21, 26):
                await customer.send_message(f"m{n}")
                sent.append(f"m{n}")
            await until_answered()
            await bot.stop()
    finally:
        await bot.kill()
