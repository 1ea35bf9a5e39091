"""ModernWebSocketManager against the real reference server (and, for
misbehaviour, a scripted Socket.IO server): typed events, acks, errors,
isolation, lifecycle."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from mock_server import RunningServer
from tests.client._core_support import FAST, Transitions, post, scripted_server
from tests.conftest import scaled
from vilnius_client import (
    AgentMessageEvent,
    AuthError,
    ConnectionLostError,
    ConnectionState,
    Event,
    InvalidEventError,
    ModernWebSocketManager,
    NewMessageEvent,
    NotConnectedError,
    NotFoundError,
    NotJoinedError,
    ProtocolError,
    StateError,
    SystemMode,
)
from vilnius_client.events import (
    Ack,
    AgentTypingStatusEvent,
    ConnectedAgentsUpdateEvent,
    CurrentStateEvent,
    CustomerTypingStatusEvent,
    ErrorEvent,
    HeartbeatAckEvent,
    NewConversationEvent,
    SystemModeUpdateEvent,
    TicketsReassignedEvent,
    TypingPayload,
)


def client_side(tasks: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """The tasks that the client side could have left behind.

    Leaves out the reference server's per-socket tasks and asyncio's own
    helper tasks (``wait_for`` wrappers, which live only while their owner,
    then listed itself, awaits them).
    """
    server_side = ("engineio/async_s", "socketio/async_s", "mock_server", "aiohttp/web", "asyncio/")
    return {
        task
        for task in tasks
        if not any(part in task.get_coro().cr_code.co_filename for part in server_side)  # type: ignore[union-attr]
    }


def agent(url: str, **options: Any) -> ModernWebSocketManager:
    return ModernWebSocketManager(url, agent_id=options.pop("agent_id", "a1"), **FAST, **options)


async def test_every_server_event_reaches_handlers_typed(server: RunningServer) -> None:
    bot = agent(server.url)
    widget = ModernWebSocketManager(server.url, **FAST)
    got: dict[Event, list[Any]] = {event: [] for event in Event}
    seen_all = asyncio.Event()
    expected = {
        Event.SYSTEM_MODE_UPDATE: SystemModeUpdateEvent,
        Event.CONNECTED_AGENTS_UPDATE: ConnectedAgentsUpdateEvent,
        Event.HEARTBEAT_ACK: HeartbeatAckEvent,
        Event.NEW_CONVERSATION: NewConversationEvent,
        Event.NEW_MESSAGE: NewMessageEvent,
        Event.TICKETS_REASSIGNED: TicketsReassignedEvent,
        Event.CUSTOMER_TYPING_STATUS: CustomerTypingStatusEvent,
        Event.CURRENT_STATE: CurrentStateEvent,
        Event.AGENT_MESSAGE: AgentMessageEvent,
        Event.AGENT_TYPING_STATUS: AgentTypingStatusEvent,
        Event.ERROR_EVENT: ErrorEvent,
    }

    def recorder(event: Event) -> Any:
        async def record(model: Any) -> None:
            got[event].append(model)
            if all(got[e] for e in expected):
                seen_all.set()

        return record

    for event in expected:
        for manager in (bot, widget):
            manager.on(event, recorder(event))
    errors: list[BaseException] = []
    widget.on_error(errors.append)

    async with bot, widget:
        created = await post(server.url, "/api/messages", {"conversationId": "c1", "message": "hi"})
        assert created["conversationId"] == "c1"
        await widget.join_conversation("c1")
        await post(server.url, "/api/conversations/c1/assign", {"agentId": "a1"})
        await widget.send(Event.CUSTOMER_TYPING, {"conversation_id": "c1", "is_typing": True})
        await bot.send(Event.REQUEST_CURRENT_STATE, "system-mode")
        await bot.send(Event.AGENT_TYPING, TypingPayload(conversation_id="c1", is_typing=True))
        reply = {"conversationId": "c1", "message": "yo", "agentId": "a1"}
        await post(server.url, "/api/agent/respond", reply)
        await widget.send(Event.HEARTBEAT, {"timestamp": int(time.time() * 1000)})
        await asyncio.wait_for(seen_all.wait(), scaled(5))

    for event, model_type in expected.items():
        assert all(isinstance(m, model_type) for m in got[event]), event
    assert got[Event.NEW_MESSAGE][0].message.content == "hi"
    assert got[Event.NEW_MESSAGE][0].message.seq >= 1
    assert got[Event.NEW_CONVERSATION][0].conversation_id == "c1"
    assert got[Event.AGENT_MESSAGE][0].message.content == "yo"
    assert got[Event.CUSTOMER_TYPING_STATUS][0].is_typing is True
    assert got[Event.CURRENT_STATE][0].data is SystemMode.HITL
    assert got[Event.HEARTBEAT_ACK][0].agent_id == "a1"
    assert got[Event.ERROR_EVENT][0].code == "not_joined"
    # error-event also reaches the error listeners, as the mapped exception.
    assert any(isinstance(e, NotJoinedError) for e in errors)


async def test_ack_answers_and_negative_acks_raise_mapped_errors(server: RunningServer) -> None:
    await post(server.url, "/api/messages", {"conversationId": "c1", "message": "hi"})
    async with ModernWebSocketManager(server.url, **FAST) as widget:
        ack = await widget.send(Event.JOIN_CONVERSATION, "c1", ack=True)
        assert isinstance(ack, Ack)
        assert ack.ok
        assert await widget.send(Event.JOIN_CONVERSATION, "c1") is None
        await widget.join_conversation("c1")
        with pytest.raises(NotFoundError):
            await widget.join_conversation("nope")
        assert widget.rooms == ("c1",)


async def test_raising_handler_is_reported_and_does_not_stop_others(server: RunningServer) -> None:
    bot = agent(server.url)
    errors: list[BaseException] = []
    bot.on_error(errors.append)
    good: list[str] = []
    both = asyncio.Event()

    @bot.on(Event.NEW_MESSAGE)
    def broken(event: NewMessageEvent) -> None:
        raise RuntimeError("handler bug")

    @bot.on("new-message")
    async def fine(event: NewMessageEvent) -> None:
        good.append(event.message.content)
        if len(good) == 2:
            both.set()

    async with bot:
        for text in ("one", "two"):
            await post(server.url, "/api/messages", {"conversationId": "c1", "message": text})
        await asyncio.wait_for(both.wait(), scaled(5))
    assert good == ["one", "two"]
    assert [str(e) for e in errors if isinstance(e, RuntimeError)] == ["handler bug"] * 2


async def test_listeners_are_registered_with_on_and_removed_with_off(server: RunningServer) -> None:
    bot = agent(server.url)
    changes: list[ConnectionState] = []
    errors: list[BaseException] = []

    @bot.on_connection_change
    def record(change: Any) -> None:
        changes.append(change.new)

    @bot.on_error
    def failed(exc: BaseException) -> None:
        errors.append(exc)

    async with bot:
        assert changes == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
        bot.off_connection_change(record)
        bot.off_error(failed)
        bot.off_error(failed)  # unknown now: ignored
        await bot.send(Event.JOIN_CONVERSATION, "no-such-conversation")
        refused = await bot.wait_for(Event.ERROR_EVENT, timeout=scaled(5))
        assert refused.code == "not_found"  # reported too, but nobody listens now
    assert changes == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert errors == []


async def test_slow_handler_holds_up_only_its_conversation(server: RunningServer) -> None:
    bot = agent(server.url)
    release = asyncio.Event()
    order: list[str] = []
    fast_done = asyncio.Event()

    all_done = asyncio.Event()

    @bot.on(Event.NEW_MESSAGE)
    async def handle(event: NewMessageEvent) -> None:
        if event.message.content == "slow-1":
            await release.wait()
        order.append(event.message.content)
        if event.message.content == "fast-2":
            fast_done.set()
        if len(order) == 4:
            all_done.set()

    async with bot:
        for conversation, text in [
            ("slow", "slow-1"),
            ("slow", "slow-2"),
            ("fast", "fast-1"),
            ("fast", "fast-2"),
        ]:
            body = {"conversationId": conversation, "message": text}
            await post(server.url, "/api/messages", body)
        await asyncio.wait_for(fast_done.wait(), scaled(5))
        assert order == ["fast-1", "fast-2"]
        release.set()
        await asyncio.wait_for(all_done.wait(), scaled(5))
    assert order == ["fast-1", "fast-2", "slow-1", "slow-2"]


async def test_stream_and_wait_for(server: RunningServer) -> None:
    async with agent(server.url) as bot:
        async with bot.stream(Event.NEW_MESSAGE, maxsize=10) as messages:
            for text in ("a", "b", "c"):
                await post(server.url, "/api/messages", {"conversationId": "c1", "message": text})
            got = []
            async with asyncio.timeout(scaled(5)):
                async for event in messages:
                    got.append(event.message.content)
                    if len(got) == 3:
                        break
        assert got == ["a", "b", "c"]
        waiting = asyncio.create_task(
            bot.wait_for("new-message", lambda e: e.message.content == "z", timeout=scaled(5))
        )
        await post(server.url, "/api/messages", {"conversationId": "c2", "message": "z"})
        assert (await waiting).conversation_id == "c2"


async def test_volatile_sends_are_dropped_while_disconnected(server: RunningServer) -> None:
    manager = ModernWebSocketManager(server.url, **FAST)
    typing = TypingPayload(conversation_id="c1", is_typing=True)
    assert await manager.send(Event.CUSTOMER_TYPING, typing, volatile=True) is None
    with pytest.raises(NotConnectedError):
        await manager.send(Event.CUSTOMER_TYPING, typing)
    await manager.disconnect()


async def test_lifecycle_is_clean_idempotent_and_not_reentrant(server: RunningServer) -> None:
    before = asyncio.all_tasks()
    bot = agent(server.url, heartbeat_interval=0.05)
    transitions = Transitions(bot)
    stream = bot.stream(Event.NEW_MESSAGE)
    async with bot:
        status = bot.get_connection_status()
        assert status.connected
        assert status.state is ConnectionState.CONNECTED
        assert status.sid
        assert status.mode == "socket"
        await bot.wait_for(Event.HEARTBEAT_ACK, timeout=scaled(5))
        assert bot.latency is not None
        waiter = asyncio.create_task(bot.wait_for(Event.AGENT_MESSAGE, timeout=None))
        await asyncio.sleep(0)
    with pytest.raises(StateError):
        await waiter
    assert [event async for event in stream] == []
    assert transitions.states == [
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
        ConnectionState.CLOSED,
    ]
    await bot.disconnect()
    assert bot.state is ConnectionState.CLOSED
    with pytest.raises(StateError):
        async with bot:
            pass
    with pytest.raises(StateError):
        await bot.send(Event.HEARTBEAT, {"timestamp": 0})
    assert client_side(asyncio.all_tasks() - before) == set()


async def test_unknown_events_as_dicts_invalid_payloads_reported_raw() -> None:
    async with scripted_server() as fake:
        manager = ModernWebSocketManager(fake.url, **FAST)
        errors: list[BaseException] = []
        manager.on_error(errors.append)
        modes: list[SystemModeUpdateEvent] = []
        got_mode = asyncio.Event()
        custom: list[Any] = []

        def on_mode(event: SystemModeUpdateEvent) -> None:
            modes.append(event)
            got_mode.set()

        manager.on(Event.SYSTEM_MODE_UPDATE, on_mode)
        manager.on("ticket-updated", custom.append)
        async with manager:
            sid = fake.sids[-1]
            await fake.sio.emit("brand-new-event", {"x": 1}, to=sid)  # nobody listens: ignored
            await fake.sio.emit("ticket-updated", {"ticketId": "t1"}, to=sid)
            await fake.sio.emit("new-message", {"conversationId": 5}, to=sid)
            await fake.sio.emit("system-mode-update", {"mode": "autopilot", "extra": 1}, to=sid)
            await asyncio.wait_for(got_mode.wait(), scaled(5))
        assert [type(e) for e in errors] == [InvalidEventError]
        invalid = errors[0]
        assert isinstance(invalid, ProtocolError)
        assert isinstance(invalid, InvalidEventError)
        assert invalid.event == "new-message"
        assert invalid.payload == {"conversationId": 5}
        assert custom == [{"ticketId": "t1"}]
        assert modes[0].mode is SystemMode.AUTOPILOT
        assert modes[0].model_extra == {"extra": 1}


async def test_ack_fails_at_once_when_the_connection_drops() -> None:
    async with scripted_server() as fake:
        asked = asyncio.Event()
        never = asyncio.Event()

        @fake.on("join-conversation")
        async def join(sid: str, data: Any) -> Any:
            asked.set()
            await never.wait()  # never acknowledges

        manager = ModernWebSocketManager(fake.url, **{**FAST, "ack_timeout": 30.0})
        async with manager:
            pending = asyncio.create_task(manager.send(Event.JOIN_CONVERSATION, "c1", ack=True))
            await asyncio.wait_for(asked.wait(), scaled(5))  # the server has it, unanswered
            assert not pending.done()
            started = time.monotonic()
            await fake.sio.disconnect(fake.sids[-1])
            with pytest.raises(ConnectionLostError):
                await pending
            assert time.monotonic() - started < scaled(2)
            never.set()


async def test_auth_refused_in_token_mode(token_server: RunningServer) -> None:
    manager = ModernWebSocketManager(token_server.url, agent_id="a1", token="forged", **FAST)
    errors: list[BaseException] = []
    manager.on_error(errors.append)
    with pytest.raises(AuthError):
        await asyncio.wait_for(manager.connect(), scaled(5))
    assert manager.state is ConnectionState.DISCONNECTED
    assert isinstance(manager.get_connection_status().last_error, AuthError)
    assert any(isinstance(e, AuthError) for e in errors)
    await manager.disconnect()


async def test_token_callable_is_asked_on_connect(token_server: RunningServer) -> None:
    calls = 0

    async def token() -> str:
        nonlocal calls
        calls += 1
        answer = await post(
            token_server.url, "/api/auth/agent-token", {"agentId": "a1", "agentKey": "test-key"}
        )
        return str(answer["token"])

    async with ModernWebSocketManager(token_server.url, agent_id="a1", token=token, **FAST) as bot:
        ack = await bot.wait_for(Event.HEARTBEAT_ACK, timeout=scaled(5))
        assert ack.agent_id == "a1"
    assert calls == 1


def test_on_rejects_client_events_and_warns_of_typos(caplog: pytest.LogCaptureFixture) -> None:
    manager = ModernWebSocketManager("http://127.0.0.1:1")
    with caplog.at_level(logging.WARNING, logger="vilnius_client"):
        manager.on("new-mesage", print)  # subscribable (a newer server's event?), but suspicious
        manager.on("ticket-updated", print)
    assert [r.getMessage() for r in caplog.records if "did you mean" in r.getMessage()] == [
        "subscribed to 'new-mesage', which the SDK does not know (handlers get the raw "
        "payload); did you mean 'new-message'?"
    ]
    with pytest.raises(ValueError, match="not a server"):
        manager.on(Event.HEARTBEAT, print)
    with pytest.raises(ValueError, match="not an event name"):
        manager.on("", print)
    # Only the library's own NullHandler (Python's advice for libraries): no
    # handler that prints, and nothing added by constructing a manager.
    handlers = logging.getLogger("vilnius_client").handlers
    assert all(type(handler) is logging.NullHandler for handler in handlers)
