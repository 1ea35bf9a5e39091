"""SDK overhead: events per second one ``AgentClient`` handles vs a raw python-socketio client
and vs the stock Node.js ``socket.io-client`` 4 (default options).

Both receive the same stream: the thin server emits a burst of ``new-message`` events to room
``agents`` (``POST /bench/burst``) while the receiver's event loop is held, so the burst waits
in the socket buffers; then the receiver, alone in its own process, takes them as fast as it
can, and the rate is the events handled over the time from its release to the last one. The
raw client hands its handler a dict; the ``AgentClient`` parses each event into a
``NewMessageEvent``, tracks its seq, de-duplicates and dispatches it in order.

The Node.js receiver (``benchmarks/node/clients.js receive``) is held by stopping its
process (SIGSTOP) during the burst and resuming it (SIGCONT) when the clock starts. The thin
server runs with ``--no-ws-compression`` here: it is stock python-socketio, which would
otherwise deflate every frame for the Node client (it offers ``permessage-deflate``, the
Python clients do not), and this benchmark measures receivers, not compression.

Holding the receiver matters: the thin server emits only a few thousand events per second
on a small machine, and a receiver faster than that would measure the server. Each
receiver also reports the CPU time its process spent from the first event to the last
(events per CPU-second, a cross-check of the wall-clock figure that is compared).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import time
import urllib.request
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ._node import NodeClients
from ._servers import node_available, run_server

RECEIVERS = ("raw", "sdk", "sdk-inline", "sdk-stock", "node")
"""``sdk``: AgentClient with every fast path; ``sdk-inline``: with ``inline_events`` only;
``sdk-stock``: with none (``VILNIUS_FAST_PATHS``): the A/B of the client's fast paths."""

_FAST_PATHS = {"sdk": "1", "sdk-inline": "inline_events", "sdk-stock": "0"}


async def _receive(url: str, kind: str, count: int, conn: Connection) -> None:
    times: list[float] = []
    cpu: list[float] = []
    done = asyncio.Event()

    def on_event(_: Any) -> None:
        times.append(time.monotonic())
        if len(times) >= count:
            cpu.append(time.process_time())
            done.set()

    if kind == "raw":
        import socketio

        sio = socketio.AsyncClient(reconnection=False)
        sio.on("new-message", on_event)
        await sio.connect(url, transports=["websocket"])
        await sio.call("join-agent-dashboard", "bench-agent", timeout=30)
        closer: Any = sio.disconnect
    else:
        from vilnius_client import AgentClient

        client = AgentClient(url, agent_id="bench-agent", heartbeat_interval=3600)
        client.on("new-message", on_event)
        await client.connect()
        closer = client.disconnect
    conn.send("ready")
    # Block the event loop (on purpose) until the server has emitted the whole burst: the
    # events wait in the socket buffers, and each receiver then takes them at its own pace.
    # Otherwise a receiver faster than the thin server's emit rate measures the server.
    conn.recv()
    # Counted from here, not from the first handler call: a client that parses a backlog
    # before calling handlers would otherwise look faster than it is.
    start = time.monotonic()
    cpu.append(time.process_time())
    try:
        async with asyncio.timeout(120):
            await done.wait()
    except TimeoutError:
        pass
    finally:
        await closer()
    conn.send((start, times, cpu[-1] - cpu[0] if len(cpu) > 1 else 0.0))


def receiver(url: str, kind: str, count: int, conn: Connection) -> None:
    """Process entry point: one receiver of ``kind`` counting ``count`` events."""
    if kind in _FAST_PATHS:
        os.environ["VILNIUS_FAST_PATHS"] = _FAST_PATHS[kind]  # before the SDK reads it
    asyncio.run(_receive(url, kind, count, conn))


