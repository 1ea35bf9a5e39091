"""Fleet: what a `RedisFleet` adds to each message, and what 3 replicas handle against 1.

**Added latency.** Two bots in one process, in the agents' room of one reference server,
receive the same customer messages (posted at a steady rate, each to one of many
conversations): one alone, one the only replica of a fleet (a real ``redis-server`` on
loopback). Per message of the fleet's bot, what the fleet adds is

* the *claim*: the time the gate held the message before the handlers got it (the lease of
  a conversation met for the first time is taken in Redis: each conversation starts with
  the customer's first message here; an owned one passes at once);
* the *mark*: from the end of its handler to the moment Redis stored the conversation's
  new position (batched with the others due meanwhile).

Both are reported (p50/p99) with their sum, and beside them the latency from the customer's
``POST`` to the handler of each bot, measured in the same run.

**Throughput.** Replicas as processes (``vilnius-bot run`` with ``--fleet``), whose handler
burns ``--work-ms`` of CPU per message before replying: the customers post a burst, and the
rate is the messages answered over the time from the first post to the last reply, for 1
replica, then 3. On two cores (shared with the server and the customers) 3 replicas cannot
triple it: the figure says what a fleet buys on the machine at hand.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.server_process import ServerProcess, free_port
from tests.fleet.harness import Fleet
from tests.fleet.redis_process import RedisProcess
from vilnius_client import AgentClient, Event, NewMessageEvent, RestClient, Sender
from vilnius_client.fleet import RedisFleet

from ._stats import fmt_ms, fmt_rate, percentile, ratio


@dataclass
class Latency:
    """Seconds per message (see the module docstring)."""

    claim: list[float] = field(default_factory=list)
    mark: list[float] = field(default_factory=list)
    added: list[float] = field(default_factory=list)
    alone: list[float] = field(default_factory=list)
    fleet: list[float] = field(default_factory=list)

    def report(self) -> str:
        def row(name: str, values: list[float]) -> str:
            p50, p99 = percentile(values, 50), percentile(values, 99)
            return f"| {name} | {len(values):,} | {fmt_ms(p50)} | {fmt_ms(p99)} |"

        return "\n".join(
            [
                "fleet: added latency per message (ms)",
                "| measure | messages | p50 | p99 |",
                "|---|---:|---:|---:|",
                row("claim (gate hold)", self.claim),
                row("mark (handler end -> position stored)", self.mark),
                row("**claim + mark**", self.added),
                row("POST -> handler, bot alone", self.alone),
                row("POST -> handler, fleet's bot", self.fleet),
            ]
        )


@dataclass
class Throughput:
    """Messages answered per second by each number of replicas."""

    work_ms: float
    rates: dict[int, float] = field(default_factory=dict)

    def report(self) -> str:
        lines = [
            f"fleet: messages answered per second, handler burning {self.work_ms:g} ms of CPU",
            "| replicas | messages/s | vs 1 |",
            "|---:|---:|---:|",
        ]
        one = self.rates.get(1, float("nan"))
        for count, rate in sorted(self.rates.items()):
            lines.append(f"| {count} | {fmt_rate(rate)} | {ratio(rate, one)} |")
        return "\n".join(lines)


class _Probe:
    """Times the fleet's gate (entry -> handed on) and its marks (settled -> stored)."""

    def __init__(self, client: AgentClient, fleet: RedisFleet, result: Latency) -> None:
        self.result = result
        self.entered: dict[str, float] = {}
        self.held: dict[str, float] = {}  # message -> seconds the gate held it
        self.settled: dict[str, tuple[str, float]] = {}  # message -> (conversation, handled)
        self.batches: list[tuple[float, float, set[str]]] = []  # (taken, stored, conversations)
        recovery = client._recovery
        gate = recovery.sink
        outer = self

        class Entry:
            def submit(self, event: str, model: Any, settle: Any = None) -> None:
                if settle is not None:
                    outer.entered[model.message.id] = time.perf_counter()
                gate.submit(event, model, settle)

        class Handed:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def submit(self, event: str, model: Any, settle: Any = None) -> None:
                if settle is None:
                    self.inner.submit(event, model, settle)
                    return
                now = time.perf_counter()
                message = model.message.id
                entered = outer.entered.pop(message, None)
                if entered is not None:
                    outer.held[message] = now - entered
                conversation = model.conversation_id

                def settled(handled: bool) -> None:
                    outer.settled[message] = (conversation, time.perf_counter())
                    settle(handled)

                self.inner.submit(event, model, settled)

        gate.inner = Handed(gate.inner)  # type: ignore[attr-defined]
        recovery.sink = Entry()
        self._fleet = fleet

    def wrap_store(self) -> None:
        """Time the position writes (the store exists once the client connected)."""
        store = self._fleet._store
        assert store is not None
        mark: Callable[[Any], Awaitable[None]] = store.mark

        async def timed(batch: Any) -> None:
            taken = time.perf_counter()
            await mark(batch)
            self.batches.append((taken, time.perf_counter(), set(batch)))

        store.mark = timed  # type: ignore[method-assign]

    def finish(self) -> None:
        """Pair each handled message with the first write of its conversation after it."""
        for message, (conversation, handled) in self.settled.items():
            held = self.held.get(message)
            stored = next(
                (
                    done
                    for taken, done, batch in self.batches
                    if taken >= handled and conversation in batch
                ),
                None,
            )
            if held is None or stored is None:
                continue
            self.result.claim.append(held)
            self.result.mark.append(stored - handled)
            self.result.added.append(held + stored - handled)


