"""Fan-out benchmark: M agents x N customers against the reference, thin and Node.js servers.

Layout (a 2-core box, so the load is spread over processes):

* ``agent`` worker processes hold the M agent sockets (each joined to ``agents``) and count
  what they receive. The sockets are those of the chosen load generator (``--client``):
  ``lite`` (a minimal Socket.IO client, :mod:`benchmarks._lite`, no compression offered),
  ``node`` (the stock Node.js ``socket.io-client`` 4 with its default options, as browsers
  connect: long-polling, then WebSocket, ``permessage-deflate`` offered;
  ``benchmarks/node/clients.js``) or ``sio`` (python-socketio's ``AsyncClient``).
* one ``driver`` process holds the N customers (Socket.IO sockets for ``customer-typing``, an
  aiohttp session for ``POST /api/messages``) plus agent 0, the *probe*.

Phases, each a few seconds:

* saturation: customers send as fast as the server delivers, with at most ``window`` events
  not yet seen by the probe (so server queues stay bounded and we measure throughput, not
  buffering); deliveries per second are counted over every agent in the measuring window.
* latency: customers send at a fixed offered rate (default 200 events/s, i.e. 10,000
  deliveries/s with 50 agents) and each delivery's latency is its receive time minus its send
  time (``time.monotonic`` is system-wide on Linux, so processes can be compared).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import math
import multiprocessing as mp
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import socketio

from ._lite import LiteClient, decode
from ._node import NodeWorker
from ._servers import cpu_seconds, run_server
from ._stats import fmt_ms, fmt_rate, lower_latency, percentile, ratio

TYPING = "customer-typing-status"
MESSAGE = "new-message"
EVENTS = (TYPING, MESSAGE)

#: (conversation index, event index, monotonic receive time)
Record = tuple[int, int, float]


@dataclass(frozen=True)
class Phase:
    """One measured phase, sent from the parent to every worker."""

    event: str
    mode: str  # "saturate" | "rate"
    t_start: float
    t_measure: float
    t_end: float
    rate: float = 0.0
    window: int = 20


@dataclass
class WorkerResult:
    """What a worker reports after a phase."""

    in_window: int = 0
    total: int = 0
    sent: int = 0
    records: list[Record] = field(default_factory=list)
    sends: dict[tuple[int, int], float] = field(default_factory=dict)
    pid: int = 0


def conv_id(index: int) -> str:
    """Conversation id of customer ``index``."""
    return f"bench-c{index}"


def _conv_index(conversation_id: str) -> int:
    return int(conversation_id.rsplit("c", 1)[1])


class Counter:
    """Counts deliveries of the current phase and records receive times when asked."""

    def __init__(self) -> None:
        self.phase: Phase | None = None
        self.in_window = 0
        self.total = 0
        self.last_receipt = 0.0
        self.records: list[Record] = []
        self.typing_index: dict[tuple[int, int], int] = defaultdict(int)
        self.probe_seen = 0
        self.probe_event = asyncio.Event()

    def reset(self, phase: Phase) -> None:
        self.phase = phase
        self.in_window = self.total = self.probe_seen = 0
        self.records = []
        self.typing_index.clear()

    def receive(self, agent: int, event: str, probe: bool, payload: str | dict[str, Any]) -> None:
        """Count one delivery; ``payload`` is a decoded dict or a raw ``42[...]`` frame."""
        now = time.monotonic()
        self.last_receipt = now
        phase = self.phase
        if phase is None or phase.event != event:
            return
        self.total += 1
        if phase.t_measure <= now <= phase.t_end:
            self.in_window += 1
        if probe:
            self.probe_seen += 1
            self.probe_event.set()
        if phase.mode == "rate":
            data = decode(payload) if isinstance(payload, str) else payload
            conv = _conv_index(data["conversationId"])
            if event == TYPING:
                key = (agent, conv)
                index = self.typing_index[key]
                self.typing_index[key] = index + 1
            else:
                index = int(data["message"]["content"].rsplit("#", 1)[1])
            self.records.append((conv, index, now))

    async def drained(self, quiet: float = 0.3, limit: float = 10.0) -> None:
        """Return once nothing has arrived for ``quiet`` seconds (or after ``limit``)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            idle = time.monotonic() - self.last_receipt
            if idle >= quiet:
                return
            await asyncio.sleep(quiet - idle)


