"""The public SDK against a server that is not ours: ``server.js``, Node.js + socket.io 4.

``server.js`` was written from CONTRACT.md alone and differs from ``mock_server`` wherever the
contract allows (UUIDs, agent names that are not their ids, extra fields everywhere, an
``aiSuggestion``, JWT tokens, ``heartbeat-ack`` echoing epoch milliseconds, 500-message pages,
other tie-breaks), so these tests catch any reliance of the SDK on our server's internals.
It runs as a subprocess, once per auth mode; the tests skip only when ``node`` or
``tests/contract_node/node_modules`` is missing (``npm install`` in this folder).

Only the public API is used: ``from vilnius_client import ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

import pytest

from tests.conftest import TIMEOUT_SCALE, scaled
from tests.interop.harness import listening_url
from vilnius_client import (
    AgentClient,
    AgentData,
    AgentMessageEvent,
    AuthError,
    ConflictError,
    ConnectionChange,
    ConnectionState,
    CustomerClient,
    Event,
    EventStream,
    ForbiddenError,
    InvalidPayloadError,
    Message,
    NewMessageEvent,
    NotFoundError,
    NotJoinedError,
    RestClient,
    Sender,
    SystemMode,
)
from vilnius_client.events import (
    AgentTypingStatusEvent,
    ConnectedAgentsUpdateEvent,
    CustomerTypingStatusEvent,
    ErrorEvent,
    HeartbeatAckEvent,
    NewConversationEvent,
    ReassignReason,
    SystemModeUpdateEvent,
    TicketsReassignedEvent,
    TypingPayload,
)

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent.parent
SERVER_JS: Final = HERE / "server.js"
AGENT_KEY: Final = "contract-node-key"
UUID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: Quick reconnects and heartbeats, so that a restart is noticed and healed in well under a second.
FAST: Final[dict[str, Any]] = {
    "reconnection_delay": 0.05,
    "max_reconnection_delay": 0.5,
    "heartbeat_interval": 0.5,
}

pytestmark = [
    pytest.mark.timeout(int(120 * TIMEOUT_SCALE)),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (HERE / "node_modules" / "socket.io").is_dir(),
        reason="socket.io is not installed: run `npm install` in tests/contract_node",
    ),
]

AUTH_MODES: Final = ["none", "token"]


# ---------------------------------------------------------------------------
# The Node.js server as a subprocess


class NodeServer:
    """``node server.js`` on loopback; :meth:`crash` and :meth:`start` again on the same port."""

    def __init__(self, log: Path, auth: str, *, state: Path | None = None) -> None:
        self.log = log
        self.auth = auth
        self.args = ["--auth", auth]
        if auth == "token":
            self.args += ["--agent-key", AGENT_KEY]
        if state is not None:
            self.args += ["--state", str(state)]
        self.port = 0
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    @property
    def agent_key(self) -> str | None:
        return AGENT_KEY if self.auth == "token" else None

    async def start(self) -> str:
        node = shutil.which("node")
        assert node is not None
        with self.log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                node,
                str(SERVER_JS),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.args,
                cwd=HERE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        self._process = process
        assert process.stdout is not None
        url = await asyncio.wait_for(listening_url(process.stdout), scaled(20))
        if url is None:
            await process.wait()
            raise AssertionError(
                f"server.js exited with {process.returncode} before listening:\n"
                + self.log.read_text(errors="replace")[-3000:]
            )
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        return url

    async def crash(self) -> None:
        """SIGKILL: the process dies at once, every connection drops."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), scaled(10))
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def node_server(
    tmp_path: Path, auth: str, *, state: Path | None = None
) -> AsyncIterator[NodeServer]:
    server = NodeServer(tmp_path / f"server-{auth}.log", auth, state=state)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ---------------------------------------------------------------------------
# Helpers


