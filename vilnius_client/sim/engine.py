"""The simulation engine: agents and customers on the public SDK, every delivery tracked."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

import aiohttp

from .. import (
    AgentClient,
    AgentMessageEvent,
    AgentSentMessageEvent,
    AgentTypingStatusEvent,
    ConnectionChange,
    ConnectionState,
    CustomerClient,
    CustomerTypingStatusEvent,
    Event,
    NewMessageEvent,
    RateLimitedError,
    TransportError,
)
from .report import Report, TimePoint, counts_line
from .throttle import Throttling
from .tracker import GATING, KINDS, Tracker

__all__ = [
    "Scenario",
    "ServerUnreachableError",
    "SimAgent",
    "SimConfig",
    "SimContext",
    "SimCustomer",
    "Simulation",
]

T = TypeVar("T")

logger = logging.getLogger("vilnius_client.sim")

#: A Python scenario: an async function that drives customers and agents through ``ctx``.
Scenario = Callable[["SimContext"], Awaitable[None]]

_TAG = re.compile(r"\[sim:([0-9a-z]+)\]")
CANNED = "Thanks for your message, an agent is looking into it."

#: Seconds between two points of the time series (and two live status lines).
SAMPLE_INTERVAL = 1.0
#: Seconds a scenario gets to return by itself once the run is stopped, before it is cancelled.
STOP_GRACE = 1.0


class ServerUnreachableError(TransportError):
    """The agents could not connect within ``SimConfig.connect_timeout``.

    Attributes:
        url: The server's URL.
        timeout: The connect timeout, in seconds.
        cause: What went wrong, as precisely as known (refused, no answer, name unknown...).
    """

    def __init__(self, url: str, timeout: float, cause: str) -> None:
        super().__init__(f"cannot reach {url} within {timeout:g} s: {cause}")
        self.url = url
        self.timeout = timeout
        self.cause = cause


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
        email: An agent user's e-mail, on a server where agents log in (production):
            every simulated agent logs in as this user (with ``password``).
        password: The agent user's password (never in the report).
        seed: Random seed (customers' start offsets and churn moments).
        heartbeat_interval: Agents' heartbeat interval in seconds.
        spawn_rate: Customers connected per second (the ramp-up); each starts sending once
            connected. None: connect them all first (50 at a time), then send. Deliveries of
            messages sent before the last customer connected are left out of the latency
            figures.
        connect_timeout: Seconds each client may take to connect (retrying meanwhile). Agents
            that cannot connect in time end the run with `ServerUnreachableError`; a customer
            that cannot is a client error.
        max_p99_ms: Fail the run when the messages' p99 latency is above this (milliseconds).
        max_error_rate: Fail the run when client errors per tracked send are above this
            (default 0: any client error fails the run).
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
    email: str | None = None
    password: str | None = field(default=None, repr=False)
    seed: int | None = None
    heartbeat_interval: float = 15.0
    spawn_rate: float | None = None
    connect_timeout: float = 10.0
    max_p99_ms: float | None = None
    max_error_rate: float = 0.0

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
        if self.spawn_rate is not None and self.spawn_rate <= 0:
            raise ValueError("spawn rate must be > 0")
        if self.connect_timeout <= 0:
            raise ValueError("connect timeout must be > 0")
        if self.max_p99_ms is not None and self.max_p99_ms <= 0:
            raise ValueError("max p99 must be > 0 ms")
        if self.max_error_rate < 0:
            raise ValueError("max error rate must be >= 0")
        if self.messages is not None and self.messages < 0:
            raise ValueError("messages must be >= 0")
        if (self.email is None) != (self.password is None):
            raise ValueError("an agent login needs both an e-mail and a password")


class SimAgent:
    """A simulated agent: an [AgentClient][vilnius_client.AgentClient] whose receipts are tracked.

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

    def _on_agent_sent(self, event: AgentSentMessageEvent) -> None:
        """Production tells the agents of a reply with ``agent-sent-message`` (no
        ``new-message``): the same receipt."""
        match = _TAG.search(event.message.content)
        if match is not None:
            self._ctx.tracker.received("new-message", match.group(1), self.name, self._ctx.clock())

    def _on_customer_typing(self, event: CustomerTypingStatusEvent) -> None:
        ctx = self._ctx
        key = ctx.tracker.next_ordinal("customer-typing-status", self.name, event.conversation_id)
        ctx.tracker.received("customer-typing-status", key, self.name, ctx.clock())


