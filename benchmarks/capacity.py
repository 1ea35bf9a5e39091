"""Capacity: connected clients with heartbeats that one reference server process holds.

``connections`` sockets are opened from two client processes against one reference server
(``--auth none``, in-memory DB): 50 agents that join the dashboard and send ``heartbeat``
every 5 s (each must be answered by ``heartbeat-ack``), the rest customers, each in its own
conversation room (created with ``POST /api/conversations``) and answering Engine.IO pings.
The server's memory per connection is its RSS growth (``/proc``) divided by the sockets.

Clients: ``lite`` (a minimal Socket.IO client, two Python processes) or ``node`` (the stock
Node.js ``socket.io-client`` 4 with its default options, as browsers connect: long-polling,
then WebSocket, ``permessage-deflate`` offered; two node processes).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from ._lite import LiteClient
from ._node import NodeWorker
from ._servers import cpu_seconds, rss_bytes, run_server
from ._stats import percentile

AGENTS = 50
HEARTBEAT_EVERY = 5.0


@dataclass
class WorkerReport:
    """A client process's view of the hold."""

    connected: int
    failed: int
    alive: int = 0
    heartbeats: int = 0
    acks: int = 0
    ack_p99: float = float("nan")


class _Heartbeats:
    """One outstanding heartbeat per agent socket; the ack's round trip is recorded."""

    def __init__(self) -> None:
        self.sent = 0
        self.pending: dict[int, float] = {}
        self.round_trips: list[float] = []

    def send_time(self, index: int) -> None:
        self.sent += 1
        self.pending[index] = time.monotonic()

    def acked(self, index: int) -> None:
        started = self.pending.pop(index, None)
        if started is not None:
            self.round_trips.append(time.monotonic() - started)


async def _open(
    session: aiohttp.ClientSession, url: str, index: int, agent: bool, beats: _Heartbeats
) -> LiteClient:
    def on_event(name: str, frame: str) -> None:
        if name == "heartbeat-ack":
            beats.acked(index)

    client = LiteClient(session, on_event)
    if agent:
        await client.connect(url)
        async with asyncio.timeout(30):
            await client.call("join-agent-dashboard", f"cap-agent-{index}")
        return client
    async with session.post(f"{url}/api/conversations", json={"visitorId": f"v{index}"}) as r:
        conversation_id = (await r.json())["conversationId"]
    await client.connect(url)
    async with asyncio.timeout(30):
        await client.call("join-conversation", conversation_id)
    return client


async def _worker(url: str, count: int, agents: int, conn: Connection) -> None:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    beats = _Heartbeats()
    gate = asyncio.Semaphore(50)
    clients: list[LiteClient] = []
    agent_clients: dict[int, LiteClient] = {}
    failed = 0

    async def open_one(i: int) -> None:
        nonlocal failed
        async with gate:
            try:
                client = await _open(session, url, i, i < agents, beats)
                clients.append(client)
                if i < agents:
                    agent_clients[i] = client
            except Exception:
                failed += 1

    await asyncio.gather(*(open_one(i) for i in range(count)))
    report = WorkerReport(connected=len(clients), failed=failed)
    conn.send(report)
    t_end: float = await asyncio.to_thread(conn.recv)
    while time.monotonic() < t_end - 2:
        for index, client in agent_clients.items():
            beats.send_time(index)
            await client.emit("heartbeat", {"timestamp": int(time.time() * 1000)})
        await asyncio.sleep(min(HEARTBEAT_EVERY, max(0.0, t_end - 2 - time.monotonic())))
    await asyncio.sleep(max(0.0, t_end - time.monotonic()))
    report.alive = sum(1 for c in clients if not c.closed.is_set())
    report.heartbeats = beats.sent
    report.acks = len(beats.round_trips)
    report.ack_p99 = percentile(beats.round_trips, 99)
    conn.send(report)
    await asyncio.to_thread(conn.recv)
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
    await session.close()


def worker(url: str, count: int, agents: int, conn: Connection) -> None:
    """Process entry point: open ``count`` clients (the first ``agents`` are agents)."""
    asyncio.run(_worker(url, count, agents, conn))