class Inbox:
    """Buffered streams of a client's events (opened before connecting, so nothing is missed)."""

    def __init__(self, client: AgentClient | CustomerClient, *events: Event) -> None:
        self._streams: dict[Event, EventStream[Any]] = {e: client.stream(e) for e in events}

    async def expect(
        self, event: Event, predicate: Callable[[Any], bool] | None = None, seconds: float = 5
    ) -> Any:
        """The next ``event`` matching ``predicate`` (earlier non-matching ones are skipped)."""
        stream = self._streams[event]

        async def first() -> Any:
            async for item in stream:
                if predicate is None or predicate(item):
                    return item
            raise AssertionError(f"the {event} stream ended")

        try:
            return await asyncio.wait_for(first(), scaled(seconds))
        except TimeoutError:
            raise AssertionError(f"no matching {event} within {seconds} s") from None


class Changes:
    """Connection state changes of a client, awaitable."""

    def __init__(self, client: AgentClient | CustomerClient) -> None:
        self.queue: asyncio.Queue[ConnectionChange] = asyncio.Queue()
        client.on_connection_change(self.queue.put_nowait)

    async def reach(self, state: ConnectionState, seconds: float = 15) -> ConnectionChange:
        async def wait() -> ConnectionChange:
            while True:
                change = await self.queue.get()
                if change.new is state:
                    return change

        try:
            return await asyncio.wait_for(wait(), scaled(seconds))
        except TimeoutError:
            raise AssertionError(f"the client did not reach {state} within {seconds} s") from None


def agent_client(server: NodeServer, agent_id: str, **options: Any) -> AgentClient:
    return AgentClient(
        server.url, agent_id=agent_id, agent_key=server.agent_key, **{**FAST, **options}
    )


def customer_client(server: NodeServer, **options: Any) -> CustomerClient:
    return CustomerClient(server.url, **{**FAST, **options})


def with_id(message_id: str) -> Callable[[Any], bool]:
    """A predicate: the event's message has this id."""
    return lambda event: bool(event.message.id == message_id)


class Errors:
    """What a client reports to its ``on_error`` listeners, awaitable."""

    def __init__(self, client: AgentClient | CustomerClient) -> None:
        self.seen: list[BaseException] = []
        self._changed = asyncio.Event()
        client.on_error(self._add)

    def _add(self, exc: BaseException) -> None:
        self.seen.append(exc)
        self._changed.set()

    async def expect(self, kind: type[BaseException], seconds: float = 5) -> BaseException:
        async with asyncio.timeout(scaled(seconds)):
            while True:
                found = next((e for e in self.seen if isinstance(e, kind)), None)
                if found is not None:
                    return found
                self._changed.clear()
                await self._changed.wait()


# ---------------------------------------------------------------------------
# Every event of the seed, both auth modes


