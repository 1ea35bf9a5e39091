"""SDK overhead: events per second one ``AgentClient`` handles vs a raw python-socketio client.

Both receive the same stream: the thin server emits a burst of ``new-message`` events to room
``agents`` (``POST /bench/burst``), faster than one Python client can take them, and the
receiver, alone in its own process, counts them from the first to the last. The raw client
hands its handler a dict; the ``AgentClient`` parses each event into a ``NewMessageEvent``,
tracks its seq, de-duplicates and dispatches it in order.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
import urllib.request
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ._servers import run_server

RECEIVERS = ("raw", "sdk")


async def _receive(url: str, kind: str, count: int, conn: Connection) -> None:
    times: list[float] = []
    done = asyncio.Event()

    def on_event(_: Any) -> None:
        times.append(time.monotonic())
        if len(times) >= count:
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
        closer = client.close
    conn.send("ready")
    try:
        async with asyncio.timeout(120):
            await done.wait()
    except TimeoutError:
        pass
    finally:
        await closer()
    conn.send(times)


def receiver(url: str, kind: str, count: int, conn: Connection) -> None:
    """Process entry point: one receiver of ``kind`` counting ``count`` events."""
    asyncio.run(_receive(url, kind, count, conn))


@dataclass
class Result:
    """Events per second handled by each receiver kind (best of the rounds)."""

    rates: dict[str, float]
    count: int

    def report(self) -> str:
        """Format the figures and the ratio."""
        raw, sdk = self.rates.get("raw", 0.0), self.rates.get("sdk", 0.0)
        ratio = f"{sdk / raw:.2f}x" if raw else "-"
        return (
            f"SDK overhead ({self.count:,} new-message events, one receiver process):\n"
            f"  raw python-socketio AsyncClient  {raw:>10,.0f} events/s\n"
            f"  AgentClient (typed, dispatched)  {sdk:>10,.0f} events/s\n"
            f"  AgentClient / raw = {ratio}   (target >= 0.85)"
        )


def run(count: int = 20000, rounds: int = 2) -> Result:
    """Measure both receivers ``rounds`` times, alternating, against one thin server."""
    ctx = mp.get_context("spawn")
    rates: dict[str, float] = {}
    with run_server("thin") as server:
        for _ in range(rounds):
            for kind in RECEIVERS:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=receiver, args=(server.url, kind, count, child))
                proc.start()
                try:
                    if not parent.poll(60):
                        raise TimeoutError(f"{kind} receiver did not connect")
                    parent.recv()
                    body = f'{{"count": {count}}}'.encode()
                    request = urllib.request.Request(
                        f"{server.url}/bench/burst",
                        data=body,
                        headers={"Content-Type": "application/json"},
                    )
                    with urllib.request.urlopen(request, timeout=120) as resp:
                        resp.read()
                    if not parent.poll(180):
                        raise TimeoutError(f"{kind} receiver did not finish")
                    times: list[float] = parent.recv()
                finally:
                    proc.join(30)
                    if proc.is_alive():
                        proc.kill()
                if len(times) > 1:
                    rate = (len(times) - 1) / (times[-1] - times[0])
                    rates[kind] = max(rates.get(kind, 0.0), rate)
    return Result(rates, count)
