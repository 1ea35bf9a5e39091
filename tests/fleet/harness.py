"""A fleet of bot replicas as separate processes, customers that write to it, and the tally.

Each replica is ``python -m vilnius_client.run tests.fleet.fleet_bot:bot`` (the runner, as
in production) with its own health port and reply log. The customers write over REST; the
tally is read from the server afterwards (what was stored is the truth): per conversation,
the bot's replies must be exactly ``re: <text>`` of each customer message, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.examples.helpers import ROOT, example_env
from tests.faults.server_process import free_port
from tests.faults.timing import scaled
from vilnius_client import RestClient, Sender

__all__ = ["Fleet", "Replica", "Run", "Tally"]


class Run:
    """One runner process; its stderr is read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(
        cls, *args: str, python: tuple[str, ...] = (), cwd: Path = ROOT, **env: str
    ) -> Run:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *(python or ("-m", "vilnius_client.run")),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=example_env(**env),
            cwd=str(cwd),
        )
        return cls(process)

    async def line(self, containing: str) -> str:
        assert self.process.stderr is not None
        async with asyncio.timeout(scaled(20)):
            while True:
                raw = await self.process.stderr.readline()
                if not raw:
                    raise AssertionError(f"ended without {containing!r}: {self.lines}")
                self.lines.append(raw.decode())
                if containing in self.lines[-1]:
                    return self.lines[-1]

    async def end(self) -> int:
        assert self.process.stderr is not None
        async with asyncio.timeout(scaled(20)):
            rest = await self.process.stderr.read()
            self.lines.extend(rest.decode().splitlines(keepends=True))
            return await self.process.wait()