@pytest.mark.parametrize("auth", AUTH_MODES)
async def test_every_event_and_rest_call(tmp_path: Path, auth: str) -> None:
    """An agent bot and a customer through every event of CONTRACT.md §3/§4 and the REST API."""
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(node_server(tmp_path, auth))
        bot = agent_client(server, "bot-1")
        inbox = Inbox(
            bot,
            Event.SYSTEM_MODE_UPDATE,
            Event.CONNECTED_AGENTS_UPDATE,
            Event.HEARTBEAT_ACK,
            Event.NEW_CONVERSATION,
            Event.NEW_MESSAGE,
            Event.CUSTOMER_TYPING_STATUS,
            Event.TICKETS_REASSIGNED,
            Event.ERROR_EVENT,
        )
        bot_errors = Errors(bot)
        await stack.enter_async_context(bot)

        # join-agent-dashboard -> system-mode-update (to the socket) + connected-agents-update
        mode_event = await inbox.expect(Event.SYSTEM_MODE_UPDATE)
        assert isinstance(mode_event, SystemModeUpdateEvent)
        assert mode_event.mode is SystemMode.HITL
        assert mode_event.model_extra == {"serverVersion": "contract-node/1.0.0"}
        agents_event = await inbox.expect(Event.CONNECTED_AGENTS_UPDATE)
        assert isinstance(agents_event, ConnectedAgentsUpdateEvent)
        me = next(agent for agent in agents_event.agents if agent.id == "bot-1")
        assert isinstance(me, AgentData)
        assert me.name == "Agent bot-1"
        assert me.connected
        assert me.status == "online"
        assert me.personal_status == "online"
        assert me.last_seen is not None
        assert me.last_seen.tzinfo is not None
        assert me.model_extra is not None
        assert "socketIds" in me.model_extra

        # heartbeat -> heartbeat-ack (the echoed epoch ms parse to an aware datetime), latency
        ack = await inbox.expect(Event.HEARTBEAT_ACK)
        assert isinstance(ack, HeartbeatAckEvent)
        assert ack.agent_id == "bot-1"
        assert ack.timestamp.tzinfo is not None
        await inbox.expect(Event.HEARTBEAT_ACK)  # the second: the first one's round trip is kept
        assert bot.latency is not None
        assert bot.latency >= 0
        assert bot.get_connection_status().connected

        # customer: start_conversation -> new-conversation (UUID id, metadata kept)
        customer = customer_client(server, visitor_id="visitor-ada")
        at_customer = Inbox(customer, Event.AGENT_MESSAGE, Event.AGENT_TYPING_STATUS)
        customer_errors = Errors(customer)
        await stack.enter_async_context(customer)
        conversation = await customer.start_conversation(metadata={"page": "/pricing"})
        cid = conversation.id
        assert UUID.match(cid), cid
        assert customer.token is not None
        assert customer.token.count(".") == 2
        created = await inbox.expect(Event.NEW_CONVERSATION, lambda e: e.conversation_id == cid)
        assert isinstance(created, NewConversationEvent)
        assert created.conversation.visitor_id == "visitor-ada"
        assert created.conversation.metadata == {"page": "/pricing"}
        assert created.conversation.model_extra == {"priority": "normal", "tags": []}

        # customer send_message -> new-message (typed, seq, aiSuggestion), auto-assigned in hitl
        sent = await customer.send_message("Hello, I need help")
        first = await inbox.expect(Event.NEW_MESSAGE, lambda e: e.conversation_id == cid)
        assert isinstance(first, NewMessageEvent)
        assert first.message.sender is Sender.VISITOR
        assert first.message.content == "Hello, I need help"
        assert first.message.seq == sent.seq
        assert UUID.match(first.message.id)
        assert first.message.model_extra == {"channel": "web", "edited": False}
        assert isinstance(first.ai_suggestion, Message)
        assert first.ai_suggestion.metadata["suggestion"] is True
        assigned = {c.id: c.assigned_agent for c in await bot.conversations("active")}
        assert assigned[cid] == "bot-1"

        # customer-typing -> customer-typing-status (to agents)
        await customer.typing(True)
        typing = await inbox.expect(Event.CUSTOMER_TYPING_STATUS)
        assert isinstance(typing, CustomerTypingStatusEvent)
        assert (typing.conversation_id, typing.is_typing) == (cid, True)

        # join-conversation + agent-typing -> agent-typing-status at the customer
        await bot.join_conversation(cid)
        await bot.typing(cid, True)
        agent_typing = await at_customer.expect(Event.AGENT_TYPING_STATUS)
        assert isinstance(agent_typing, AgentTypingStatusEvent)
        assert agent_typing.is_typing is True
        assert agent_typing.model_extra is not None
        assert agent_typing.model_extra["agentId"] == "bot-1"

        # respond -> agent-message at the customer, new-message to agents
        reply = await bot.respond(cid, "Hi Ada, how can I help?")
        assert reply.sender is Sender.AGENT
        assert reply.agent_id == "bot-1"
        got = await at_customer.expect(Event.AGENT_MESSAGE)
        assert isinstance(got, AgentMessageEvent)
        assert (got.message.id, got.message.seq, got.replayed) == (reply.id, reply.seq, False)
        echoed = await inbox.expect(Event.NEW_MESSAGE, lambda e: e.message.id == reply.id)
        assert echoed.ai_suggestion is None

        # request-current-state, both types
        agents_now = await bot.request_current_state("connected-agents")
        assert [a.name for a in agents_now if a.id == "bot-1"] == ["Agent bot-1"]
        assert await bot.request_current_state("system-mode") is SystemMode.HITL

        # REST reads
        assert await bot.get_system_mode() is SystemMode.HITL
        assert "bot-1" in {agent.id for agent in await bot.connected_agents()}
        history = await bot.history(cid)
        assert [m.seq for m in history] == sorted(m.seq for m in history)
        assert [m.id for m in history] == [sent.id, reply.id]
        assert [m.id for m in await customer.history()] == [sent.id, reply.id]
        page = await bot.rest.all_messages(after=0)
        assert page.last_seq == reply.seq

        # Idempotency-Key: a repeat stores and emits nothing again, answers the same
        again_a = await customer.send_message("once only", idempotency_key="key-1")
        again_b = await customer.send_message("once only", idempotency_key="key-1")
        assert again_a.id == again_b.id
        marker = await customer.send_message("after the repeat")
        once = await inbox.expect(Event.NEW_MESSAGE, lambda e: e.conversation_id == cid)
        assert once.message.id == again_a.id
        following = await inbox.expect(Event.NEW_MESSAGE, lambda e: e.conversation_id == cid)
        assert following.message.id == marker.id  # no second "once only"
        r1 = await bot.respond(cid, "same reply", idempotency_key="reply-1")
        r2 = await bot.respond(cid, "same reply", idempotency_key="reply-1")
        assert r1.id == r2.id
        await at_customer.expect(Event.AGENT_MESSAGE, lambda e: e.message.id == r1.id)

        # set_system_mode -> system-mode-update; autopilot replies; off sends one notice
        assert await bot.set_system_mode("autopilot") is SystemMode.AUTOPILOT
        changed = await inbox.expect(Event.SYSTEM_MODE_UPDATE)
        assert changed.mode is SystemMode.AUTOPILOT
        # The whole answer (with the automatic reply) is the REST client's.
        auto = await customer.rest.post_message(cid, "anyone there?")
        automatic = auto.ai_message
        assert automatic is not None
        assert automatic.sender is Sender.AGENT
        canned = await at_customer.expect(
            Event.AGENT_MESSAGE, lambda e: e.message.id == automatic.id
        )
        assert canned.message.metadata == {"autopilot": True}
        await bot.set_system_mode(SystemMode.OFF)
        assert (await inbox.expect(Event.SYSTEM_MODE_UPDATE)).mode is SystemMode.OFF
        notice = await customer.rest.post_message(cid, "hello?")
        assert notice.ai_message is not None
        assert notice.ai_message.sender is Sender.SYSTEM
        assert (await customer.rest.post_message(cid, "hello??")).ai_message is None
        await bot.set_system_mode("hitl")
        assert (await inbox.expect(Event.SYSTEM_MODE_UPDATE)).mode is SystemMode.HITL

        # a second agent; set_personal_status afk -> tickets-reassigned (agent_afk)
        bot2 = await stack.enter_async_context(agent_client(server, "bot-2"))
        await inbox.expect(
            Event.CONNECTED_AGENTS_UPDATE, lambda e: any(a.id == "bot-2" for a in e.agents)
        )
        assert (await bot.assign(cid)).assigned_agent == "bot-1"
        manual = await inbox.expect(
            Event.TICKETS_REASSIGNED, lambda e: e.reason is ReassignReason.MANUAL_ASSIGN
        )
        assert isinstance(manual, TicketsReassignedEvent)
        assert manual.reason is ReassignReason.MANUAL_ASSIGN
        afk = await bot.set_personal_status("afk")
        assert afk.agent.personal_status == "afk"
        assert afk.agent.status == "busy"
        moved = await inbox.expect(
            Event.TICKETS_REASSIGNED, lambda e: e.reason is ReassignReason.AGENT_AFK
        )
        assert moved.reason is ReassignReason.AGENT_AFK
        assert [
            (r.conversation_id, r.from_agent_id, r.to_agent_id) for r in moved.reassignments
        ] == [(cid, "bot-1", "bot-2")]
        assert [r.conversation_id for r in afk.reassignments] == [cid]
        await bot.set_personal_status("online")

        # bulk_assign -> tickets-reassigned (bulk_assign)
        other = await bot2.rest.create_conversation(visitor_id="visitor-bob")
        bulk = await bot.bulk_assign([cid, other.conversation_id])
        assert {r.conversation_id for r in bulk} == {cid, other.conversation_id}
        assert all(r.to_agent_id == "bot-1" for r in bulk)
        bulk_event = await inbox.expect(
            Event.TICKETS_REASSIGNED, lambda e: e.reason is ReassignReason.BULK_ASSIGN
        )
        assert {r.conversation_id for r in bulk_event.reassignments} == {
            cid,
            other.conversation_id,
        }

        # error-event on a bad payload reaches on_error and on("error-event")
        bad = TypingPayload.model_construct(conversation_id="", is_typing=True)  # skips validation
        await bot.manager.send(Event.AGENT_TYPING, bad)
        rejected = await inbox.expect(Event.ERROR_EVENT)
        assert isinstance(rejected, ErrorEvent)
        assert (rejected.code, rejected.event) == ("invalid_payload", "agent-typing")
        assert rejected.details
        await bot_errors.expect(InvalidPayloadError)
        with pytest.raises(InvalidPayloadError):
            await bot.manager.send(Event.AGENT_TYPING, bad, ack=True)
        # a heartbeat from a socket that never joined as an agent -> not_joined
        await customer.manager.send(Event.HEARTBEAT, {"timestamp": 1})
        await customer_errors.expect(NotJoinedError)

        # REST errors carry the server's code
        with pytest.raises(NotFoundError):
            await bot.history("no-such-conversation")
        await bot.end_conversation(cid)
        assert cid in {c.id for c in await bot.conversations("ended")}
        with pytest.raises(ConflictError):
            await bot.respond(cid, "too late")

        # nothing went wrong besides the two provoked errors
        unexpected = [
            e
            for e in bot_errors.seen + customer_errors.seen
            if not isinstance(e, InvalidPayloadError)
        ]
        assert all(isinstance(e, NotJoinedError) for e in unexpected), unexpected