class SimCustomer:
    """A simulated customer holding one conversation; survives `reload` (a widget reload).

    Attributes:
        name: The customer's name in the report (also its visitor id).
        client: The current SDK client (a new one after each `reload`).
    """

    def __init__(self, ctx: SimContext, name: str) -> None:
        self.name = name
        self._ctx = ctx
        self.client: CustomerClient | None = None
        self.conversation_id: str | None = None
        self.connected = False
        self._token: str | None = None

    async def start(self) -> None:
        """Connect and open the conversation (done by
        [SimContext.new_customer][vilnius_client.sim.SimContext.new_customer])."""
        client = self._client(CustomerClient(self._ctx.url, visitor_id=self.name))
        await self._ctx.connect(client, self.name)
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
        now = ctx.clock()
        ctx.tracker.expect("new-message", tag, ctx.agent_names(), now)
        ctx.throttling.sent(now)
        try:
            await self.client.send_message(f"{text} [sim:{tag}]")
        except RateLimitedError:
            ctx.tracker.cancel("new-message", tag)
            ctx.throttling.refused += 1
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
        last_seq, last_message_at = old.last_seq, old.last_message_at
        self.client = None
        await old.disconnect()
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
                last_message_at=last_message_at,
            )
        )
        self._ctx.tracker.resync("agent-typing-status", self.name, self.conversation_id)
        await self._ctx.connect(client, self.name)
        self.client = client

    async def close(self) -> None:
        """Disconnect for good."""
        if self.client is not None:
            await self.client.disconnect()
        self.connected = False

    def _client(self, client: CustomerClient) -> CustomerClient:
        ctx = self._ctx
        ctx.watch(client, self._set_connected)
        client.rest.on_retry = ctx.retried
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
        config: The run's [SimConfig][vilnius_client.sim.SimConfig].
        agents: The connected agents (``config.agents`` of them, answering per
            ``config.reply``).
        customers: Every customer created so far.
        tracker: The delivery bookkeeping.
        random: The run's seeded random generator.
        send_started: When sending started (clock value): the scenario's start, or the end
            of the ramp-up when nobody sends during it. Throughput is counted from there.
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
        self.throttling = Throttling()
        self.connected_clients = 0
        self.started_clients = 0
        self.ramp_seconds = 0.0
        self.send_started: float | None = None
        self.last_connect_error: str | None = None
        self._ramp_start: float | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._conversations: dict[str, SimCustomer] = {}
        self._tags = itertools.count(1)
        self._agent_names: tuple[str, ...] = ()

    # -- for scenarios ------------------------------------------------------

    async def new_customer(self, name: str | None = None) -> SimCustomer:
        """A connected customer with a new conversation (named ``sim-customer-<n>`` by default).

        Raises:
            TimeoutError: It could not connect within ``config.connect_timeout``.
        """
        customer = SimCustomer(self, name or f"sim-customer-{len(self.customers) + 1}")
        self.customers.append(customer)
        await customer.start()
        return customer

    def remaining(self) -> float:
        """Seconds left of ``config.duration`` since the run started (may be negative)."""
        return self.start + self.config.duration - self.clock()

    @property
    def stopping(self) -> bool:
        """True once the run was asked to stop (Ctrl-C,
        [Simulation.stop][vilnius_client.sim.Simulation.stop]): send no more, return."""
        return self._stopping.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less when the run is stopped meanwhile.

        Returns:
            False when the run is stopping (the scenario should return).
        """
        if self._stopping.is_set():
            return False
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await self._stopping.wait()
        except TimeoutError:
            return True
        return False

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

    def start_ramp_up(self) -> None:
        """Mark the start of a ramp-up: until
        [end_ramp_up][vilnius_client.sim.SimContext.end_ramp_up], sends are warm-up (their
        deliveries count, their latencies stay out of the figures)."""
        self._ramp_start = self.clock()
        self.tracker.warmup_until = math.inf

    def end_ramp_up(self) -> None:
        """Mark the end of the ramp-up: sends from now on are measured."""
        now = self.clock()
        if self._ramp_start is not None:
            self.ramp_seconds = now - self._ramp_start
        self.tracker.warmup_until = now

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
        """Run ``coro`` in the background; [settle][vilnius_client.sim.SimContext.settle]
        waits for it."""

        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send_failed(self, exc: BaseException, kind: str, key: str) -> None:
        """Count a failed send of ``kind``; it stops being expected."""
        self.tracker.cancel(kind, key)
        self.note_error(f"{kind} send failed: {type(exc).__name__}: {exc}")

    async def connect(self, client: AgentClient | CustomerClient, name: str) -> None:
        """Connect ``client`` within ``config.connect_timeout``; close it when that fails.

        Raises:
            TimeoutError: It did not connect in time (the last attempt's error is in the
                message).
        """
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await client.connect()
        except TimeoutError:
            await client.disconnect()
            cause = self.last_connect_error or "no answer"
            raise TimeoutError(
                f"{name} could not connect within {self.config.connect_timeout:g} s: {cause}"
            ) from None
        except BaseException:
            await client.disconnect()
            raise

    def watch(self, client: AgentClient | CustomerClient, flag: Callable[[bool], None]) -> None:
        """Count ``client``'s connection and reconnects, report its errors.

        Failed attempts before the client's first connection are retried (up to
        ``config.connect_timeout``) and not counted as errors; the last one is kept in
        ``last_connect_error`` to explain a timeout.
        """
        self.started_clients += 1
        state = {"connected": False, "ever": False}

        def on_change(change: ConnectionChange) -> None:
            now_connected = change.new == ConnectionState.CONNECTED
            if now_connected != state["connected"]:
                self.connected_clients += 1 if now_connected else -1
                state["connected"] = now_connected
                state["ever"] = state["ever"] or now_connected
                flag(now_connected)
            if change.new == ConnectionState.RECONNECTING:
                self.reconnects += 1

        def on_error(exc: BaseException) -> None:
            text = f"{type(exc).__name__}: {exc}"
            if state["ever"]:
                self.note_error(text)
            else:
                self.last_connect_error = text

        client.on_connection_change(on_change)
        client.on_error(on_error)

    def retried(self, error: BaseException, wait: float) -> None:
        """A customer's REST call is retried: a 429 waited out counts as throttling."""
        if isinstance(error, RateLimitedError):
            self.throttling.waited(wait)

    def note_error(self, text: str) -> None:
        """Count a client error and keep its text (the first 20) for the report."""
        self.client_errors += 1
        if len(self.error_samples) < 20:
            self.error_samples.append(text)
        logger.debug("sim error: %s", text)

    async def _start_agents(self) -> None:
        names = [f"sim-agent-{i + 1}" for i in range(self.config.agents)]
        config = self.config
        for name in names:
            if config.email is not None and config.password is not None:
                # Production: agents are users; every simulated agent is this one.
                client = AgentClient(
                    self.url,
                    email=config.email,
                    password=config.password,
                    heartbeat_interval=config.heartbeat_interval,
                )
            else:
                client = AgentClient(
                    self.url,
                    agent_id=name,
                    agent_key=config.agent_key,
                    heartbeat_interval=config.heartbeat_interval,
                )
            agent = SimAgent(self, name, client)
            self.watch(client, lambda _connected: None)
            client.on(Event.NEW_MESSAGE, agent._on_new_message)
            client.on(Event.AGENT_SENT_MESSAGE, agent._on_agent_sent)
            client.on(Event.CUSTOMER_TYPING_STATUS, agent._on_customer_typing)
            self.agents.append(agent)
        connecting = [asyncio.ensure_future(agent.client.connect()) for agent in self.agents]
        try:
            await asyncio.gather(*connecting)
        except BaseException:  # one refused (or time is up): the others stop trying too
            for task in connecting:
                task.cancel()
            await asyncio.gather(*connecting, return_exceptions=True)
            raise
        self._agent_names = tuple(names)

    async def _close_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(c.close() for c in self.customers),
            *(a.client.disconnect() for a in self.agents),
            return_exceptions=True,
        )


