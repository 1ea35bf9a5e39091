"""Reconnection: server restart on the same port, zombie links, first-connect
retries, giving up, circuit breaker, stable-connection reset."""

from __future__ import annotations

import asyncio
import time

import pytest

from mock_server import RunningServer
from tests.client._core_support import FAST, Transitions, post
from tests.conftest import scaled
from tests.faults.timing import wait_until
from vilnius_client import (
    AgentMessageEvent,
    ConnectionState,
    Event,
    ModernWebSocketManager,
    TransportError,
)

S = ConnectionState


async def test_restart_rejoins_rooms_and_resumes_heartbeats(server: RunningServer) -> None:
    await post(server.url, "/api/messages", {"conversationId": "c1", "message": "hi"})
    tokens = 0

    def token() -> str:
        nonlocal tokens
        tokens += 1
        return "unused"

    bot = ModernWebSocketManager(
        server.url, agent_id="a1", token=token, heartbeat_interval=0.2, **FAST
    )
    widget = ModernWebSocketManager(server.url, **FAST)
    bot_changes, widget_changes = Transitions(bot), Transitions(widget)
    async with bot, widget:
        await widget.join_conversation("c1")
        await server.stop()
        lost = await bot_changes.wait(S.RECONNECTING)
        await widget_changes.wait(S.RECONNECTING)
        await server.start()
        await bot_changes.wait(S.CONNECTED, after=lost)
        await widget_changes.wait(S.CONNECTED, after=lost)

        # heartbeats resumed on the new connection
        ack = await bot.wait_for(Event.HEARTBEAT_ACK, timeout=scaled(5))
        assert ack.agent_id == "a1"
        # the conversation room was joined again: the server's room emit arrives
        reply = asyncio.create_task(widget.wait_for(Event.AGENT_MESSAGE, timeout=scaled(5)))
        body = {"conversationId": "c1", "message": "back", "agentId": "a1"}
        await post(server.url, "/api/agent/respond", body)
        event: AgentMessageEvent = await reply
        assert event.message.content == "back"
        # the dashboard was joined again: agents-room events arrive
        message = asyncio.create_task(bot.wait_for(Event.NEW_MESSAGE, timeout=scaled(5)))
        await post(server.url, "/api/messages", {"conversationId": "c1", "message": "again"})
        assert (await message).message.content == "again"
    assert tokens >= 2  # asked again on the reconnect
    assert bot_changes.changes[lost].reason.startswith("disconnected")


async def test_zombie_link_is_detected_by_missing_heartbeat_acks(server: RunningServer) -> None:
    interval, timeout = 0.2, 0.3
    bot = ModernWebSocketManager(
        server.url, agent_id="a1", heartbeat_interval=interval, heartbeat_timeout=timeout, **FAST
    )
    changes = Transitions(bot)
    errors: list[BaseException] = []
    bot.on_error(errors.append)
    async with bot:
        server.faults.withhold_heartbeat_acks = True
        started = time.monotonic()
        lost = await changes.wait(S.RECONNECTING, within=interval + timeout + 2)
        detected = time.monotonic() - started
        server.faults.withhold_heartbeat_acks = False
        assert detected <= scaled(interval + timeout + 0.3)
        assert "heartbeat-ack" in changes.changes[lost].reason
        await changes.wait(S.CONNECTED, after=lost)
        await bot.wait_for(Event.HEARTBEAT_ACK, timeout=scaled(5))
    assert any(isinstance(e, TransportError) and "heartbeat" in str(e) for e in errors)


async def test_first_connect_retries_until_the_server_is_up(server: RunningServer) -> None:
    await server.stop()
    manager = ModernWebSocketManager(server.url, **FAST)
    failed = asyncio.Event()
    manager.on_error(lambda exc: failed.set())
    connecting = asyncio.create_task(manager.connect())
    await asyncio.wait_for(failed.wait(), scaled(5))
    assert manager.state is S.CONNECTING
    assert manager.get_connection_status().attempts >= 1
    await server.start()
    await asyncio.wait_for(connecting, scaled(5))
    assert manager.connected
    await manager.disconnect()


async def test_gives_up_after_the_allowed_attempts(server: RunningServer) -> None:
    await server.stop()
    manager = ModernWebSocketManager(server.url, reconnection_attempts=2, **FAST)
    errors: list[BaseException] = []
    manager.on_error(errors.append)
    with pytest.raises(TransportError):
        await asyncio.wait_for(manager.connect(), scaled(5))
    assert manager.state is S.DISCONNECTED
    assert len(errors) == 3
    # a manager that gave up may be started again
    await server.start()
    await asyncio.wait_for(manager.connect(), scaled(5))
    assert manager.connected
    await manager.disconnect()


async def test_circuit_opens_then_half_open_trial_succeeds(server: RunningServer) -> None:
    await server.stop()
    manager = ModernWebSocketManager(server.url, max_errors=2, circuit_cooldown=0.2, **FAST)
    changes = Transitions(manager)
    connecting = asyncio.create_task(manager.connect())
    opened = await changes.wait(S.CIRCUIT_OPEN)
    assert changes.changes[opened].reason == "2 consecutive failures"
    trial = await changes.wait(S.CONNECTING, after=opened)
    assert changes.changes[trial].reason == "half-open trial"
    await server.start()
    await asyncio.wait_for(connecting, scaled(5))
    assert manager.connected
    await manager.disconnect()


async def test_attempt_counter_resets_only_when_stable(server: RunningServer) -> None:
    manager = ModernWebSocketManager(server.url, stable_after=0.3, **FAST)
    changes = Transitions(manager)
    async with manager:
        await server.stop()
        lost = await changes.wait(S.RECONNECTING)
        await server.start()
        back = await changes.wait(S.CONNECTED, after=lost)
        assert manager.get_connection_status().attempts >= 1
        await wait_until(lambda: not manager.get_connection_status().attempts, 3)
        assert changes.states[back:] == [S.CONNECTED]


async def test_cancelled_connect_leaves_nothing_running(server: RunningServer) -> None:
    await server.stop()
    manager = ModernWebSocketManager(server.url, **FAST)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(manager.connect(), 0.3)
    assert manager.state is S.DISCONNECTED
    await manager.disconnect()
    assert manager.get_connection_status().state.value == "closed"