async def test_token_mode_denials(tmp_path: Path) -> None:
    """§8 with the Node server: agent_key, the customer's token, and every refusal."""
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(node_server(tmp_path, "token"))

        # a wrong agent key, or a bad token: refused at connect (connect_error / 401)
        with pytest.raises(AuthError):
            async with AgentClient(server.url, agent_id="bot-x", agent_key="wrong", **FAST):
                pass
        with pytest.raises(AuthError):
            async with AgentClient(server.url, agent_id="bot-x", token="not.a.token", **FAST):
                pass
        async with RestClient(server.url, retry_base=0.01) as anonymous:
            with pytest.raises(AuthError):
                await anonymous.all_messages()
            token = (await anonymous.agent_token("bot-1", AGENT_KEY)).token

        bot = await stack.enter_async_context(agent_client(server, "bot-1"))
        customer = await stack.enter_async_context(customer_client(server))
        sent = await customer.send_message("first message creates the conversation")
        cid = customer.conversation_id
        assert cid is not None
        assert cid == sent.conversation_id
        assert customer.token is not None  # the one the first message's answer brought

        # the customer's token, reused by a second widget: joins its room, gets replies
        widget = customer_client(server, conversation_id=cid, token=customer.token)
        at_widget = Inbox(widget, Event.AGENT_MESSAGE)
        await stack.enter_async_context(widget)
        reply = await bot.respond(cid, "hello from bot-1")
        got = await at_widget.expect(Event.AGENT_MESSAGE, lambda e: e.message.id == reply.id)
        assert got.message.content == "hello from bot-1"
        await widget.typing(True)

        # ...but may not join the dashboard, read the agents' feed, or another conversation
        with pytest.raises(ForbiddenError):
            async with AgentClient(server.url, agent_id="bot-1", token=customer.token, **FAST):
                pass
        async with RestClient(server.url, token=customer.token, retry_base=0.01) as as_customer:
            with pytest.raises(ForbiddenError):
                await as_customer.all_messages()
            other = await bot.rest.create_conversation()
            with pytest.raises(ForbiddenError):
                await as_customer.conversation_messages(other.conversation_id)
            with pytest.raises(ForbiddenError):
                await as_customer.agent_respond(cid, "impersonating", "bot-1")
        # an agent token is good for its own agent id only
        with pytest.raises(ForbiddenError):
            async with AgentClient(server.url, agent_id="bot-2", token=token, **FAST):
                pass
        async with AgentClient(server.url, agent_id="bot-1", token=token, **FAST) as same:
            assert await same.request_current_state("system-mode") is SystemMode.HITL


