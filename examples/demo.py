"""The whole Vilnius chat in one command: ``./dev demo`` (or ``python examples/demo.py``).

Starts the reference server in-process (SQLite in a temporary directory), connects an
agent bot and a simulated customer with the SDK, and plays every flow of the events
reference: a new conversation, typing on both sides, messages and replies, heartbeats,
both current-state requests, a second agent, a bulk reassignment, a system mode toggle,
an agent going AFK, disconnects and a server restart under the connected clients.

It prints a timeline of who sent what (``→``) and who received which event (``←``),
and ends with a one-line summary. Every step waits for the events it expects and every
connection for its server, each within ``--timeout`` seconds. The demo stops at the first
failed step: the exit status is then 1, and standard error has one line saying which step
failed and why (a server it cannot reach, a refused key). Ctrl-C stops it with one line
and the status 130 (it did not finish, so it did not pass).

``--profile lizdeika`` plays them against a server that behaves as production (Lizdeika)
does: the agents log in as agent users (e-mail and password), the widget's customer
starts its conversation with its first message, and where production sends other events
(``agent-sent-message`` for replies, no ``tickets-reassigned``, autopilot replies only in
the answer to the customer) the demo says so and checks what production does instead.
The bot is the same code for both.

``--url`` plays the same flows against another server (the restart is skipped there);
pass ``--agent-key`` when that server runs in token mode, or, with ``--profile lizdeika``,
the two agent users as ``--agent-user EMAIL:PASSWORD`` (twice: ada, then bob) or in
``$VILNIUS_DEMO_AGENT_USERS`` (the same, separated by spaces).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from vilnius_client import (
    AgentClient,
    AgentMessageEvent,
    ConnectionChange,
    ConnectionState,
    CustomerClient,
    Event,
    NewMessageEvent,
    PersonalStatus,
    Sender,
    ServerEvent,
    SystemMode,
)
from vilnius_client.events import (
    SERVER_EVENT_MODELS,
    AgentSentMessageEvent,
    AgentTypingStatusEvent,
    ConnectedAgentsUpdateEvent,
    CurrentStateEvent,
    CustomerTypingStatusEvent,
    ErrorEvent,
    HeartbeatAckEvent,
    NewConversationEvent,
    SystemModeUpdateEvent,
    TicketsReassignedEvent,
)

M = TypeVar("M", bound=ServerEvent)
EVENT_OF: dict[type[ServerEvent], Event] = {model: ev for ev, model in SERVER_EVENT_MODELS.items()}

# Fast reconnects so that the restart step takes a fraction of a second.
CLIENT_OPTIONS: dict[str, Any] = {"reconnection_delay": 0.1, "max_reconnection_delay": 0.5}


# --------------------------------------------------------------------------
# The timeline


class Timeline:
    """Prints what happens, with timestamps relative to the start of the demo."""

    STYLES: ClassVar[dict[str, str]] = {
        "server": "bold white",
        "agent-ada": "bold cyan",
        "agent-bob": "bold magenta",
        "customer": "bold yellow",
        "visitor-2": "bold green",
    }

    def __init__(self, *, color: bool | None) -> None:
        self.start = time.monotonic()
        self.events_received = 0
        self.flows_passed = 0
        self.flows_failed: list[str] = []
        self.first_failure: str | None = None
        """The first failed flow and why, for the one line on standard error."""
        self._console: Any = None
        if color is None:
            color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        if color:
            try:
                from rich.console import Console
            except ImportError:  # rich comes with the dev extra; plain text without it
                pass
            else:
                self._console = Console(highlight=False, force_terminal=True, soft_wrap=True)

    def _emit(self, parts: list[tuple[str, str]]) -> None:
        stamp = f"+{time.monotonic() - self.start:6.3f}s "
        if self._console is None:
            print(stamp + "".join(text for text, _ in parts), flush=True)
            return
        from rich.text import Text

        line = Text()
        line.append(stamp, style="dim")
        for text, style in parts:
            line.append(text, style=style)
        self._console.print(line)

    def _actor(self, who: str) -> tuple[str, str]:
        return (f"{who:<10}", self.STYLES.get(who, "bold"))

    def step(self, number: int, title: str) -> None:
        """Print a step header."""
        self._emit([(f"── {number:>2}. {title} ", "bold blue")])

    def sent(self, who: str, what: str, detail: str = "") -> None:
        """Record that ``who`` sent an event or made a REST call."""
        self._emit([self._actor(who), (" → ", "bold"), (what, "green"), (f"  {detail}", "")])

    def received(self, who: str, event: Event, model: ServerEvent) -> None:
        """Record that ``who`` received ``event``."""
        self.events_received += 1
        tag = " (replayed)" if model.replayed else ""
        self._emit(
            [
                self._actor(who),
                (" ← ", "bold"),
                (event.value, "cyan"),
                (tag, "yellow"),
                (f"  {describe(model)}", ""),
            ]
        )

    def note(self, who: str, text: str) -> None:
        """Print a remark about ``who``."""
        self._emit([self._actor(who), ("   ", ""), (text, "dim italic")])

    def passed(self, title: str) -> None:
        """Mark a flow as passed."""
        self.flows_passed += 1
        self._emit([("   ✔ ", "bold green"), (title, "green")])

    def failed(self, title: str, error: BaseException) -> None:
        """Mark a flow as failed."""
        self.flows_failed.append(title)
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if self.first_failure is None:
            self.first_failure = f"{title}: {reason}"
        self._emit([("   ✘ ", "bold red"), (f"{title}: {reason}", "red")])

    def summary(self) -> str:
        """Print and return the one-line summary."""
        total = self.flows_passed + len(self.flows_failed)
        elapsed = time.monotonic() - self.start
        ok = not self.flows_failed
        text = (
            f"{'✔' if ok else '✘'} {self.flows_passed}/{total} flows passed · "
            f"{self.events_received} events received · {elapsed:.2f} s"
        )
        if not ok:
            text += f" · failed: {', '.join(self.flows_failed)}"
        self._emit([(text, "bold green" if ok else "bold red")])
        return text


class TimelineLog(logging.Handler):
    """Shows the SDK's and the server's warnings in the timeline instead of on stderr."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(logging.WARNING)
        self.timeline = timeline

    def emit(self, record: logging.LogRecord) -> None:
        """Print one log record as a timeline note."""
        who = "sdk log" if record.name.startswith("vilnius_client") else "server log"
        self.timeline.note(who, f"{record.levelname.lower()}: {record.getMessage()}")