async def default_scenario(ctx: SimContext) -> None:
    """The flag-driven flow: customers connect (all at once, or ``spawn_rate`` a second) and
    each sends at its share of ``rate``; churned customers reload once; agents answer each
    message. Stops sending as soon as the run is stopped."""
    cfg = ctx.config
    if cfg.customers == 0:
        return
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
    opening = asyncio.Semaphore(50)  # don't open hundreds of conversations in one burst
    ctx.start_ramp_up()
    ramp_start = ctx.clock()
    ramped = asyncio.Event()
    # Duration mode: with a spawn rate the ramp-up is part of the duration (as in Locust);
    # without one, sending starts once everybody is connected.
    deadline = ramp_start + span

    async def open_customer(index: int) -> SimCustomer | None:
        if cfg.spawn_rate is not None and not await ctx.sleep(
            ramp_start + index / cfg.spawn_rate - ctx.clock()
        ):
            return None
        async with opening:
            if ctx.stopping:
                return None
            try:
                return await ctx.new_customer()
            except Exception as exc:
                ctx.note_error(f"a customer could not start: {type(exc).__name__}: {exc}")
                return None

    async def run_customer(index: int, customer: SimCustomer) -> None:
        start = ctx.clock()
        budget = budgets[index]
        reload_at = start + ctx.random.uniform(0.2, 0.6) * span if index in churners else None
        next_send = start + ctx.random.uniform(0, interval)
        sent = 0
        while (budget is None or sent < budget) and not ctx.stopping:
            now = ctx.clock()
            if budget is None and next_send >= deadline:
                break
            if reload_at is not None and now >= reload_at:
                reload_at = None
                if not await _reload(customer, ctx.random.uniform(0.2, 0.8)):
                    return
                continue
            if next_send > now:
                await ctx.sleep(next_send - now)
                continue
            sent += 1
            await customer.say(f"hello from {customer.name}, message {sent}")
            next_send += interval
        if reload_at is not None and not ctx.stopping:  # a short run: still reload once
            await _reload(customer, 0.2)

    async def _reload(customer: SimCustomer, downtime: float) -> bool:
        try:
            await customer.reload(downtime=downtime)
        except Exception as exc:
            ctx.note_error(f"{customer.name} could not come back: {type(exc).__name__}: {exc}")
            return False
        return True

    opens = [asyncio.ensure_future(open_customer(i)) for i in range(cfg.customers)]

    async def life(index: int) -> None:
        customer = await opens[index]
        if customer is None:
            return
        if cfg.spawn_rate is None:
            await ramped.wait()
        await run_customer(index, customer)

    lives = asyncio.gather(*(life(i) for i in range(cfg.customers)))
    try:
        await asyncio.gather(*opens)
        ctx.end_ramp_up()
        if cfg.spawn_rate is None:  # nobody sent during the ramp-up: sending starts now
            ctx.send_started = ctx.clock()
            deadline = ctx.send_started + span
        ramped.set()
        await lives
    finally:
        lives.cancel()
        for task in opens:
            task.cancel()


