"""The simulation engine: agents and customers on the public SDK, every delivery tracked."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from .. import (
    AgentClient,
    AgentMessageEvent,
    AgentTypingStatusEvent,
    ConnectionChange,
    ConnectionState,
    CustomerClient,
    CustomerTypingStatusEvent,
    Event,
    NewMessageEvent,
)
from .report import Report
from .tracker import GATING, KINDS, Tracker

__all__ = ["Scenario", "SimAgent", "SimConfig", "SimContext", "SimCustomer", "Simulation"]

logger = logging.getLogger("vilnius_client.sim")

#: A Python scenario: an async function that drives customers and agents through ``ctx``.
Scenario = Callable[["SimContext"], Awaitable[None]]

_TAG = re.compile(r"\[sim:([0-9a-z]+)\]")
CANNED = "Thanks for your message, an agent is looking into it."


@dataclass(frozen=True)
class SimConfig:
    """What to simulate (the command-line flags, as a value).

    Attributes:
        agents: Agent bots connected to the dashboard.
        customers: Customers, each with its own conversation.
        duration: Seconds to send for (ignored when ``messages`` is set).
        messages: Customer messages to send in total, spread over the customers.
        rate: Customer messages per second, all customers together.
        typing: Customers type before each message (and agents before each reply).
        churn: Share of customers (0-1) that disconnect once and come back (a widget
            reload: a new client resuming the conversation from its last seq).
        reply: What agents answer to each customer message: ``"echo"``, ``"canned"`` or
            ``"none"``. The agent that answers a conversation is fixed per conversation.
        drain_timeout: Seconds to wait, after sending stops, for outstanding deliveries.
        agent_key: The server's agent key (``auth="token"`` servers).
        seed: Random seed (customers' start offsets and churn moments).
        heartbeat_interval: Agents' heartbeat interval in seconds.
    """

    agents: int = 2
    customers: int = 10
    duration: float = 10.0
    messages: int | None = None
    rate: float = 10.0
    typing: bool = True
    churn: float = 0.0
    reply: Literal["echo", "canned", "none"] = "echo"
    drain_timeout: float = 15.0
    agent_key: str | None = None
    seed: int | None = None
    heartbeat_interval: float = 15.0

    def __post_init__(self) -> None:
        if self.agents < 1 and self.reply != "none":
            raise ValueError("agents must be >= 1 when agents reply")
        if self.agents < 0 or self.customers < 0:
            raise ValueError("agents and customers must be >= 0")
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        if not 0.0 <= self.churn <= 1.0:
            raise ValueError("churn must be between 0 and 1")
        if self.reply not in ("echo", "canned", "none"):
            raise ValueError("reply must be echo, canned or none")


class SimAgent:
    """A simulated agent: an :class:`~vilnius_client.AgentClient` whose receipts are tracked.

    Attributes:
        name: The agent id.
        client: The underlying SDK client (connected while the run lasts).
    """

    def __init__(self, ctx: SimContext, name: str, client: AgentClient) -> None:
        self.name = name
        self.client = client
        self._ctx = ctx

    async def reply(self, conversation_id: str, text: str) -> None:
        """Answer in ``conversation_id`` (tracked: ``new-message`` to every agent and
        ``agent-message`` to that conversation's customer)."""
        ctx = self._ctx
        customer = ctx.customer_of(conversation_id)
        if ctx.config.typing and customer is not None:
            await self.typing(conversation_id, True)
        tag = ctx.new_tag()
        now = ctx.clock()
        ctx.tracker.expect("new-message", tag, ctx.agent_names(), now)
        if customer is not None:
            ctx.tracker.expect("agent-message", tag, [customer.name], now)
        try:
            await self.client.respond(conversation_id, f"{text} [sim:{tag}]")
        except Exception as exc:
            ctx.send_failed(exc, "new-message", tag)
            if customer is not None:
                ctx.tracker.cancel("agent-message", tag)
        if ctx.config.typing and customer is not None:
            await self.typing(conversation_id, False)

    async def typing(self, conversation_id: str, is_typing: bool) -> None:
        """Send ``agent-typing`` (tracked as ``agent-typing-status`` at the customer)."""
        ctx = self._ctx
        customer = ctx.customer_of(conversation_id)
        key = None
        if customer is not None and customer.connected:
            # Only tracked when the customer can receive it: typing is never replayed.
            key = ctx.tracker.next_ordinal("agent-typing-status", "sender", conversation_id)
            ctx.tracker.expect("agent-typing-status", key, [customer.name], ctx.clock())
        try:
            await self.client.typing(conversation_id, is_typing)
        except Exception as exc:
            if key is None:
                ctx.note_error(f"agent-typing failed: {type(exc).__name__}: {exc}")
            else:
                ctx.send_failed(exc, "agent-typing-status", key)

    def _on_new_message(self, event: NewMessageEvent) -> None:
        ctx = self._ctx
        now = ctx.clock()
        match = _TAG.search(event.message.content)
        if match is None:
            return
        ctx.tracker.received("new-message", match.group(1), self.name, now)
        if (
            event.message.sender == "visitor"
            and ctx.config.reply != "none"
            and ctx.responder_of(event.conversation_id) is self
        ):
            text = (
                CANNED
                if ctx.config.reply == "canned"
                else "echo: " + _TAG.sub("", event.message.content).strip()
            )
            ctx.spawn(self.reply(event.conversation_id, text))

    def _on_customer_typing(self, event: CustomerTypingStatusEvent) -> None:
        ctx = self._ctx
        key = ctx.tracker.next_ordinal("customer-typing-status", self.name, event.conversation_id)
        ctx.tracker.received("customer-typing-status", key, self.name, ctx.clock())


class SimCustomer:
    """A simulated customer holding one conversation; survives :meth:`reload`.

    Attributes:
        name: The customer's name in the report (also its visitor id).
        client: The current SDK client (a new one after each :meth:`reload`).
    """

    def __init__(self, ctx: SimContext, name: str) -> None:
        self.name = name
        self._ctx = ctx
        self.client: CustomerClient | None = None
        self.conversation_id: str | None = None
        self.connected = False
        self._token: str | None = None

    async def start(self) -> None:
        """Connect and open the conversation (done by :meth:`SimContext.new_customer`)."""
        client = self._client(CustomerClient(self._ctx.url, visitor_id=self.name))
        await client.connect()
        self.client = client
        conversation = await client.start_conversation(metadata={"sim": True})
        self.conversation_id = conversation.id
        self._token = client.token
        self._ctx.register_conversation(self)

    async def say(self, text: str) -> None:
        """Send a message (tracked: ``new-message`` to every agent); with ``typing`` on,
        type before and stop after."""
        ctx = self._ctx
        assert self.client is not None, "start() first"
        if ctx.config.typing:
            await self.typing(True)
        tag = ctx.new_tag()
        ctx.tracker.expect("new-message", tag, ctx.agent_names(), ctx.clock())
        try:
            await self.client.send_message(f"{text} [sim:{tag}]")
        except Exception as exc:
            ctx.send_failed(exc, "new-message", tag)
        else:
            ctx.messages_sent += 1
        if ctx.config.typing:
            await self.typing(False)

    async def typing(self, is_typing: bool) -> None:
        """Send ``customer-typing`` when connected (typing is volatile: not queued)."""
        ctx = self._ctx
        if self.client is None or not self.connected or self.conversation_id is None:
            return
        key = ctx.tracker.next_ordinal("customer-typing-status", "sender", self.conversation_id)
        ctx.tracker.expect("customer-typing-status", key, ctx.agent_names(), ctx.clock())
        try:
            await self.client.typing(is_typing)
        except Exception as exc:
            ctx.send_failed(exc, "customer-typing-status", key)

    async def reload(self, downtime: float = 0.5) -> None:
        """Disconnect, stay away ``downtime`` seconds, come back with a new client that
        resumes the conversation from its last seq (what a widget reload does)."""
        old = self.client
        assert old is not None, "start() first"
        assert self.conversation_id is not None
        last_seq = old.last_seq
        self.client = None
        await old.close()
        self.connected = False
        self._ctx.reloads += 1
        await asyncio.sleep(downtime)
        client = self._client(
            CustomerClient(
                self._ctx.url,
                visitor_id=self.name,
                conversation_id=self.conversation_id,
                token=self._token,
                last_seq=last_seq,
            )
        )
        self._ctx.tracker.resync("agent-typing-status", self.name, self.conversation_id)
        await client.connect()
        self.client = client

    async def close(self) -> None:
        """Disconnect for good."""
        if self.client is not None:
            await self.client.close()
        self.connected = False

    def _client(self, client: CustomerClient) -> CustomerClient:
        ctx = self._ctx
        ctx.watch(client, self._set_connected)
        client.on(Event.AGENT_MESSAGE, self._on_agent_message)
        client.on(Event.AGENT_TYPING_STATUS, self._on_agent_typing)
        return client

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected

    def _on_agent_message(self, event: AgentMessageEvent) -> None:
        match = _TAG.search(event.message.content)
        if match is not None:
            self._ctx.tracker.received(
                "agent-message", match.group(1), self.name, self._ctx.clock()
            )

    def _on_agent_typing(self, event: AgentTypingStatusEvent) -> None:
        ctx = self._ctx
        if self.conversation_id is None:
            return
        key = ctx.tracker.next_ordinal("agent-typing-status", self.name, self.conversation_id)
        ctx.tracker.received("agent-typing-status", key, self.name, ctx.clock())


class SimContext:
    """What a scenario gets: the server, the agents, and tracked customers.

    Attributes:
        url: The server's URL.
        config: The run's :class:`SimConfig`.
        agents: The connected agents (``config.agents`` of them, answering per
            ``config.reply``).
        customers: Every customer created so far.
        tracker: The delivery bookkeeping.
        random: The run's seeded random generator.
    """

    def __init__(self, url: str, config: SimConfig) -> None:
        self.url = url
        self.config = config
        self.clock: Callable[[], float] = time.monotonic
        self.start = self.clock()
        self.tracker = Tracker(self.start)
        self.random = random.Random(config.seed)
        self.agents: list[SimAgent] = []
        self.customers: list[SimCustomer] = []
        self.messages_sent = 0
        self.reconnects = 0
        self.reloads = 0
        self.client_errors = 0
        self.error_samples: list[str] = []
        self.connected_clients = 0
        self.started_clients = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._conversations: dict[str, SimCustomer] = {}
        self._tags = itertools.count(1)
        self._agent_names: tuple[str, ...] = ()

    # -- for scenarios ------------------------------------------------------

    async def new_customer(self, name: str | None = None) -> SimCustomer:
        """A connected customer with a new conversation (named ``customer-<n>`` by default)."""
        customer = SimCustomer(self, name or f"sim-customer-{len(self.customers) + 1}")
        self.customers.append(customer)
        await customer.start()
        return customer

    def remaining(self) -> float:
        """Seconds left of ``config.duration`` since the run started (may be negative)."""
        return self.start + self.config.duration - self.clock()

    async def settle(self, within: float | None = None, *, kinds: Iterable[str] = GATING) -> bool:
        """Wait until every tracked message has arrived (and been answered).

        Args:
            within: Seconds to wait at most (default: ``config.drain_timeout``).
            kinds: Event types to wait for (default: the messages, not typing).

        Returns:
            False when something was still missing after ``within`` seconds.
        """
        deadline = self.clock() + (self.config.drain_timeout if within is None else within)
        while self.clock() < deadline:
            if not self._tasks and self.tracker.pending(kinds) == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    # -- plumbing -----------------------------------------------------------

    def new_tag(self) -> str:
        """A unique tag identifying one tracked message."""
        return f"{next(self._tags):x}"

    def agent_names(self) -> tuple[str, ...]:
        """Names of the agents that should receive dashboard events."""
        return self._agent_names

    def customer_of(self, conversation_id: str) -> SimCustomer | None:
        """The simulated customer owning ``conversation_id``, if any."""
        return self._conversations.get(conversation_id)

    def responder_of(self, conversation_id: str) -> SimAgent | None:
        """The agent that answers ``conversation_id`` (stable per conversation)."""
        if not self.agents:
            return None
        return self.agents[zlib.crc32(conversation_id.encode()) % len(self.agents)]

    def register_conversation(self, customer: SimCustomer) -> None:
        """Route events of ``customer``'s conversation to it."""
        assert customer.conversation_id is not None
        self._conversations[customer.conversation_id] = customer

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run ``coro`` in the background; :meth:`settle` waits for it."""

        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send_failed(self, exc: BaseException, kind: str, key: str) -> None:
        """Count a failed send of ``kind``; it stops being expected."""
        self.tracker.cancel(kind, key)
        self.note_error(f"{kind} send failed: {type(exc).__name__}: {exc}")

    def watch(self, client: AgentClient | CustomerClient, flag: Callable[[bool], None]) -> None:
        """Count ``client``'s connection and reconnects, report its errors."""
        self.started_clients += 1
        state = {"connected": False}

        def on_change(change: ConnectionChange) -> None:
            now_connected = change.new == ConnectionState.CONNECTED
            if now_connected != state["connected"]:
                self.connected_clients += 1 if now_connected else -1
                state["connected"] = now_connected
                flag(now_connected)
            if change.new == ConnectionState.RECONNECTING:
                self.reconnects += 1

        client.on_connection_change(on_change)
        client.on_error(lambda exc: self.note_error(f"{type(exc).__name__}: {exc}"))

    def note_error(self, text: str) -> None:
        """Count a client error and keep its text (the first 20) for the report."""
        self.client_errors += 1
        if len(self.error_samples) < 20:
            self.error_samples.append(text)
        logger.debug("sim error: %s", text)

    async def _start_agents(self) -> None:
        names = [f"sim-agent-{i + 1}" for i in range(self.config.agents)]
        for name in names:
            client = AgentClient(
                self.url,
                agent_id=name,
                agent_key=self.config.agent_key,
                heartbeat_interval=self.config.heartbeat_interval,
            )
            agent = SimAgent(self, name, client)
            self.watch(client, lambda _connected: None)
            client.on(Event.NEW_MESSAGE, agent._on_new_message)
            client.on(Event.CUSTOMER_TYPING_STATUS, agent._on_customer_typing)
            self.agents.append(agent)
        await asyncio.gather(*(agent.client.connect() for agent in self.agents))
        self._agent_names = tuple(names)

    async def _close_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(c.close() for c in self.customers),
            *(a.client.close() for a in self.agents),
            return_exceptions=True,
        )


async def default_scenario(ctx: SimContext) -> None:
    """The flag-driven flow: every customer opens a conversation and sends at its share of
    ``rate``; churned customers reload once mid-run; agents answer each message."""
    cfg = ctx.config
    if cfg.customers == 0:
        return
    opening = asyncio.Semaphore(50)  # don't open hundreds of conversations in one burst

    async def open_one() -> None:
        async with opening:
            await ctx.new_customer()

    await asyncio.gather(*(open_one() for _ in range(cfg.customers)))
    # Per-customer message budgets (count mode) or a deadline (duration mode).
    budgets: list[int | None]
    if cfg.messages is not None:
        share, extra = divmod(cfg.messages, cfg.customers)
        budgets = [share + (1 if i < extra else 0) for i in range(cfg.customers)]
        span = cfg.messages / cfg.rate
    else:
        budgets = [None] * cfg.customers
        span = cfg.duration
    interval = cfg.customers / cfg.rate
    churners = set(ctx.random.sample(range(cfg.customers), round(cfg.churn * cfg.customers)))
    t0 = ctx.clock()
    deadline = t0 + span

    async def run_customer(index: int, customer: SimCustomer) -> None:
        budget = budgets[index]
        reload_at = t0 + ctx.random.uniform(0.2, 0.6) * span if index in churners else None
        next_send = t0 + ctx.random.uniform(0, interval)
        sent = 0
        while budget is None or sent < budget:
            now = ctx.clock()
            if budget is None and next_send >= deadline:
                break
            if reload_at is not None and now >= reload_at:
                reload_at = None
                await customer.reload(downtime=ctx.random.uniform(0.2, 0.8))
                continue
            if next_send > now:
                await asyncio.sleep(next_send - now)
                continue
            sent += 1
            await customer.say(f"hello from {customer.name}, message {sent}")
            next_send += interval
        if reload_at is not None:  # a short run: still reload once before the end
            await customer.reload(downtime=0.2)

    await asyncio.gather(*(run_customer(i, c) for i, c in enumerate(ctx.customers)))


class Simulation:
    """Runs a scenario against a server and reports every delivery.

    Args:
        url: The server's URL.
        config: What to simulate.
        scenario: A Python scenario (``async def scenario(ctx: SimContext)``); the flag-driven
            :func:`default_scenario` when ``None``.
        progress: Called about twice a second with a one-line status while the run lasts.

    Example::

        async def flow(ctx: SimContext) -> None:
            customer = await ctx.new_customer()
            await customer.say("where is my parcel?")
            await customer.reload()
            await customer.say("still there?")

        report = await Simulation(url, SimConfig(agents=2), scenario=flow).run()
        assert report.ok
    """

    def __init__(
        self,
        url: str,
        config: SimConfig,
        *,
        scenario: Scenario | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.config = config
        self.scenario = scenario or default_scenario
        self.progress = progress
        self.context = SimContext(url, config)

    def status_line(self) -> str:
        """The live one-line status."""
        ctx = self.context
        delivered = sum(s.delivered for s in ctx.tracker.stats.values())
        expected = sum(s.expected for s in ctx.tracker.stats.values())
        errors = ctx.client_errors
        return (
            f"{ctx.clock() - ctx.start:6.1f}s  connected {ctx.connected_clients}"
            f"  sent {ctx.messages_sent}  delivered {delivered}/{expected}"
            f"  errors {errors}  reconnects {ctx.reconnects + ctx.reloads}"
        )

    async def run(self) -> Report:
        """Connect the agents, run the scenario, wait for the deliveries, and report."""
        ctx = self.context
        ticker = asyncio.create_task(self._tick()) if self.progress else None
        drained = False
        try:
            await ctx._start_agents()
            ctx.start = ctx.tracker.start = ctx.clock()
            await self.scenario(ctx)
            drained = await ctx.settle()
            if drained:
                # Typing indicators are volatile: give the last ones a moment, not the drain.
                await ctx.settle(1.0, kinds=KINDS)
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            duration = ctx.clock() - ctx.start
            await ctx._close_all()
        settings = asdict(self.config)
        settings.pop("agent_key", None)
        return Report.build(
            ctx.tracker,
            url=self.url,
            settings=settings,
            duration=duration,
            clients=ctx.started_clients,
            reconnects=ctx.reconnects,
            reloads=ctx.reloads,
            drained=drained,
            errors=ctx.client_errors,
            error_samples=ctx.error_samples,
        )

    async def _tick(self) -> None:
        assert self.progress is not None
        while True:
            self.progress(self.status_line())
            await asyncio.sleep(0.5)
