"""docs/guides/fleet.md as written: its bot runs as two replicas through the runner, its
commands are the runner's, its metrics snippet runs."""

from __future__ import annotations

import asyncio
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from tests.examples.helpers import ROOT
from tests.fleet.harness import Run
from tests.fleet.redis_process import RedisProcess
from vilnius_client import AgentClient, RestClient, Sender
from vilnius_client.run import parser

GUIDE = (ROOT / "docs" / "guides" / "fleet.md").read_text(encoding="utf-8")
KEY = "test-key"  # the token_server fixture's agent key


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, re.S)


async def test_the_guides_bot_runs_as_two_replicas(
    tmp_path: Path, token_server: RunningServer, redis_server: RedisProcess, group: str
) -> None:
    bot = blocks("python")[0]
    (tmp_path / "support_bot.py").write_text(bot.replace('group="support-bot"', f'group="{group}"'))
    replicas = [
        await Run.start(
            "run",
            "support_bot:bot",
            cwd=tmp_path,
            VILNIUS_URL=token_server.url,
            VILNIUS_AGENT_KEY=KEY,
            VILNIUS_FLEET=redis_server.url,
        )
        for _ in range(2)
    ]
    try:
        for replica in replicas:
            await replica.line("connected to")
        async with RestClient(token_server.url) as rest:
            created = [await rest.create_conversation() for _ in range(3)]
        replies: Counter[str] = Counter()
        for number, conversation in enumerate(created):
            async with RestClient(token_server.url, token=conversation.token) as customer:
                for part in range(2):
                    await customer.post_message(conversation.conversation_id, f"hi {number}.{part}")
        async with asyncio.timeout(scaled(20)):
            while sum(replies.values()) < 6:
                await asyncio.sleep(0.1)
                replies.clear()
                for conversation in created:
                    async with RestClient(token_server.url, token=conversation.token) as customer:
                        stored = await customer.conversation_messages(conversation.conversation_id)
                    replies.update(m.content for m in stored.messages if m.sender is Sender.AGENT)
        assert replies == Counter(f"You said: hi {n}.{p}" for n in range(3) for p in range(2))
    finally:
        for replica in replicas:
            if replica.process.returncode is None:
                replica.process.kill()
                await replica.process.wait()


def test_the_guides_commands_are_the_runners() -> None:
    yaml = pytest.importorskip("yaml")  # PyYAML: the docs' tools bring it
    commands = [
        line.removeprefix("$ ").split("#")[0]
        for block in blocks("console")
        for line in block.splitlines()
        if line.startswith("$ vilnius-bot")
    ]
    compose = yaml.safe_load(blocks("yaml")[0])
    commands.append(compose["services"]["bot"]["command"])
    assert len(commands) == 2
    for command in commands:
        words = shlex.split(command)
        assert words[:2] == ["vilnius-bot", "run"]
        args = parser().parse_args(words[2:])
        assert args.target == "support_bot:bot"


def test_the_guides_metrics_snippet_runs() -> None:
    snippet = blocks("python")[1]
    client = AgentClient("http://127.0.0.1:9", agent_id="bot")
    exec(snippet, {"client": client})
    assert client.rest.on_retry is not None  # instrumented