class Simulation:
    """Runs a scenario against a server and reports every delivery.

    Args:
        url: The server's URL.
        config: What to simulate.
        scenario: A Python scenario (``async def scenario(ctx: SimContext)``); the flag-driven
            default scenario when ``None``.
        progress: Called once a second with a one-line status while the run lasts.

    Example:
        ```python
        async def flow(ctx: SimContext) -> None:
            customer = await ctx.new_customer()
            await customer.say("where is my parcel?")
            await customer.reload()
            await customer.say("still there?")

        report = await Simulation(url, SimConfig(agents=2), scenario=flow).run()
        assert report.ok
        ```
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
        self.phase: Literal["starting", "sending", "draining", "done"] = "starting"
        self.interrupted = False
        self._abort = asyncio.Event()
        self._series: list[TimePoint] = []
        self._send_end: float | None = None
        self._probe_cause: str | None = None
        self._probe_ok = False

    def stop(self) -> None:
        """Stop the run early (what Ctrl-C does); the report is then marked interrupted.

        While connecting or sending: no more sends (the scenario is asked to return, then
        cancelled after a second), then the final wait for what is in flight. During the
        final wait (or when called again): stop waiting and report now. Call it from the
        event loop's thread.
        """
        self.interrupted = True
        if self.phase in ("starting", "sending") and not self.context.stopping:
            self.context._stopping.set()
        else:
            self._abort.set()

    def status_line(self) -> str:
        """The live one-line status (the same counters, in the same words, as the report)."""
        ctx = self.context
        now = ctx.clock()
        if self.phase == "starting":
            return (
                f"{now - ctx.start:6.1f}s  connecting to {self.url}"
                f"  ({ctx.connected_clients}/{self.config.agents} agents connected)"
            )
        stats = ctx.tracker.stats
        sent = stats["new-message"].sent
        return f"{now - ctx.start:6.1f}s  connected {ctx.connected_clients}  " + counts_line(
            sent=sent,
            per_second=sent / self._send_seconds(now) if self._send_seconds(now) > 0 else 0.0,
            delivered=sum(stats[k].delivered for k in KINDS if k in GATING),
            expected=sum(stats[k].expected for k in KINDS if k in GATING),
            errors=ctx.client_errors,
            reconnects=ctx.reconnects,
            reloads=ctx.reloads,
        )

    async def run(self) -> Report:
        """Connect the agents, run the scenario, wait for the deliveries, and report.

        Raises:
            ServerUnreachableError: The agents could not connect within
                ``config.connect_timeout``.
            AuthError: The server refused the agents' credentials.
        """
        ctx = self.context
        monitor = asyncio.create_task(self._monitor())
        drained = True
        try:
            started = await self._start()
            ctx.start = ctx.tracker.start = ctx.clock()
            if started:
                self.phase = "sending"
                await self._send()
                self.phase = "draining"
                finished, settled = await _unless(ctx.settle(), self._abort)
                drained = finished and bool(settled)
                if drained:
                    # Typing indicators are volatile: give the last ones a moment, not the drain.
                    await _unless(ctx.settle(1.0, kinds=KINDS), self._abort)
        finally:
            self.phase = "done"
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            duration = ctx.clock() - ctx.start
            await ctx._close_all()
        self._sample(duration)
        settings = asdict(self.config)
        settings.pop("agent_key", None)
        settings.pop("password", None)
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
            ramp_seconds=ctx.ramp_seconds,
            send_seconds=self._send_seconds(ctx.clock()),
            interrupted=self.interrupted,
            max_p99_ms=self.config.max_p99_ms,
            max_error_rate=self.config.max_error_rate,
            series=self._series,
            throttling=ctx.throttling,
        )

    # -- phases -------------------------------------------------------------

    async def _start(self) -> bool:
        """Connect the agents; False when stopped meanwhile."""
        ctx = self.context
        probe = asyncio.create_task(self._probe())
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                finished, _ = await _unless(ctx._start_agents(), ctx._stopping)
                return finished
        except TimeoutError:
            raise ServerUnreachableError(
                self.url, self.config.connect_timeout, self._unreachable_cause()
            ) from None
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    async def _send(self) -> None:
        """Run the scenario; once stopped, give it `STOP_GRACE` seconds to return."""
        ctx = self.context
        ctx.send_started = ctx.clock()
        scenario = asyncio.ensure_future(self.scenario(ctx))
        stopping = asyncio.ensure_future(ctx._stopping.wait())
        try:
            await asyncio.wait({scenario, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not scenario.done():
                await asyncio.wait({scenario}, timeout=STOP_GRACE)
        finally:
            stopping.cancel()
            if not scenario.done():
                scenario.cancel()
                await asyncio.wait({scenario})
            self._send_end = ctx.clock()
        if not scenario.cancelled() and not ctx.stopping:
            scenario.result()  # the scenario's own failure fails the run

    def _send_seconds(self, now: float) -> float:
        start = self.context.send_started
        if start is None:
            return 0.0
        return max(0.0, (self._send_end if self._send_end is not None else now) - start)

    # -- connect diagnostics ------------------------------------------------

    async def _probe(self) -> None:
        """Ask ``GET /health`` until the server answers, keeping why it does not."""
        timeout = aiohttp.ClientTimeout(total=min(2.0, self.config.connect_timeout))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    async with session.get(f"{self.url}/health") as response:
                        self._probe_ok = True
                        self._probe_cause = f"GET /health answered HTTP {response.status}"
                        return
                except TimeoutError:
                    self._probe_cause = f"no answer to GET /health within {timeout.total:g} s"
                except aiohttp.ClientError as exc:
                    self._probe_cause = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.25)

    def _unreachable_cause(self) -> str:
        last = self.context.last_connect_error
        if self._probe_ok:
            return f"the server answers HTTP ({self._probe_cause}) but the Socket.IO" + (
                f" connection failed: {last}" if last else " connection did not complete"
            )
        return self._probe_cause or last or "no answer"

    # -- time series --------------------------------------------------------

    async def _monitor(self) -> None:
        ctx = self.context
        ticks = 0
        while True:
            ticks += 1
            await asyncio.sleep(SAMPLE_INTERVAL)
            if self.phase != "starting":
                self._sample(ctx.clock() - ctx.start)
            if self.progress is not None:
                self.progress(self.status_line())

    def _sample(self, elapsed: float) -> None:
        ctx = self.context
        self._series.append(
            TimePoint.capture(
                ctx.tracker,
                elapsed=elapsed,
                connected=ctx.connected_clients,
                reconnects=ctx.reconnects,
                reloads=ctx.reloads,
                errors=ctx.client_errors,
            )
        )


async def _unless(aw: Coroutine[Any, Any, T], event: asyncio.Event) -> tuple[bool, T | None]:
    """Await ``aw`` unless ``event`` is set first (then cancel it).

    Returns:
        ``(True, result)``, or ``(False, None)`` when ``event`` came first.
    """
    task = asyncio.ensure_future(aw)
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        return False, None
    return True, task.result()