async def _latency(
    server_url: str, redis_url: str, conversations: int, messages: int, rate: float
) -> Latency:
    result = Latency()
    fleet = RedisFleet(redis_url, group=f"bench-{uuid.uuid4().hex[:8]}")
    alone = AgentClient(server_url, agent_id="bench-alone")
    member = AgentClient(server_url, agent_id="bench-fleet", fleet=fleet)
    probe = _Probe(member, fleet, result)
    sent: dict[str, float] = {}
    done = asyncio.Event()
    wanted = conversations * messages

    def timer(into: list[float]) -> Callable[[NewMessageEvent], None]:
        def handler(event: NewMessageEvent) -> None:
            if event.message.sender is Sender.VISITOR:
                into.append(time.perf_counter() - sent[event.message.content])
                if len(result.alone) >= wanted and len(result.fleet) >= wanted:
                    done.set()

        return handler

    alone.on(Event.NEW_MESSAGE, timer(result.alone))
    member.on(Event.NEW_MESSAGE, timer(result.fleet))
    async with alone, member, RestClient(server_url) as customers:
        probe.wrap_store()
        # Conversations made by their first message: its event waits for the claim.
        created = [f"conv-bench-{uuid.uuid4().hex}" for _ in range(conversations)]
        interval = 1 / rate
        started = time.perf_counter()
        for number in range(wanted):
            conversation = created[number % conversations]
            text = f"m{number}"
            await asyncio.sleep(max(0.0, started + number * interval - time.perf_counter()))
            sent[text] = time.perf_counter()
            await customers.post_message(conversation, text)
        await asyncio.wait_for(done.wait(), 60)
        await asyncio.sleep(0.5)  # the last positions are stored
    probe.finish()
    return result


async def _throughput(
    server_url: str,
    redis_url: str,
    replicas: int,
    work_ms: float,
    conversations: int,
    messages: int,
) -> float:
    with tempfile.TemporaryDirectory() as directory:
        fleet = Fleet(
            Path(directory),
            profile="vilnius",
            server_url=server_url,
            redis_url=redis_url,
            group=f"bench-{uuid.uuid4().hex[:8]}",
            ttl=10.0,
        )
        try:
            await fleet.start(replicas, FLEET_WORK_MS=str(work_ms))
            await fleet.converse(conversations, messages, gap=(0.0, 0.0), spread=0.0)
            await fleet.until_answered(300)
            first = min(sent.at for sent in fleet.sent)
            last = max(float(line["t"]) for line in fleet.lines() if line["phase"] == "done")
            return len(fleet.sent) / (last - first)
        finally:
            await fleet.close()


@dataclass
class Result:
    """Both parts."""

    latency: Latency
    throughput: Throughput

    def report(self) -> str:
        return f"{self.latency.report()}\n\n{self.throughput.report()}"


async def _run(
    conversations: int, messages: int, rate: float, work_ms: float, burst: int
) -> Result:
    with tempfile.TemporaryDirectory() as directory:
        redis = RedisProcess(Path(directory))
        redis.start()
        server = ServerProcess(
            port=free_port(), db=Path(directory) / "chat.db", log_path=Path(directory) / "log"
        )
        try:
            await server.start()
            latency = await _latency(server.url, redis.url, conversations, messages, rate)
            throughput = Throughput(work_ms)
            for count in (1, 3):
                throughput.rates[count] = await _throughput(
                    server.url, redis.url, count, work_ms, burst // 10, 10
                )
            return Result(latency, throughput)
        finally:
            await server.close()
            redis.kill()


def run(
    *,
    conversations: int = 100,
    messages: int = 10,
    rate: float = 100.0,
    work_ms: float = 10.0,
    burst: int = 1000,
) -> Result:
    """Run both parts (a minute or two)."""
    return asyncio.run(_run(conversations, messages, rate, work_ms, burst))