@dataclass
class Result:
    """Capacity figures."""

    target: int
    connected: int
    failed: int
    alive: int
    heartbeats: int
    acks: int
    ack_p99_ms: float
    connect_seconds: float
    rss_before: int
    rss_after: int
    hold_cpu: float
    hold_seconds: float
    client: str = "lite"
    server_kind: str = "ref"

    @property
    def per_connection(self) -> float:
        """Server RSS growth per connected client, in bytes."""
        return (self.rss_after - self.rss_before) / max(1, self.connected)

    def report(self) -> str:
        """Format the figures."""
        per_conn = self.per_connection
        who = "stock socket.io-client 4, default options" if self.client == "node" else "lite"
        if self.server_kind == "refz":
            who += ", server compression on"
        return (
            f"Capacity, {who} (one reference server process, {self.target:,} clients asked,"
            f" {AGENTS} of them agents heartbeating every {HEARTBEAT_EVERY:g} s):\n"
            f"  connected {self.connected:,} in {self.connect_seconds:.1f} s"
            f" ({self.failed} failed); still connected after a {self.hold_seconds:g} s hold:"
            f" {self.alive:,}\n"
            f"  heartbeats answered {self.acks}/{self.heartbeats}"
            f" (p99 round trip {self.ack_p99_ms * 1000:.1f} ms); server CPU during hold"
            f" {self.hold_cpu:.0%}\n"
            f"  server RSS {self.rss_before / 2**20:.1f} MiB -> {self.rss_after / 2**20:.1f} MiB"
            f" = {per_conn / 1024:.1f} KiB per connection"
        )


class _NodeWorker(NodeWorker):
    """A ``node clients.js hold`` process, with the interface of a worker's pipe."""

    def __init__(self, url: str, count: int, agents: int) -> None:
        super().__init__("hold", url, count, agents)
        self.ready: dict[str, Any] | None = None

    def recv(self) -> WorkerReport:
        value = self.node.recv()
        if "ready" in value:
            self.ready = value
            return WorkerReport(connected=value["ready"], failed=value["failed"])
        assert self.ready is not None
        p99 = value["ack_p99"]
        return WorkerReport(
            connected=self.ready["ready"],
            failed=self.ready["failed"],
            alive=value["alive"],
            heartbeats=value["heartbeats"],
            acks=value["acks"],
            ack_p99=float("nan") if p99 is None else p99,
        )

    def send(self, value: Any) -> None:
        if isinstance(value, float):
            # Node keeps its own 5 s heartbeat clock: wait out the hold, then ask.
            time.sleep(max(0.0, value - time.monotonic()))
            self.node.send("report")
        elif value == "close":
            self.node.close()


def run(
    connections: int = 2000,
    procs: int = 2,
    hold: float = 12.0,
    client: str = "lite",
    server_kind: str = "ref",
) -> Result:
    """Open ``connections`` clients of kind ``client`` (``lite`` or ``node``) from ``procs``
    processes against a server of ``server_kind`` (``ref``, or ``refz`` with compression
    on) and hold them ``hold`` seconds."""
    ctx = mp.get_context("spawn")
    with run_server(server_kind) as server:
        time.sleep(0.5)
        rss_before = rss_bytes(server.pid)
        share = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
        conns: list[Any] = []
        workers: list[Any] = []
        start = time.monotonic()
        for i, count in enumerate(share):
            agents = AGENTS if i == 0 else 0
            if client == "node":
                node = _NodeWorker(server.url, count, agents)
                conns.append(node)
                workers.append(node)
                continue
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(server.url, count, agents, child))
            proc.start()
            conns.append(parent)
            workers.append(proc)
        try:
            ready: list[WorkerReport] = []
            for c in conns:
                if not c.poll(300):
                    raise TimeoutError("clients did not connect in 300 s")
                ready.append(c.recv())
            connect_seconds = time.monotonic() - start
            time.sleep(1.0)
            rss_after = rss_bytes(server.pid)
            cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
            t_end = t0 + hold
            for c in conns:
                c.send(t_end)
            held: list[WorkerReport] = []
            for c in conns:
                if not c.poll(hold + 60):
                    raise TimeoutError("clients did not report after the hold")
                held.append(c.recv())
            hold_cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0)
            for c in conns:
                c.send("close")
        finally:
            for proc in workers:
                proc.join(30)
                if proc.is_alive():
                    proc.kill()
    ack_p99 = max((r.ack_p99 for r in held if r.heartbeats), default=float("nan"))
    return Result(
        target=connections,
        connected=sum(r.connected for r in ready),
        failed=sum(r.failed for r in ready),
        alive=sum(r.alive for r in held),
        heartbeats=sum(r.heartbeats for r in held),
        acks=sum(r.acks for r in held),
        ack_p99_ms=ack_p99,
        connect_seconds=connect_seconds,
        rss_before=rss_before,
        rss_after=rss_after,
        hold_cpu=hold_cpu,
        hold_seconds=hold,
        client=client,
        server_kind=server_kind,
    )