class Clients:
    """Makes Socket.IO connections of the chosen kind (``lite`` or ``sio``) in one process."""

    def __init__(self, url: str, kind: str) -> None:
        self.url = url
        self.kind = kind
        self.session: aiohttp.ClientSession | None = None
        self.open: list[Any] = []

    async def connect(
        self, on_event: Callable[[str, str | dict[str, Any]], None] | None = None
    ) -> Any:
        """One connected socket; ``on_event(name, payload)`` gets fan-out events."""
        if self.kind == "sio":
            sio = socketio.AsyncClient(reconnection=False)
            if on_event is not None:
                for event in EVENTS:
                    sio.on(event, functools.partial(on_event, event))
            await sio.connect(self.url, transports=["websocket"])
            self.open.append(sio)
            return sio
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        client = LiteClient(self.session, on_event or (lambda name, frame: None))
        await client.connect(self.url)
        self.open.append(client)
        return client

    async def agent(self, agent: int, counter: Counter, probe: bool) -> Any:
        """A socket joined to the agents' dashboard, counting into ``counter``."""

        def on_event(event: str, payload: str | dict[str, Any]) -> None:
            counter.receive(agent, event, probe, payload)

        client = await self.connect(on_event)
        async with asyncio.timeout(30):
            await client.call("join-agent-dashboard", f"bench-agent-{agent}")
        return client

    async def close(self) -> None:
        """Disconnect every socket."""
        for client in self.open:
            await client.disconnect()
        if self.session is not None:
            await self.session.close()


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _agent_main(url: str, client_kind: str, agents: list[int], conn: Connection) -> None:
    counter = Counter()
    clients = Clients(url, client_kind)
    for agent in agents:
        await clients.agent(agent, counter, probe=False)
    conn.send("ready")
    try:
        while True:
            phase = await asyncio.to_thread(conn.recv)
            if phase is None:
                return
            counter.reset(phase)
            await _sleep_until(phase.t_end)
            await counter.drained()
            result = WorkerResult(counter.in_window, counter.total, records=counter.records)
            counter.phase = None
            conn.send(result)
    finally:
        await clients.close()


def agent_worker(url: str, client_kind: str, agents: list[int], conn: Connection) -> None:
    """Process entry point: hold ``agents`` sockets and count deliveries per phase."""
    asyncio.run(_agent_main(url, client_kind, agents, conn))