# ---------------------------------------------------------------------------
# Server restarts under connected clients


async def _restart(server: NodeServer, *clients: Changes) -> None:
    await server.crash()
    for changes in clients:
        await changes.reach(ConnectionState.RECONNECTING)
    await server.start()  # the same port
    for changes in clients:
        await changes.reach(ConnectionState.CONNECTED)


@pytest.mark.parametrize("auth", AUTH_MODES)
async def test_restart_with_persisted_state(tmp_path: Path, auth: str) -> None:
    """A restart as CONTRACT.md §7 describes it (seq survives): the SDK carries on."""
    state = tmp_path / "state.json"
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(node_server(tmp_path, auth, state=state))
        bot = agent_client(server, "bot-1")
        inbox = Inbox(bot, Event.NEW_MESSAGE, Event.HEARTBEAT_ACK, Event.CONNECTED_AGENTS_UPDATE)
        bot_changes = Changes(bot)
        seen_by_bot: list[str] = []
        bot.on(Event.NEW_MESSAGE, lambda e: seen_by_bot.append(e.message.id))
        await stack.enter_async_context(bot)
        customer = customer_client(server)
        at_customer = Inbox(customer, Event.AGENT_MESSAGE, Event.AGENT_TYPING_STATUS)
        customer_changes = Changes(customer)
        seen_by_customer: list[str] = []
        customer.on(Event.AGENT_MESSAGE, lambda e: seen_by_customer.append(e.message.id))
        await stack.enter_async_context(customer)
        await customer.start_conversation()
        cid = customer.conversation_id
        assert cid is not None
        await bot.join_conversation(cid)
        before = await customer.send_message("before the restart")
        await inbox.expect(Event.NEW_MESSAGE, lambda e: e.message.id == before.id)
        answer = await bot.respond(cid, "answer before")
        await at_customer.expect(Event.AGENT_MESSAGE, lambda e: e.message.id == answer.id)

        await _restart(server, bot_changes, customer_changes)

        # dashboard re-joined, heartbeats resumed
        await inbox.expect(
            Event.CONNECTED_AGENTS_UPDATE,
            lambda e: any(a.id == "bot-1" and a.connected for a in e.agents),
        )
        await inbox.expect(Event.HEARTBEAT_ACK)
        # a customer message after the restart reaches the bot once, with the next seq
        after = await customer.send_message("after the restart")
        assert after.seq > answer.seq
        await inbox.expect(Event.NEW_MESSAGE, lambda e: e.message.id == after.id)
        # the customer's room was re-joined: typing and replies arrive
        await bot.typing(cid, True)
        await at_customer.expect(Event.AGENT_TYPING_STATUS, lambda e: e.is_typing)
        reply = await bot.respond(cid, "answer after")
        await at_customer.expect(Event.AGENT_MESSAGE, lambda e: e.message.id == reply.id)
        await inbox.expect(Event.NEW_MESSAGE, lambda e: e.message.id == reply.id)
        # every stored message reached the bot exactly once, every reply the customer once
        stored = await bot.history(cid)
        assert seen_by_bot == [m.id for m in stored]
        assert seen_by_customer == [m.id for m in stored if m.sender is Sender.AGENT]
        assert bot.last_seq == reply.seq