@contextlib.contextmanager
def logs_into(timeline: Timeline) -> Iterator[None]:
    """Route the ``vilnius_client`` and ``mock_server`` loggers into the timeline."""
    handler = TimelineLog(timeline)
    loggers = [logging.getLogger(name) for name in ("vilnius_client", "mock_server")]
    saved = [(logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, (propagate, level) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.propagate = propagate
            logger.setLevel(level)


def short(identifier: str) -> str:
    """Shorten a generated id for display."""
    return identifier if len(identifier) <= 12 else identifier[:8] + "…"


def describe(model: ServerEvent) -> str:
    """One human line for an event payload."""
    match model:
        case NewConversationEvent():
            visitor = model.conversation.visitor_id
            return f"conversation {short(model.conversation_id)} from {visitor}"
        case NewMessageEvent():
            msg = model.message
            who = msg.agent_id if msg.sender is Sender.AGENT and msg.agent_id else msg.sender.value
            number = f"#{msg.seq} " if msg.seq is not None else ""
            return f"[{short(model.conversation_id)}] {number}{short(who)}: {msg.content!r}"
        case AgentSentMessageEvent():
            msg = model.message
            return f"[{short(model.conversation_id)}] {short(msg.agent_id or '?')}: {msg.content!r}"
        case AgentMessageEvent():
            return f"{short(model.message.agent_id or 'agent')}: {model.message.content!r}"
        case ConnectedAgentsUpdateEvent():
            return (
                ", ".join(
                    _agent_text(a.id, a.personal_status, a.connected, a.active_chats)
                    for a in model.agents
                )
                or "(none)"
            )
        case SystemModeUpdateEvent():
            return f"mode={model.mode.value}"
        case TicketsReassignedEvent():
            moves = ", ".join(
                f"{short(r.conversation_id)}: {r.from_agent_id or '-'} → {r.to_agent_id or '-'}"
                for r in model.reassignments
            )
            return f"{model.reason.value}: {moves or '(nothing to move)'}"
        case CustomerTypingStatusEvent():
            state = "typing…" if model.is_typing else "stopped typing"
            return f"[{short(model.conversation_id)}] customer {state}"
        case AgentTypingStatusEvent():
            return "agent typing…" if model.is_typing else "agent stopped typing"
        case HeartbeatAckEvent():
            return f"agent {short(model.agent_id)}"
        case CurrentStateEvent():
            if isinstance(model.data, list):
                return f"{model.type.value}: " + ", ".join(short(a.id) for a in model.data)
            return f"{model.type.value}: {model.data.value}"
        case ErrorEvent():
            return f"{model.code}: {model.message}"
    return repr(model)


def _agent_text(agent_id: str, status: PersonalStatus, connected: bool, chats: int | None) -> str:
    state = status.value if connected else "disconnected"
    counted = f", {chats} chats" if chats is not None else ""
    return f"{short(agent_id)} ({state}{counted})"


# --------------------------------------------------------------------------
# Every participant records what it receives; steps wait on these records.


class Inbox:
    """The events one participant received, in order, with race-free waiting."""

    def __init__(self, who: str, timeline: Timeline, wait: float) -> None:
        self.who = who
        self.timeline = timeline
        self.wait = wait
        self.items: list[ServerEvent] = []
        self._changed = asyncio.Event()

    def attach(self, client: AgentClient | CustomerClient) -> None:
        """Subscribe to every server event of ``client``."""
        for event in SERVER_EVENT_MODELS:
            client.on(event, self._recorder(event))

    def _recorder(self, event: Event) -> Callable[[ServerEvent], None]:
        def record(model: ServerEvent) -> None:
            self.items.append(model)
            self.timeline.received(self.who, event, model)
            self._changed.set()

        return record

    def mark(self) -> int:
        """A position in the inbox: `expect` only looks at what came after it."""
        return len(self.items)

    async def expect(
        self,
        model_type: type[M],
        predicate: Callable[[M], bool] | None = None,
        *,
        since: int,
    ) -> M:
        """Wait until an event of ``model_type`` matching ``predicate`` arrived after ``since``."""
        index = since
        try:
            async with asyncio.timeout(self.wait):
                while True:
                    while index < len(self.items):
                        item = self.items[index]
                        index += 1
                        if isinstance(item, model_type) and (predicate is None or predicate(item)):
                            return item
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            event = EVENT_OF[model_type].value
            raise TimeoutError(f"{self.who} got no matching {event} within {self.wait} s") from None

    async def expect_each(self, *checks: Any, since: int) -> None:
        """Wait for several ``(model_type, predicate)`` pairs (in any order)."""
        await asyncio.gather(*(self.expect(kind, pred, since=since) for kind, pred in checks))


# --------------------------------------------------------------------------
# The demo


class Demo:
    """Plays every flow against one server."""

    def __init__(
        self,
        url: str,
        *,
        agent_key: str | None,
        timeout: float,
        timeline: Timeline,
        server: Any = None,
        logins: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.url = url
        self.agent_key = agent_key
        #: Production (``--profile lizdeika``): each agent's (e-mail, password).
        self.logins = logins
        self.production = logins is not None
        self.timeout = timeout
        self.t = timeline
        self.server = server
        self.stack = contextlib.AsyncExitStack()
        self.step_no = 0
        self.bot_mode = SystemMode.HITL
        self.bot_replies = 0

    @contextlib.asynccontextmanager
    async def flow(self, title: str) -> AsyncIterator[None]:
        """One flow of the demo: a header, then ✔ or ✘ (the demo stops at the first ✘)."""
        self.step_no += 1
        self.t.step(self.step_no, title)
        try:
            yield
        except Exception as exc:
            self.t.failed(title, exc)
            raise _Stop from exc
        self.t.passed(title)

    async def connect(
        self, stack: contextlib.AsyncExitStack, client: AgentClient | CustomerClient
    ) -> None:
        """Connect ``client`` (closed with ``stack``), within ``--timeout`` seconds."""
        try:
            async with asyncio.timeout(self.timeout):
                await stack.enter_async_context(client)
        except TimeoutError:
            raise TimeoutError(f"no connection to {self.url} within {self.timeout} s") from None

    def agent(self, name: str) -> tuple[AgentClient, Inbox]:
        """An agent client and its inbox (not connected yet): an agent id on our server, an
        agent user's login on production (the agent id is then the user's UUID)."""
        if self.logins is not None:
            email, password = self.logins[name]
            client = AgentClient(self.url, email=email, password=password, **CLIENT_OPTIONS)
        else:
            client = AgentClient(
                self.url, agent_id=name, agent_key=self.agent_key, **CLIENT_OPTIONS
            )
        inbox = Inbox(name, self.t, self.timeout)
        inbox.attach(client)
        client.on_connection_change(self._connection_printer(name))
        return client, inbox

    def customer(self, who: str, **kwargs: Any) -> tuple[CustomerClient, Inbox]:
        """A customer client and its inbox (not connected yet)."""
        client = CustomerClient(self.url, **kwargs, **CLIENT_OPTIONS)
        inbox = Inbox(who, self.t, self.timeout)
        inbox.attach(client)
        client.on_connection_change(self._connection_printer(who))
        return client, inbox

    def _connection_printer(self, who: str) -> Callable[[ConnectionChange], None]:
        def show(change: ConnectionChange) -> None:
            old, new = change.old.value, change.new.value
            self.t.note(who, f"connection {old} → {new} ({change.reason})")

        return show

    def install_bot(self, client: AgentClient, who: str) -> None:
        """The auto-responder: typing indicator, then a reply, to every visitor message."""

        async def on_mode(event: SystemModeUpdateEvent) -> None:
            self.bot_mode = event.mode

        async def on_message(event: NewMessageEvent) -> None:
            if event.message.sender is not Sender.VISITOR or self.bot_mode is not SystemMode.HITL:
                return
            conv = event.conversation_id
            self.t.sent(who, "agent-typing", f"[{short(conv)}] is_typing=True")
            await client.typing(conv, True)
            reply = f"Thanks! Looking into {event.message.content.split()[-1]!r} now."
            self.t.sent(who, "POST /api/agent/respond", repr(reply))
            await client.respond(conv, reply)
            self.t.sent(who, "agent-typing", f"[{short(conv)}] is_typing=False")
            await client.typing(conv, False)
            self.bot_replies += 1

        client.on(Event.SYSTEM_MODE_UPDATE, on_mode)
        client.on(Event.NEW_MESSAGE, on_message)

    async def run(self) -> None:
        """Play every flow, in order."""
        async with self.stack:
            # 1. The agent bot connects: join, system mode, agents list, heartbeat + ack.
            ada, ada_in = self.agent("agent-ada")
            self.install_bot(ada, "agent-ada")
            async with self.flow("agent bot connects and joins the dashboard"):
                self.t.sent("agent-ada", "connect + join-agent-dashboard", "agent-ada")
                await self.connect(self.stack, ada)
                await ada_in.expect_each(
                    (SystemModeUpdateEvent, None),
                    (
                        ConnectedAgentsUpdateEvent,
                        lambda e: any(a.id == ada.agent_id and a.connected for a in e.agents),
                    ),
                    since=0,
                )

            async with self.flow("heartbeat and heartbeat-ack"):
                self.t.note("agent-ada", "the SDK heartbeats on connect, then every 15 s")
                ack = await ada_in.expect(HeartbeatAckEvent, since=0)
                assert ack.agent_id == ada.agent_id, ack
                latency = ada.latency
                self.t.note(
                    "agent-ada",
                    f"heartbeat round trip: "
                    f"{'?' if latency is None else f'{latency * 1000:.1f} ms'}",
                )

            async with self.flow("current state: connected agents and system mode"):
                self.t.sent("agent-ada", "request-current-state", "connected-agents")
                agents = await ada.request_current_state("connected-agents")
                assert ada.agent_id in [a.id for a in agents], agents
                self.t.note("agent-ada", f"typed answer: list of {len(agents)} AgentData")
                self.t.sent("agent-ada", "request-current-state", "system-mode")
                mode = await ada.request_current_state("system-mode")
                assert mode is SystemMode.HITL, mode
                self.t.note("agent-ada", f"typed answer: {mode!r}")

            # 2. A customer opens the widget and starts a conversation.
            cust, cust_in = self.customer("customer", visitor_id="visitor-1")
            cust_stack = contextlib.AsyncExitStack()
            self.stack.push_async_callback(cust_stack.aclose)
            async with self.flow("customer starts a new conversation"):
                await self.connect(cust_stack, cust)
                mark, cust_mark = ada_in.mark(), cust_in.mark()
                if self.production:
                    # Production announces a conversation when its first message creates
                    # it (the widget's way); POST /api/conversations announces nothing.
                    hello = "Hello, is anyone there? #hello"
                    self.t.sent("customer", "POST /api/messages", f"session-… {hello!r}")
                    conv1 = (await cust.send_message(hello)).conversation_id
                    await cust_in.expect(
                        AgentMessageEvent, lambda e: "#hello" in e.message.content, since=cust_mark
                    )
                else:
                    self.t.sent("customer", "POST /api/conversations", "visitor-1")
                    conv1 = (await cust.start_conversation()).id
                await ada_in.expect(
                    NewConversationEvent, lambda e: e.conversation_id == conv1, since=mark
                )

            async with self.flow("customer typing"):
                mark = ada_in.mark()
                self.t.sent("customer", "customer-typing", "is_typing=True")
                await cust.typing(True)
                await ada_in.expect(
                    CustomerTypingStatusEvent,
                    lambda e: e.conversation_id == conv1 and e.is_typing,
                    since=mark,
                )
                self.t.sent("customer", "customer-typing", "is_typing=False")
                await cust.typing(False)
                await ada_in.expect(
                    CustomerTypingStatusEvent,
                    lambda e: e.conversation_id == conv1 and not e.is_typing,
                    since=mark,
                )

            async with self.flow("customer message → agent typing → agent reply"):
                ada_mark, cust_mark = ada_in.mark(), cust_in.mark()
                text = "Hi! My order hasn't arrived: #1042"
                self.t.sent("customer", "POST /api/messages", repr(text))
                await cust.send_message(text)
                await ada_in.expect(
                    NewMessageEvent, lambda e: e.message.content == text, since=ada_mark
                )
                await cust_in.expect(AgentTypingStatusEvent, lambda e: e.is_typing, since=cust_mark)
                reply = await cust_in.expect(AgentMessageEvent, since=cust_mark)
                assert "#1042" in reply.message.content, reply
                await cust_in.expect(
                    AgentTypingStatusEvent, lambda e: not e.is_typing, since=cust_mark
                )
                if self.production:
                    # Production tells the agents of a reply with agent-sent-message.
                    await ada_in.expect(
                        AgentSentMessageEvent, lambda e: e.conversation_id == conv1, since=ada_mark
                    )
                else:
                    await ada_in.expect(
                        NewMessageEvent,
                        lambda e: e.message.sender is Sender.AGENT and e.conversation_id == conv1,
                        since=ada_mark,
                    )

            # 3. A second agent and a second visitor.
            bob, bob_in = self.agent("agent-bob")
            async with self.flow("a second agent joins"):
                mark = ada_in.mark()
                self.t.sent("agent-bob", "connect + join-agent-dashboard", "agent-bob")
                await self.connect(self.stack, bob)
                await bob_in.expect(SystemModeUpdateEvent, since=0)
                await ada_in.expect(
                    ConnectedAgentsUpdateEvent,
                    lambda e: (
                        {ada.agent_id, bob.agent_id} <= {a.id for a in e.agents if a.connected}
                    ),
                    since=mark,
                )

            cust2, cust2_in = self.customer("visitor-2", visitor_id="visitor-2")
            async with self.flow("a second visitor writes in"):
                await self.connect(self.stack, cust2)
                mark = ada_in.mark()
                if not self.production:  # there the first message creates it (below)
                    self.t.sent("visitor-2", "POST /api/conversations", "visitor-2")
                    await cust2.start_conversation()
                text2 = "Can I change my delivery address? #2077"
                self.t.sent("visitor-2", "POST /api/messages", repr(text2))
                conv2 = (await cust2.send_message(text2)).conversation_id
                await ada_in.expect(
                    NewConversationEvent, lambda e: e.conversation_id == conv2, since=mark
                )
                await cust2_in.expect(AgentMessageEvent, since=0)

            async with self.flow("bulk reassignment of both conversations to agent-bob"):
                ada_mark, bob_mark = ada_in.mark(), bob_in.mark()
                self.t.sent(
                    "agent-ada",
                    "POST /api/admin/conversations/bulk-assign",
                    f"[{short(conv1)}, {short(conv2)}] → agent-bob",
                )
                assert bob.agent_id is not None
                moved = await ada.bulk_assign([conv1, conv2], bob.agent_id)
                if self.production:
                    # Production sends no tickets-reassigned: ask for the assignments.
                    assert moved == 2, moved
                    owners = {c.id: c.assigned_agent for c in await ada.conversations()}
                    assert owners[conv1] == owners[conv2] == bob.agent_id, owners
                    self.t.note(
                        "agent-ada", "production sends no tickets-reassigned; listed: both bob's"
                    )
                else:
                    for inbox, mark in ((ada_in, ada_mark), (bob_in, bob_mark)):
                        await inbox.expect(
                            TicketsReassignedEvent,
                            lambda e: (
                                e.reason.value == "bulk_assign"
                                and {r.conversation_id for r in e.reassignments} == {conv1, conv2}
                            ),
                            since=mark,
                        )

            # 4. The system mode toggle: autopilot answers by itself.
            async with self.flow("system mode toggle: autopilot, then back to hitl"):
                ada_mark, bob_mark, cust_mark = ada_in.mark(), bob_in.mark(), cust_in.mark()
                self.t.sent("agent-ada", "POST /api/system/mode", "autopilot")
                await ada.set_system_mode(SystemMode.AUTOPILOT)
                for inbox, mark in ((ada_in, ada_mark), (bob_in, bob_mark)):
                    await inbox.expect(
                        SystemModeUpdateEvent, lambda e: e.mode is SystemMode.AUTOPILOT, since=mark
                    )
                text = "Is anyone there? #autopilot"
                self.t.sent("customer", "POST /api/messages", repr(text))
                await cust.send_message(text)
                await cust_in.expect(AgentMessageEvent, since=cust_mark)
                self.t.note("customer", "answered by the server's autopilot, not by the bot")
                if self.production:
                    self.t.note(
                        "customer",
                        "production sends it only in the POST answer: the SDK hands it on",
                    )
                self.t.sent("agent-ada", "POST /api/system/mode", "hitl")
                ada_mark = ada_in.mark()
                await ada.set_system_mode(SystemMode.HITL)
                await ada_in.expect(
                    SystemModeUpdateEvent, lambda e: e.mode is SystemMode.HITL, since=ada_mark
                )

            # 5. An agent goes AFK: their conversations move to the agents still online.
            async with self.flow("agent-bob goes AFK and comes back"):
                mark = ada_in.mark()
                assert bob.capabilities is not None
                away = bob.capabilities.away_status  # afk; production spells it offline
                self.t.sent("agent-bob", "POST /api/agent/personal-status", away.value)
                await bob.set_personal_status(PersonalStatus.AFK)
                if self.production:
                    self.t.note("agent-ada", "production hands nothing over (reassignments: 0)")
                    # Production lists only the agents online (or busy): bob drops off.
                    await ada_in.expect(
                        ConnectedAgentsUpdateEvent,
                        lambda e: bob.agent_id not in {a.id for a in e.agents},
                        since=mark,
                    )
                else:
                    await ada_in.expect(
                        TicketsReassignedEvent,
                        lambda e: (
                            e.reason.value == "agent_afk"
                            and all(r.to_agent_id == ada.agent_id for r in e.reassignments)
                        ),
                        since=mark,
                    )
                    await ada_in.expect(
                        ConnectedAgentsUpdateEvent,
                        lambda e: any(
                            a.id == bob.agent_id and a.personal_status is away for a in e.agents
                        ),
                        since=mark,
                    )
                mark = ada_in.mark()
                self.t.sent("agent-bob", "POST /api/agent/personal-status", "online")
                await bob.set_personal_status(PersonalStatus.ONLINE)
                await ada_in.expect(
                    ConnectedAgentsUpdateEvent,
                    lambda e: any(
                        a.id == bob.agent_id and a.personal_status is PersonalStatus.ONLINE
                        for a in e.agents
                    ),
                    since=mark,
                )

            # 6. Disconnects and reconnects.
            async with self.flow("agent-bob disconnects"):
                mark = ada_in.mark()
                self.t.sent("agent-bob", "disconnect")
                await bob.disconnect()
                if self.production:
                    # Production keeps bob listed for 5 minutes (his dashboard may come back)
                    # but tells the agents at once.
                    await ada_in.expect(ConnectedAgentsUpdateEvent, since=mark)
                    self.t.note(
                        "agent-ada",
                        "agent-bob is still listed online: production does not mark an agent"
                        " offline when its socket closes (a grace period for page reloads),"
                        " only after 5 minutes without its heartbeat",
                    )
                else:
                    await ada_in.expect(
                        ConnectedAgentsUpdateEvent,
                        lambda e: not any(a.id == bob.agent_id and a.connected for a in e.agents),
                        since=mark,
                    )

            async with self.flow("the customer leaves and comes back to the conversation"):
                self.t.sent("customer", "disconnect")
                await cust_stack.aclose()
                token = cust.token
                back, back_in = self.customer("customer", conversation_id=conv1, token=token)
                self.t.sent("customer", "connect + join-conversation", short(conv1))
                await self.connect(self.stack, back)
                history = await back.history()
                self.t.note("customer", f"history: {len(history)} messages in the conversation")
                assert len(history) >= 3, history
                text = "I'm back. Any news? #again"
                self.t.sent("customer", "POST /api/messages", repr(text))
                await back.send_message(text)
                await back_in.expect(
                    AgentMessageEvent, lambda e: "#again" in e.message.content, since=0
                )
                cust, cust_in = back, back_in

            if self.server is not None:
                await self._restart_flow(ada, ada_in, cust, cust_in)

    async def _restart_flow(
        self, ada: AgentClient, ada_in: Inbox, cust: CustomerClient, cust_in: Inbox
    ) -> None:
        async with self.flow("server restart under connected clients: reconnect and recover"):
            ada_mark, cust_mark = ada_in.mark(), cust_in.mark()
            lost = {"agent-ada": asyncio.Event(), "customer": asyncio.Event()}
            back = {"agent-ada": asyncio.Event(), "customer": asyncio.Event()}

            def watch(who: str) -> Callable[[ConnectionChange], None]:
                def seen(change: ConnectionChange) -> None:
                    if change.new is ConnectionState.RECONNECTING:
                        lost[who].set()
                    elif change.new is ConnectionState.CONNECTED and lost[who].is_set():
                        back[who].set()

                return seen

            watchers = [
                (ada, ada.on_connection_change(watch("agent-ada"))),
                (cust, cust.on_connection_change(watch("customer"))),
            ]
            try:
                self.t.sent("server", "stop", "every socket dropped; the SQLite file is kept")
                await self.server.stop()
                await asyncio.wait_for(lost["agent-ada"].wait(), self.timeout)
                self.t.sent("server", "start", f"same port, same database ({self.url})")
                await self.server.start()
                text = "Sent right after the restart #restart"
                self.t.sent("customer", "POST /api/messages", repr(text))
                await cust.send_message(text)
                # Live or replayed (GET /api/messages, or production's conversation listing
                # and the conversation's messages): either way, exactly once.
                await ada_in.expect(
                    NewMessageEvent, lambda e: e.message.content == text, since=ada_mark
                )
                await ada_in.expect(SystemModeUpdateEvent, since=ada_mark)
                await ada_in.expect(HeartbeatAckEvent, since=ada_mark)
                await cust_in.expect(
                    AgentMessageEvent, lambda e: "#restart" in e.message.content, since=cust_mark
                )
                for who, event in back.items():
                    try:
                        await asyncio.wait_for(event.wait(), self.timeout)
                    except TimeoutError:
                        raise TimeoutError(f"{who} did not reconnect") from None
            finally:
                for client, watcher in watchers:
                    client.off_connection_change(watcher)
            copies = [
                e
                for e in ada_in.items[ada_mark:]
                if isinstance(e, NewMessageEvent) and e.message.content == text
            ]
            assert len(copies) == 1, f"{len(copies)} copies of the message"
            self.t.note("agent-ada", "rooms re-joined, heartbeats resumed, nothing lost or doubled")


class _Stop(Exception):
    """Raised by a failed flow to stop the demo."""


DEMO_USERS = (("ada@example.com", "ada-demo-password"), ("bob@example.com", "bob-demo-password"))
"""The agent users of the in-process production server (``--profile lizdeika``)."""


def _logins(args: argparse.Namespace) -> dict[str, tuple[str, str]]:
    """The two agent users for ``--url`` with ``--profile lizdeika``."""
    given = args.agent_user or os.environ.get("VILNIUS_DEMO_AGENT_USERS", "").split()
    pairs = [tuple(text.split(":", 1)) for text in given]
    if len(pairs) != 2 or any(len(pair) != 2 for pair in pairs):
        raise SystemExit(
            "--profile lizdeika with --url needs two agent users: "
            "--agent-user EMAIL:PASSWORD twice (ada, then bob), or $VILNIUS_DEMO_AGENT_USERS"
        )
    names = ("agent-ada", "agent-bob")
    return {name: (pair[0], pair[1]) for name, pair in zip(names, pairs, strict=True)}


# --------------------------------------------------------------------------
# Entry point


def _seconds(text: str) -> float:
    """A ``--timeout``: a number of seconds above 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="play against this server instead of starting one")
    parser.add_argument("--agent-key", help="the server's agent key (token mode)")
    parser.add_argument(
        "--profile",
        choices=["vilnius", "lizdeika"],
        default="vilnius",
        help="the server plays our contract (vilnius, the default) or production (lizdeika)",
    )
    parser.add_argument(
        "--agent-user",
        action="append",
        metavar="EMAIL:PASSWORD",
        help="with --url and --profile lizdeika: the two agent users (ada, then bob); "
        "default $VILNIUS_DEMO_AGENT_USERS",
    )
    parser.add_argument(
        "--auth",
        choices=["token", "none"],
        default="token",
        help="auth mode of the in-process server (default: token; vilnius profile only)",
    )
    parser.add_argument(
        "--db",
        help="SQLite file of the in-process server "
        "(default: a temporary file; ':memory:' for none)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        help="seconds each step may wait for an event or a connection (default: 5)",
    )
    color = parser.add_mutually_exclusive_group()
    color.add_argument(
        "--color",
        dest="color",
        action="store_const",
        const=True,
        default=None,
        help="force colours",
    )
    color.add_argument(
        "--no-color",
        dest="color",
        action="store_const",
        const=False,
        help="plain text (also when NO_COLOR is set or stdout is not a terminal)",
    )
    return parser.parse_args(argv)


async def main_async(args: argparse.Namespace) -> int:
    """Run the demo; return the exit status."""
    timeline = Timeline(color=args.color)
    production = args.profile == "lizdeika"
    with contextlib.suppress(_Stop), logs_into(timeline):
        if args.url:
            timeline.note("server", f"using {args.url} ({args.profile})")
            logins = _logins(args) if production else None
            demo = Demo(
                args.url,
                agent_key=args.agent_key,
                timeout=args.timeout,
                timeline=timeline,
                logins=logins,
            )
            await demo.run()
        else:
            from mock_server import AgentUser, ServerConfig, serve

            with tempfile.TemporaryDirectory(prefix="vilnius-demo-") as tmp:
                db = args.db or str(Path(tmp) / "demo.sqlite3")
                logins = dict(zip(("agent-ada", "agent-bob"), DEMO_USERS, strict=True))
                config = ServerConfig(
                    host="127.0.0.1",
                    port=0,
                    db=db,
                    auth=args.auth,
                    profile=args.profile,
                    agent_users=tuple(
                        AgentUser(email, password, name.removeprefix("agent-").title())
                        for name, (email, password) in logins.items()
                    ),
                )
                async with serve(config=config) as server:
                    kind = "production's behaviour" if production else f"auth={args.auth}"
                    timeline.note(
                        "server",
                        f"reference server on {server.url} (profile {args.profile}: {kind}, "
                        f"db={db})",
                    )
                    demo = Demo(
                        server.url,
                        agent_key=server.agent_key,
                        logins=logins if production else None,
                        timeout=args.timeout,
                        timeline=timeline,
                        server=server,
                    )
                    await demo.run()
    timeline.summary()
    if timeline.first_failure is not None:
        print(f"demo: failed: {timeline.first_failure}", file=sys.stderr)
        return 1
    return 0


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT): the demo did not finish, so it did not pass."""


def main(argv: list[str] | None = None) -> int:
    """Console entry point: the exit status (0 passed, 1 a flow failed, 130 Ctrl-C)."""
    args = parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        print("demo: stopped (Ctrl-C)", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
