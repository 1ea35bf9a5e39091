"""A client that stops reading cannot take the server down (issue 14 item 3, issue 11 point 4).

The server runs as a subprocess (its memory is measured from ``/proc``) with a small
per-connection limit (``--max-outgoing-buffer``). Three python-socketio agents read
normally; one more agent, in its own process, is paused with SIGSTOP, so it stops
reading its socket while a burst of large ``new-message`` events is broadcast. Then:

* every delivery to the reading agents arrives, in seq order;
* the server closes the paused agent's connection and says why in its log;
* the server's memory stays under :data:`RSS_BOUND` above where it started, while the
  burst is several times that (without the limit the server would hold what the paused
  client does not read);
* resumed with SIGCONT, the paused agent reconnects and recovers every message it missed,
  each exactly once.

The paused agent is an ``AgentClient`` (python-socketio) and the stock Node
``socket.io-client`` 4 with default options (long-polling, then WebSocket, deflate
offered), the latter once more with the server's compression on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

from tests.faults.server_process import ServerProcess, free_port
from tests.faults.timing import scaled, wait_until
from tests.server.helpers import Recorder

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent.parent
NODE_CLIENT: Final = HERE.parent / "interop" / "node_modules" / "socket.io-client"

LIMIT: Final = 256 * 1024
"""The server's per-connection limit in these tests (``--max-outgoing-buffer``)."""
MESSAGES: Final = 2500
CONTENT_CHARS: Final = 8000
"""Random URL-safe text: ~20 MB of events to the paused agent, ~15 MB when deflated."""
RSS_BOUND: Final = 8 * 2**20
"""What the server's resident memory may grow by during the burst."""
READERS: Final = 3

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(scaled(180)))]


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Peer:
    """The paused agent: a subprocess printing JSON lines."""

    process: asyncio.subprocess.Process
    records: list[dict[str, Any]] = field(default_factory=list)

    def seqs(self) -> list[int]:
        return [r["seq"] for r in self.records if "seq" in r]

    def count(self, **match: Any) -> int:
        return sum(1 for r in self.records if all(r.get(k) == v for k, v in match.items()))

    async def read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.records.append(json.loads(line))

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)


@contextlib.asynccontextmanager
async def _peer(kind: str, url: str) -> AsyncIterator[Peer]:
    if kind == "python":
        argv = [sys.executable, "-m", "tests.faults.slow_agent", url]
    else:
        node = shutil.which("node")
        if node is None or not NODE_CLIENT.is_dir():
            pytest.skip("node or tests/interop/node_modules missing (./dev test installs it)")
        argv = [node, str(HERE / "slow_agent.js"), url]
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=None
    )
    peer = Peer(process)
    reader = asyncio.create_task(peer.read())
    try:
        yield peer
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), scaled(10))
        except TimeoutError:
            process.kill()
            await process.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _post_burst(url: str, conversation: str, count: int) -> list[int]:
    """Post ``count`` large messages, 4 at a time; return their seqs in order."""
    seqs: list[int] = []
    sem = asyncio.Semaphore(4)
    timeout = aiohttp.ClientTimeout(total=scaled(30))
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def post(n: int) -> None:
            body = {"conversationId": conversation, "message": secrets.token_urlsafe(6000)}
            body["message"] = body["message"][:CONTENT_CHARS]
            async with sem, http.post(f"{url}/api/messages", json=body) as resp:
                answer = await resp.json()
                assert resp.status == 200, answer
                seqs.append(answer["userMessage"]["seq"])

        await asyncio.gather(*(post(n) for n in range(count)))
    return sorted(seqs)


async def _post(url: str, conversation: str, text: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/messages", json={"conversationId": conversation, "message": text}
        ) as resp,
    ):
        answer = await resp.json()
        assert resp.status == 200, answer
        seq: int = answer["userMessage"]["seq"]
        return seq


@pytest.mark.parametrize(
    ("kind", "compression"),
    [("python", False), ("node", False), ("node", True)],
    ids=["python-socketio", "node-default", "node-server-deflate"],
)
async def test_a_paused_reader_is_dropped_the_others_get_everything_and_it_recovers(
    tmp_path: Path, kind: str, compression: bool
) -> None:
    args = ["--max-outgoing-buffer", str(LIMIT), "--log-level", "INFO"]
    if compression:
        args.append("--ws-compression")
    server = ServerProcess(
        port=free_port(), db=tmp_path / "chat.db", log_path=tmp_path / "server.log", extra_args=args
    )
    readers = [Recorder() for _ in range(READERS)]
    await server.start()
    try:
        for n, reader in enumerate(readers):
            await reader.connect(server.url)
            assert await reader.call("join-agent-dashboard", f"reader-{n}") == {"ok": True}
        async with _peer(kind, server.url) as peer:
            await wait_until(
                lambda: (
                    peer.count(state="connected") >= 1
                    and (kind == "python" or peer.count(upgraded="websocket") == 1)
                ),
                15,
                what="the paused agent's connection",
            )
            conversation = "slow-reader"
            first = await _post(server.url, conversation, "warm-up")
            await wait_until(lambda: first in peer.seqs(), 15, what="the warm-up message")

            rss_before = _rss(server.pid)
            peak = rss_before
            peer.signal(signal.SIGSTOP)

            async def sample() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, _rss(server.pid))
                    await asyncio.sleep(0.02)

            sampler = asyncio.create_task(sample())
            try:
                posted = await _post_burst(server.url, conversation, MESSAGES)
                expected = [first, *posted]
                for reader in readers:
                    await reader.wait_for("new-message", count=len(expected))
                await wait_until(
                    lambda: "closing connection" in server.log_text(),
                    15,
                    what="the server closing the paused agent's connection",
                )
            finally:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler

            for reader in readers:
                got = [d["message"]["seq"] for d in reader.received("new-message")]
                assert got == expected, "a reading agent missed or reordered a delivery"
            grown = peak - rss_before
            assert grown < RSS_BOUND, f"server RSS grew {grown / 2**20:.1f} MiB during the burst"
            log = server.log_text()
            assert "over the limit of 262144" in log, log[-2000:]

            peer.signal(signal.SIGCONT)
            await wait_until(
                lambda: set(expected) <= set(peer.seqs()),
                60,
                what="the paused agent recovering every message",
            )
            seqs = peer.seqs()
            assert len(seqs) == len(set(seqs)), "a message was delivered twice"
            assert any(r.get("replayed") for r in peer.records), "nothing was recovered"
            assert peer.count(state="connected") >= 2, "the paused agent never reconnected"
    finally:
        for reader in readers:
            await reader.close()
        await server.close()