@pytest.mark.parametrize("auth", AUTH_MODES)
async def test_restart_of_in_memory_server_reconnects(tmp_path: Path, auth: str) -> None:
    """An in-memory server restarts empty (outside §7): the SDK reconnects and re-joins.

    Conversations created after the reset reach the bot; typing flows again both ways.
    """
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(node_server(tmp_path, auth))
        bot = agent_client(server, "bot-1")
        inbox = Inbox(
            bot,
            Event.NEW_CONVERSATION,
            Event.CUSTOMER_TYPING_STATUS,
            Event.HEARTBEAT_ACK,
            Event.CONNECTED_AGENTS_UPDATE,
        )
        bot_changes = Changes(bot)
        await stack.enter_async_context(bot)
        customer = customer_client(server)
        at_customer = Inbox(customer, Event.AGENT_TYPING_STATUS)
        customer_changes = Changes(customer)
        await stack.enter_async_context(customer)
        await customer.start_conversation()
        cid = customer.conversation_id
        assert cid is not None
        await bot.join_conversation(cid)

        await _restart(server, bot_changes, customer_changes)

        await inbox.expect(
            Event.CONNECTED_AGENTS_UPDATE,
            lambda e: any(a.id == "bot-1" and a.connected for a in e.agents),
        )
        await inbox.expect(Event.HEARTBEAT_ACK)
        # both rooms re-joined on the new server
        await customer.typing(True)
        await inbox.expect(Event.CUSTOMER_TYPING_STATUS, lambda e: e.conversation_id == cid)
        await bot.typing(cid, True)
        await at_customer.expect(Event.AGENT_TYPING_STATUS)
        # a brand-new customer after the reset is seen by the bot
        async with customer_client(server) as newcomer:
            created = await newcomer.start_conversation()
            await inbox.expect(Event.NEW_CONVERSATION, lambda e: e.conversation_id == created.id)