@dataclass
class Result:
    """Events per second handled by each receiver kind (best of the rounds)."""

    rates: dict[str, float]
    count: int
    cpu_rates: dict[str, float] = field(default_factory=dict)

    def report(self) -> str:
        """Format the figures and the ratios."""

        def ratio(a: float, b: float) -> str:
            return f"{a / b:.2f}x" if a and b else "-"

        rates, cpu = self.rates, self.cpu_rates
        sdk, sdk_cpu = rates.get("sdk", 0.0), cpu.get("sdk", 0.0)
        lines = [f"SDK overhead ({self.count:,} new-message events, one receiver process):"]
        names = {
            "raw": "raw python-socketio AsyncClient ",
            "sdk": "AgentClient (typed, dispatched) ",
            "sdk-inline": "AgentClient, inline_events only ",
            "sdk-stock": "AgentClient, no fast path      ",
            "node": "Node socket.io-client 4 (default)",
        }
        for kind, name in names.items():
            if kind in rates:
                lines.append(
                    f"  {name} {rates[kind]:>10,.0f} events/s  {cpu.get(kind, 0.0):>10,.0f}"
                    " events/CPU-s"
                )
        for base in ("raw", "node"):
            if base in rates:
                lines.append(
                    f"  AgentClient / {base}: {ratio(sdk, rates[base])} events/s,"
                    f" {ratio(sdk_cpu, cpu.get(base, 0.0))} events per CPU-second"
                )
        stock = cpu.get("sdk-stock", 0.0)
        inline = cpu.get("sdk-inline", 0.0)
        if stock:
            lines.append(
                "  fast paths A/B (events per CPU-second): all / none "
                f"{ratio(sdk_cpu, stock)}, inline_events / none {ratio(inline, stock)}, "
                f"read_loop on top of inline_events {ratio(sdk_cpu, inline)}"
            )
        lines.append("  (target: AgentClient >= 1.0x raw on events per CPU-second)")
        return "\n".join(lines)


def _burst(url: str, count: int) -> None:
    body = f'{{"count": {count}}}'.encode()
    request = urllib.request.Request(
        f"{url}/bench/burst", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as resp:
        resp.read()


def _node_round(url: str, count: int) -> tuple[float, float]:
    """Events/s and events per CPU-second of the stock Node.js client."""
    node = NodeClients("receive", url, count)
    try:
        ready = node.recv(60)
        os.kill(node.pid, signal.SIGSTOP)
        try:
            _burst(url, count)
            start = time.monotonic()
        finally:
            os.kill(node.pid, signal.SIGCONT)
        done = node.recv(180)
    finally:
        node.close()
    rate = done["count"] / (done["last"] - start)
    cpu = done["cpu"] - ready["cpu"]
    return rate, done["count"] / cpu if cpu > 0 else 0.0


def run(count: int = 20000, rounds: int = 2) -> Result:
    """Measure the receivers ``rounds`` times, alternating, against one thin server."""
    ctx = mp.get_context("spawn")
    rates: dict[str, float] = {}
    cpu_rates: dict[str, float] = {}
    kinds = [k for k in RECEIVERS if k != "node" or node_available()]
    with run_server("thin", ("--no-ws-compression",)) as server:
        for _ in range(rounds):
            for kind in kinds:
                if kind == "node":
                    rate, cpu_rate = _node_round(server.url, count)
                    rates[kind] = max(rates.get(kind, 0.0), rate)
                    cpu_rates[kind] = max(cpu_rates.get(kind, 0.0), cpu_rate)
                    continue
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=receiver, args=(server.url, kind, count, child))
                proc.start()
                try:
                    if not parent.poll(60):
                        raise TimeoutError(f"{kind} receiver did not connect")
                    parent.recv()
                    _burst(server.url, count)
                    parent.send("go")
                    if not parent.poll(180):
                        raise TimeoutError(f"{kind} receiver did not finish")
                    start, times, cpu = parent.recv()
                finally:
                    proc.join(30)
                    if proc.is_alive():
                        proc.kill()
                if times:
                    rate = len(times) / (times[-1] - start)
                    rates[kind] = max(rates.get(kind, 0.0), rate)
                    if cpu > 0:
                        cpu_rate = len(times) / cpu
                        cpu_rates[kind] = max(cpu_rates.get(kind, 0.0), cpu_rate)
    return Result(rates, count, cpu_rates)