class Driver:
    """The customers and the probe agent, in one process."""

    def __init__(self, url: str, client_kind: str, customers: int, pad: int = 0) -> None:
        self.padding = "x" * pad
        self.url = url
        self.n = customers
        self.counter = Counter()
        self.clients = Clients(url, client_kind)
        self.customers: list[Any] = []
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        for i in range(self.n):
            # The first message creates the conversation (reference server); warm-up only.
            await self._post(i, "warm-up #0")
            customer = await self.clients.connect()
            async with asyncio.timeout(30):
                await customer.call("join-conversation", conv_id(i))
            self.customers.append(customer)
        await self.clients.agent(0, self.counter, probe=True)

    async def stop(self) -> None:
        await self.clients.close()
        if self.http is not None:
            await self.http.close()

    async def _post(self, customer: int, text: str) -> None:
        assert self.http is not None
        body = {"conversationId": conv_id(customer), "message": text, "visitorId": f"v{customer}"}
        async with self.http.post(f"{self.url}/api/messages", json=body) as resp:
            await resp.read()
            if resp.status >= 400:
                raise RuntimeError(f"POST /api/messages answered {resp.status}")

    async def _send(self, event: str, k: int, index: int) -> None:
        customer = k % self.n
        if event == TYPING:
            payload = {"conversationId": conv_id(customer), "isTyping": index % 2 == 0}
            await self.customers[customer].emit("customer-typing", payload)
        else:
            await self._post(customer, f"{self.padding}bench message #{index}")

    async def run(self, phase: Phase) -> WorkerResult:
        self.counter.reset(phase)
        result = WorkerResult()
        await _sleep_until(phase.t_start)
        if phase.mode == "saturate":
            result.sent = await self._saturate(phase)
        else:
            result.sent, result.sends = await self._paced(phase)
        await self.counter.drained()
        result.in_window, result.total = self.counter.in_window, self.counter.total
        result.records = self.counter.records
        self.counter.phase = None
        return result

    async def _saturate(self, phase: Phase) -> int:
        counter = self.counter
        sent = 0

        async def lane() -> None:
            nonlocal sent
            while time.monotonic() < phase.t_end:
                while sent - counter.probe_seen >= phase.window:
                    counter.probe_event.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(counter.probe_event.wait(), 1.0)
                    if time.monotonic() >= phase.t_end:
                        return
                k = sent
                sent += 1
                await self._send(phase.event, k, k // self.n)

        # Socket.IO emits return once queued, so one lane suffices; HTTP needs concurrency.
        lanes = 1 if phase.event == TYPING else self.n
        await asyncio.gather(*(lane() for _ in range(lanes)))
        return sent

    async def _paced(self, phase: Phase) -> tuple[int, dict[tuple[int, int], float]]:
        sends: dict[tuple[int, int], float] = {}
        tasks: set[asyncio.Task[None]] = set()
        interval = 1.0 / phase.rate
        for k in itertools.count():
            due = phase.t_start + k * interval
            if due >= phase.t_end:
                break
            await _sleep_until(due)
            customer, index = k % self.n, k // self.n
            sends[(customer, index)] = time.monotonic()
            if phase.event == TYPING:
                await self._send(phase.event, k, index)
            else:
                task = asyncio.create_task(self._send(phase.event, k, index))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        return len(sends), sends


async def _driver_main(
    url: str, client_kind: str, customers: int, pad: int, conn: Connection
) -> None:
    driver = Driver(url, client_kind, customers, pad)
    await driver.start()
    conn.send("ready")
    try:
        while True:
            phase = await asyncio.to_thread(conn.recv)
            if phase is None:
                return
            conn.send(await driver.run(phase))
    finally:
        await driver.stop()


def driver_worker(url: str, client_kind: str, customers: int, pad: int, conn: Connection) -> None:
    """Process entry point: the customers and the probe agent."""
    asyncio.run(_driver_main(url, client_kind, customers, pad, conn))


CLIENT_NAMES = {
    "lite": "lite (benchmarks/_lite.py, no compression offered)",
    "node": "stock Node socket.io-client 4, default options (agents; customers and probe: lite)",
    "sio": "python-socketio AsyncClient",
}


@dataclass
class Config:
    """Fan-out benchmark parameters."""

    agents: int = 50
    customers: int = 10
    agent_procs: int = 1
    duration: float = 4.0
    warmup: float = 0.5
    rate: float = 200.0
    window: int = 50
    client: str = "lite"
    pad: int = 0
    """Characters added to each new-message's text (the slow-reader benchmark's large events)."""


@dataclass
class PhaseResult:
    """Parent-side result of one phase."""

    deliveries_per_s: float
    server_cpu: float
    sent: int
    expected: int
    delivered: int
    p50: float = math.nan
    p99: float = math.nan


@dataclass
class ServerResult:
    """All phases for one server."""

    kind: str
    phases: dict[tuple[str, str], PhaseResult] = field(default_factory=dict)
    error: str | None = None


class _NodeAgents(NodeWorker):
    """Agent sockets of the stock Node.js client in one node process (a worker's interface)."""

    def __init__(self, url: str, agents: list[int]) -> None:
        super().__init__("agents", url, agents[0], len(agents))

    def send(self, phase: Phase | None) -> None:
        self.node.send(None if phase is None else dataclasses.asdict(phase))

    def recv(self) -> Any:
        value = self.node.recv()
        if "ready" in value:
            return "ready"
        records = [(int(c), int(i), float(t)) for c, i, t in value["records"]]
        return WorkerResult(value["in_window"], value["total"], records=records)


class Fleet:
    """The worker processes of one benchmark run against one server."""

    def __init__(self, url: str, cfg: Config) -> None:
        ctx = mp.get_context("spawn")
        self.cfg = cfg
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        remote = list(range(1, cfg.agents))
        size = math.ceil(len(remote) / cfg.agent_procs) if remote else 1
        shares = [remote[i : i + size] for i in range(0, len(remote), size)]
        # The driver's sockets (customers, probe agent) are lite ones with every load generator.
        driver_client = "lite" if cfg.client == "node" else cfg.client
        targets: list[tuple[Any, tuple[Any, ...]]] = []
        for share in shares:
            if cfg.client == "node":
                node = _NodeAgents(url, share)
                self.conns.append(node)
                self.procs.append(node)
            else:
                targets.append((agent_worker, (url, cfg.client, share)))
        targets.append((driver_worker, (url, driver_client, cfg.customers, cfg.pad)))
        for target, args in targets:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=target, args=(*args, child), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        for c in self.conns:
            if not c.poll(60):
                raise TimeoutError("load-generator worker did not connect in 60 s")
            c.recv()

    def run(self, phase: Phase) -> list[WorkerResult]:
        """Run ``phase`` on every worker; their results."""
        for c in self.conns:
            c.send(phase)
        results = []
        for c in self.conns:
            if not c.poll(phase.t_end - time.monotonic() + 60):
                raise TimeoutError("load-generator worker did not report")
            results.append(c.recv())
        return results

    def close(self) -> None:
        """Stop every worker."""
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.send(None)
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()


def _measure(fleet: Fleet, server_pid: int, event: str, mode: str, cfg: Config) -> PhaseResult:
    t0 = time.monotonic() + 0.3
    phase = Phase(
        event=event,
        mode=mode,
        t_start=t0,
        t_measure=t0 + cfg.warmup,
        t_end=t0 + cfg.warmup + cfg.duration,
        rate=cfg.rate,
        window=cfg.window,
    )
    # Sample the server's CPU time over the measuring window from a helper thread.
    cpu: list[float] = []

    def sample() -> None:
        for t in (phase.t_measure, phase.t_end):
            time.sleep(max(0.0, t - time.monotonic()))
            cpu.append(cpu_seconds(server_pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    results = fleet.run(phase)
    sampler.join()
    in_window = sum(r.in_window for r in results)
    delivered = sum(r.total for r in results)
    sent = sum(r.sent for r in results)
    out = PhaseResult(
        deliveries_per_s=in_window / cfg.duration,
        server_cpu=(cpu[1] - cpu[0]) / cfg.duration,
        sent=sent,
        expected=sent * cfg.agents,
        delivered=delivered,
    )
    if mode == "rate":
        sends: dict[tuple[int, int], float] = {}
        for r in results:
            sends.update(r.sends)
        latencies = [
            t - sends[(conv, idx)]
            for r in results
            for conv, idx, t in r.records
            if (conv, idx) in sends and sends[(conv, idx)] >= phase.t_measure
        ]
        out.p50, out.p99 = percentile(latencies, 50), percentile(latencies, 99)
    return out


def run_one(kind: str, cfg: Config) -> ServerResult:
    """Run every phase against one freshly started server of ``kind``."""
    result = ServerResult(kind)
    try:
        with run_server(kind) as server:
            fleet = Fleet(server.url, cfg)
            try:
                for event in EVENTS:
                    for mode in ("saturate", "rate"):
                        result.phases[(event, mode)] = _measure(fleet, server.pid, event, mode, cfg)
            finally:
                fleet.close()
    except Exception as exc:  # a server that cannot be benchmarked is reported, not fatal
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _better(a: PhaseResult, b: PhaseResult, mode: str) -> PhaseResult:
    if mode == "saturate":
        return a if a.deliveries_per_s >= b.deliveries_per_s else b
    return a if lower_latency(a.p99, b.p99) else b


def run_all(kinds: list[str], cfg: Config, rounds: int = 1) -> list[ServerResult]:
    """Run every server ``rounds`` times, interleaved (so that a noisy neighbour hits them
    alike), keeping per phase the best saturation and the lowest p99."""
    best: dict[str, ServerResult] = {}
    for r in range(rounds):
        for kind in kinds:
            print(f"fan-out: {kind} (round {r + 1}/{rounds}) ...", flush=True)
            result = run_one(kind, cfg)
            kept = best.get(kind)
            if kept is None or kept.error:
                best[kind] = result
            elif not result.error:
                for key, phase in result.phases.items():
                    kept.phases[key] = _better(kept.phases[key], phase, key[1])
    return [best[k] for k in kinds]


def report(results: list[ServerResult], cfg: Config) -> str:
    """Format the results table and the ratios."""
    lines = [
        f"Fan-out, load generator {CLIENT_NAMES.get(cfg.client, cfg.client)}:"
        f" {cfg.agents} agents x {cfg.customers} customers, {cfg.duration:g} s per phase;"
        f" latency at {cfg.rate:g} events/s = {cfg.rate * cfg.agents:,.0f} offered deliveries/s",
        "",
        f"{'server':<9} {'event':<24} {'deliveries/s':>13} {'cpu':>5}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'lost':>6} {'lat cpu':>7}",
    ]
    for res in results:
        if res.error:
            lines.append(f"{res.kind:<9} failed: {res.error}")
            continue
        for event in EVENTS:
            sat = res.phases[(event, "saturate")]
            lat = res.phases[(event, "rate")]
            lost = lat.expected - lat.delivered
            lines.append(
                f"{res.kind:<9} {event:<24} {fmt_rate(sat.deliveries_per_s):>13}"
                f" {sat.server_cpu:>5.0%} {fmt_ms(lat.p50):>7} {fmt_ms(lat.p99):>7}"
                f" {lost:>6} {lat.server_cpu:>7.0%}"
            )
    by_kind = {r.kind: r for r in results if not r.error}
    ref = by_kind.get("ref")
    if ref:
        lines.append("")
        for base in ("thin", "node", "refz", "ref-stock"):
            other = by_kind.get(base)
            if not other:
                continue
            parts = [
                f"{event}: "
                + ratio(
                    ref.phases[(event, "saturate")].deliveries_per_s,
                    other.phases[(event, "saturate")].deliveries_per_s,
                )
                for event in EVENTS
            ]
            lines.append(f"ref/{base} deliveries/s  " + "   ".join(parts))
        if "ref-stock" in by_kind:
            lines.append(
                "(ref/ref-stock: what the server's fast path, direct, earns; kept at 1.5x)"
            )
    lines.append("(cpu = server process CPU over the measuring window; 100% = one core)")
    return "\n".join(lines)