@dataclass
class Replica:
    """One bot process."""

    name: str
    process: asyncio.subprocess.Process
    health_port: int
    log_path: Path
    stderr_path: Path

    async def wait_ready(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Until ``GET /readyz`` answers 200 (connected, Redis answering)."""
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        deadline = time.monotonic() + scaled(timeout)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited: {self.stderr_path.read_text()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} not ready: {self.stderr_path.read_text()}")
                await asyncio.sleep(0.05)

    def signal(self, number: signal.Signals) -> None:
        """Send a signal."""
        self.process.send_signal(number)

    async def wait(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        """The exit status (killed if it does not exit in time)."""
        try:
            return await asyncio.wait_for(self.process.wait(), scaled(timeout))
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise

    @property
    def stderr(self) -> str:
        """What the runner printed."""
        return self.stderr_path.read_text(errors="replace")


@dataclass
class Sent:
    """A customer message."""

    conversation: str
    text: str
    at: float


@dataclass
class Tally:
    """What the server stored, against what the customers sent.

    Attributes:
        sent: Customer messages.
        lost: Customer messages without a reply.
        doubled: Replies stored more than once (extra copies).
        doubled_texts: The messages whose reply was stored more than once.
        disordered: Conversations whose replies are not in the order of the messages.
        delays: Seconds from each message to its reply (first reply, from the logs).
    """

    sent: int
    lost: list[str]
    doubled: int
    disordered: list[str]
    delays: list[float] = field(default_factory=list)
    doubled_texts: list[str] = field(default_factory=list)

    @property
    def max_delay(self) -> float:
        """The longest wait for a reply."""
        return max(self.delays, default=0.0)

    def explain(self, lines: list[dict[str, Any]]) -> str:
        """The log lines of the conversations with a doubled reply (for a failure)."""
        conversations = {text.removeprefix("re: ").split("-")[0] for text in self.doubled_texts}
        return "\n".join(
            f"{line['t']:.3f} {line['replica']} {line['phase']} {line['text']} {line['replayed']}"
            for line in lines
            if str(line["text"]).split("-")[0] in conversations
        )

    def summary(self) -> str:
        """One line of figures."""
        return (
            f"{self.sent} sent, {len(self.lost)} lost, {self.doubled} doubled, "
            f"{len(self.disordered)} out of order, max delay {self.max_delay:.2f} s"
        )


class Fleet:
    """Replicas, customers and logs of one test (see the module docstring).

    Args:
        tmp_path: Where the logs go.
        profile: The server's profile.
        server_url: The server.
        redis_url: Redis.
        group: The fleet's name.
        ttl: The lease TTL (seconds).
    """

    def __init__(
        self,
        tmp_path: Path,
        *,
        profile: str,
        server_url: str,
        redis_url: str,
        group: str,
        ttl: float,
    ) -> None:
        self.tmp_path = tmp_path
        self.profile = profile
        self.server_url = server_url
        self.redis_url = redis_url
        self.group = group
        self.ttl = ttl
        self.replicas: list[Replica] = []
        self.sent: list[Sent] = []
        self._log_files: list[Any] = []

    async def start(self, count: int, *, drain_timeout: float = 5.0, **env: str) -> list[Replica]:
        """Start ``count`` replicas (``env``: more of the bot's environment) and wait until
        each is ready."""
        started = [
            await self._spawn(f"r{len(self.replicas) + i}", drain_timeout, env)
            for i in range(count)
        ]
        self.replicas.extend(started)
        await asyncio.gather(*(replica.wait_ready() for replica in started))
        return started

    async def _spawn(self, name: str, drain_timeout: float, more: dict[str, str]) -> Replica:
        log_path = self.tmp_path / f"{name}.jsonl"
        stderr_path = self.tmp_path / f"{name}.stderr"
        port = free_port()
        stderr = stderr_path.open("ab")
        self._log_files.append(stderr)
        env = example_env(
            VILNIUS_URL=self.server_url,
            VILNIUS_FLEET=self.redis_url,
            FLEET_GROUP=self.group,
            FLEET_TTL=str(self.ttl),
            FLEET_PROFILE=self.profile,
            FLEET_NAME=name,
            FLEET_LOG=str(log_path),
            **more,
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vilnius_client.run",
            "tests.fleet.fleet_bot:bot",
            "--drain-timeout",
            str(drain_timeout),
            "--health-host",
            "127.0.0.1",
            "--health-port",
            str(port),
            "--log-level",
            "warning",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            cwd=str(ROOT),
        )
        return Replica(name, process, port, log_path, stderr_path)

    # -- customers -----------------------------------------------------------------

    async def converse(
        self,
        conversations: int,
        messages: int,
        *,
        gap: tuple[float, float] = (0.1, 0.4),
        spread: float = 2.0,
        seed: int = 7,
    ) -> None:
        """``conversations`` customers, each writing ``messages`` messages ``gap`` apart
        (random), the customers starting within ``spread`` seconds."""
        rng = random.Random(seed)
        async with RestClient(self.server_url) as rest:
            created = await asyncio.gather(
                *(rest.create_conversation(visitor_id=f"visitor-{i}") for i in range(conversations))
            )

            async def customer(index: int, conversation_id: str) -> None:
                delays = [rng.uniform(*gap) for _ in range(messages)]
                await asyncio.sleep(rng.uniform(0, spread))
                for number, delay in enumerate(delays):
                    text = f"c{index}-m{number}"
                    self.sent.append(Sent(conversation_id, text, time.time()))
                    await rest.post_message(conversation_id, text, visitor_id=f"visitor-{index}")
                    await asyncio.sleep(delay)

            await asyncio.gather(
                *(customer(i, answer.conversation_id) for i, answer in enumerate(created))
            )

    # -- what the replicas did -------------------------------------------------------

    def lines(self) -> list[dict[str, Any]]:
        """Every reply log line of every replica, in time order."""
        found: list[dict[str, Any]] = []
        for replica in self.replicas:
            if replica.log_path.exists():
                for line in replica.log_path.read_text().splitlines():
                    with contextlib.suppress(ValueError):
                        found.append(json.loads(line))
        return sorted(found, key=lambda line: float(line["t"]))

    def answered(self) -> set[str]:
        """Texts of the customer messages whose reply was sent (from the logs)."""
        return {line["text"] for line in self.lines() if line["phase"] == "done"}

    async def until_answered(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the logs show a reply to every message sent (read every 0.2 s)."""
        wanted = {sent.text for sent in self.sent}
        deadline = time.monotonic() + scaled(timeout)
        while not wanted <= self.answered():
            if time.monotonic() > deadline:
                missing = sorted(wanted - self.answered())
                raise TimeoutError(f"{len(missing)} not answered, e.g. {missing[:5]}")
            await asyncio.sleep(0.2)

    async def tally(self) -> Tally:
        """What the server stored (see `Tally`)."""
        by_conversation: dict[str, list[Sent]] = {}
        for sent in self.sent:
            by_conversation.setdefault(sent.conversation, []).append(sent)
        lost: list[str] = []
        doubled = 0
        doubled_texts: list[str] = []
        disordered: list[str] = []
        async with RestClient(self.server_url) as rest:
            for conversation_id in by_conversation:
                stored = (await rest.conversation_messages(conversation_id)).messages
                if stored and stored[0].seq is None:
                    stored.sort(key=lambda message: message.timestamp)
                visitor = [m.content for m in stored if m.sender is Sender.VISITOR]
                replies = [m.content for m in stored if m.sender is Sender.AGENT]
                counts = Counter(replies)
                doubled += sum(count - 1 for count in counts.values())
                doubled_texts.extend(text for text, count in counts.items() if count > 1)
                lost.extend(text for text in visitor if counts[f"re: {text}"] == 0)
                first = list(dict.fromkeys(replies))
                if first != [f"re: {text}" for text in visitor if counts[f"re: {text}"]]:
                    disordered.append(conversation_id)
        sent_at = {sent.text: sent.at for sent in self.sent}
        answered_at: dict[str, float] = {}
        for line in self.lines():
            if line["phase"] == "done":
                answered_at.setdefault(line["text"], float(line["t"]))
        delays = [answered_at[text] - at for text, at in sent_at.items() if text in answered_at]
        return Tally(len(self.sent), lost, doubled, disordered, delays, doubled_texts)

    async def close(self) -> None:
        """Stop every replica still running (SIGKILL) and close the logs."""
        for replica in self.replicas:
            if replica.process.returncode is None:
                replica.process.kill()
                await replica.process.wait()
        for log in self._log_files:
            log.close()