async def test_messages_after_an_in_memory_reset_reach_the_bot(tmp_path: Path) -> None:
    """Outside CONTRACT.md (§7 says seq survives a restart), but what a user would expect."""
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(node_server(tmp_path, "none"))
        bot = agent_client(server, "bot-1")
        inbox = Inbox(bot, Event.NEW_MESSAGE)
        bot_changes = Changes(bot)
        await stack.enter_async_context(bot)
        customer = customer_client(server)
        at_customer = Inbox(customer, Event.AGENT_MESSAGE)
        customer_changes = Changes(customer)
        await stack.enter_async_context(customer)
        for text in ("one", "two", "three"):
            sent = await customer.send_message(text)
            await inbox.expect(Event.NEW_MESSAGE, with_id(sent.id))
        cid = customer.conversation_id
        assert cid is not None

        await _restart(server, bot_changes, customer_changes)

        after = await customer.send_message("after the reset")
        assert after.seq == 1  # the server starts counting again
        got = await inbox.expect(Event.NEW_MESSAGE, lambda e: e.conversation_id == cid, seconds=3)
        assert got.message.id == after.id
        reply = await bot.respond(cid, "still here")
        await at_customer.expect(Event.AGENT_MESSAGE, lambda e: e.message.id == reply.id, seconds=3)


# ---------------------------------------------------------------------------
# vilnius-sim against the Node server


@pytest.mark.parametrize("auth", AUTH_MODES)
async def test_vilnius_sim_against_node(tmp_path: Path, auth: str) -> None:
    """``vilnius-sim --url <node> --agents 2 --customers 5 --messages 30``: exit 0, nothing lost."""
    async with node_server(tmp_path, auth) as server:
        report = tmp_path / "sim.json"
        args = ["--url", server.url, "--agents", "2", "--customers", "5", "--messages", "30"]
        args += ["--rate", "30", "--quiet", "--seed", "7", "--json", str(report)]
        if server.agent_key:
            args += ["--agent-key", server.agent_key]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vilnius_client.sim",
            *args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), scaled(90))
    output = stdout.decode(errors="replace")[-3000:] + stderr.decode(errors="replace")[-3000:]
    assert process.returncode == 0, output
    data = json.loads(report.read_text())
    assert data["ok"] is True, output
    assert data["drained"] is True, output
    assert data["errors"] == 0, output
    for name in ("new-message", "agent-message", "customer-typing-status", "agent-typing-status"):
        counts = data["events"][name]
        assert counts["delivered"] == counts["expected"] > 0, (name, counts)
        assert counts["lost"] == counts["duplicated"] == 0, (name, counts)
    assert data["events"]["agent-message"]["sent"] == 30
