"""The scenario's view of a run: `SimContext` connects the agents, makes customers, and counts
everything the report needs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence

from .. import (
    AgentClient,
    AuthError,
    ConnectionChange,
    ConnectionState,
    CustomerClient,
    Event,
    RateLimitedError,
    RestClient,
    VilniusError,
)
from .actors import SimAgent, SimCustomer
from .config import MissingCredentialsError, SimConfig
from .replies import ReplyTracker
from .throttle import Throttling
from .tracker import GATING, Tracker
from .verdict import CheckCounts

__all__ = ["Conversation", "Scenario", "SimContext"]

logger = logging.getLogger("vilnius_client.sim")

#: A Python scenario: an async function that drives customers and agents through ``ctx``.
Scenario = Callable[["SimContext"], Awaitable[None]]

#: What one customer of a load shape does (``--conversation``): an async function given the
#: connected customer; it returns when the customer leaves.
Conversation = Callable[[SimCustomer], Awaitable[None]]


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
        replies: With ``bot="external"``: the bot's replies to the customers' messages.
        checks: The named checks of the scenario (`check`), in the order first made.
        conversation: What each customer of a load shape does (None: the default).
        customer_messages: Messages the customers sent (refused and failed ones aside).
        agent_messages: Messages the simulated agents sent.
    """

    def __init__(self, url: str, config: SimConfig) -> None:
        self.url = url
        self.config = config
        self.clock: Callable[[], float] = time.monotonic
        self.start = self.clock()
        self.tracker = Tracker()
        self.random = random.Random(config.seed)
        self.agents: list[SimAgent] = []
        self.customers: list[SimCustomer] = []
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
        self.conversation: Conversation | None = None
        self.replies = ReplyTracker(config.reply_deadline)
        self.checks: dict[str, CheckCounts] = {}
        self.customer_messages = 0
        self.agent_messages = 0

    @property
    def external(self) -> bool:
        """True when the customers talk to a bot under test (``bot="external"``)."""
        return self.config.bot == "external"

    # -- for scenarios ------------------------------------------------------

    async def new_customer(self, name: str | None = None) -> SimCustomer:
        """A connected customer with a new conversation.

        Args:
            name: Its visitor id; by default ``sim-<run id>-customer-<n>``, numbered in
                the order made.

        Raises:
            TimeoutError: It could not connect within ``config.connect_timeout``.
        """
        customer = SimCustomer(self, name or self.customer_name(len(self.customers) + 1))
        self.customers.append(customer)
        await customer.start()
        return customer

    def customer_name(self, number: int) -> str:
        """The visitor id of customer ``number``: ``sim-<namespace>-customer-<number>``."""
        return f"sim-{self.config.namespace}-customer-{number}"

    def check(self, name: str, passed: bool) -> bool:
        """Count one outcome of the check ``name`` (k6's ``check``): a reply's content, say.

        A check that failed even once fails the run (exit 4); the report lists every
        check with its passes and failures.

        Returns:
            ``passed``, to chain on it.
        """
        counts = self.checks.setdefault(name, CheckCounts())
        if passed:
            counts.passed += 1
        else:
            counts.failed += 1
        return passed

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

        With a bot under test it also waits for the replies still within their deadline;
        those that do not come in time are unanswered, not missing deliveries.

        Args:
            within: Seconds to wait at most (default: ``config.drain_timeout``).
            kinds: Event types to wait for (default: the messages, not typing).

        Returns:
            False when a tracked delivery (or the agents' work) was still missing after
            ``within`` seconds.
        """
        deadline = self.clock() + (self.config.drain_timeout if within is None else within)
        while self.clock() < deadline:
            if self._settled(kinds) and self.replies.outstanding(self.clock()) == 0:
                return True
            await asyncio.sleep(0.05)
        return self._settled(kinds)

    def _settled(self, kinds: Iterable[str]) -> bool:
        return not self._tasks and self.tracker.pending(kinds) == 0

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
        """A tag identifying one tracked message, unique within the run's namespace."""
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
        config = self.config
        names = [f"sim-{config.namespace}-agent-{i + 1}" for i in range(config.simulated_agents)]
        if names and config.email is None and config.agent_key is None:
            await self._need_no_login()
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
        except AuthError as exc:
            await _cancel_all(connecting)
            if config.email is None and config.agent_key is None:
                raise MissingCredentialsError(
                    f"{self.url} needs an agent key for the simulated agents: set"
                    " $VILNIUS_AGENT_KEY (or run --bot external to test your own bot)"
                ) from exc
            raise
        except BaseException:  # one refused (or time is up): the others stop trying too
            await _cancel_all(connecting)
            raise
        self._agent_names = tuple(names)

    async def _need_no_login(self) -> None:
        """Refuse to start agents without a login on a server where agents log in: there
        they would join, never be taken for agents, and have every reply refused."""
        async with RestClient(self.url, retry_attempts=1) as rest:
            try:
                capabilities = await rest.probe()
            except VilniusError:
                return  # unreachable or odd: the connection attempts will say why
        if capabilities.user_login:
            raise MissingCredentialsError(
                f"{self.url} is a server where agents log in: set $VILNIUS_EMAIL and"
                " $VILNIUS_PASSWORD for the simulated agents (or run --bot external to test"
                " your own bot)"
            )

    async def _close_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(c.close() for c in self.customers),
            *(a.client.disconnect() for a in self.agents),
            return_exceptions=True,
        )


async def _cancel_all(tasks: Sequence[asyncio.Future[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
