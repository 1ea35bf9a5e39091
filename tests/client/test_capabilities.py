"""One ServerCapabilities value decides every extra: a test per capability switched off.

Most run against the contract's server with one capability switched off by the client
(``server=ServerCapabilities.contract().replace(...)``): the server still offers it,
so what the test sees is the SDK doing without it. ``error_event`` has no test of its
own: the SDK never waits for an ``error-event`` nor needs one (it validates what it
sends), so switching it off changes nothing it does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mock_server import RunningServer, serve
from tests.client._core_support import scripted_server
from tests.conftest import scaled
from tests.deployments import Deployment, Inbox, Lost, server_config
from vilnius_client import (
    AgentClient,
    AuthError,
    ConnectionLostError,
    CustomerClient,
    Event,
    InternalServerError,
    ModernWebSocketManager,
    ReplyTimeoutError,
    RestClient,
    Sender,
    ServerCapabilities,
)

from .conftest import FAST

CONTRACT = ServerCapabilities.contract()


def test_capabilities_from_health() -> None:
    from vilnius_client.events import HealthResponse

    contract = HealthResponse.model_validate(
        {"status": "ok", "contract": {"name": "vilnius", "version": 1, "features": ["seq"]}}
    )
    caps = ServerCapabilities.from_health(contract)
    assert caps.seq
    assert not caps.acks
    assert not caps.user_login
    assert caps.features == {"seq"}
    production = ServerCapabilities.from_health(HealthResponse(status="ok"))
    assert production == ServerCapabilities.production()
    assert production.features == frozenset()
    assert production.user_login
    assert CONTRACT.replace(acks=False).features == CONTRACT.features - {"acks"}


async def test_auto_asks_health_and_a_named_server_does_not(deployment: Deployment) -> None:
    async with RestClient(deployment.url) as rest:
        caps = await rest.probe()
    expected = (
        ServerCapabilities.production()
        if deployment.profile == "lizdeika"
        else ServerCapabilities.contract()
    )
    assert caps == expected
    # Told which server it is, the client never asks (nothing listens at this address).
    async with RestClient("http://127.0.0.1:9", server="lizdeika") as rest:
        assert await rest.probe() == ServerCapabilities.production()
    with pytest.raises(ValueError, match="server must be"):
        RestClient("http://127.0.0.1:9", server="postgres")  # type: ignore[arg-type]


async def test_acks_off_a_join_is_done_when_sent_and_confirmed_by_an_answer() -> None:
    """A server that never acknowledges (production): connecting does not wait for acks."""
    async with scripted_server() as fake:
        log: list[tuple[str, Any]] = []
        never = asyncio.Event()

        @fake.on("join-agent-dashboard")
        async def join(sid: str, agent_id: Any) -> None:
            log.append(("join-agent-dashboard", agent_id))
            await never.wait()  # no acknowledgement, ever (python-socketio acks on return)

        @fake.on("join-conversation")
        async def join_conversation(sid: str, conversation_id: Any) -> None:
            log.append(("join-conversation", conversation_id))

        @fake.on("heartbeat")
        async def heartbeat(sid: str, data: Any) -> None:
            log.append(("heartbeat", None))

        @fake.on("request-current-state")
        async def state(sid: str, kind: Any) -> None:
            log.append(("request-current-state", kind))
            await fake.sio.emit("current-state", {"type": kind, "data": "hitl"}, to=sid)

        answers = Inbox()
        # No /health there (404): taken for production, without acknowledgements.
        manager = ModernWebSocketManager(fake.url, agent_id="a1", ack_timeout=5.0, **FAST)
        manager.on(Event.CURRENT_STATE, answers)
        await manager.join_conversation("c1")
        async with manager:
            assert manager.capabilities == ServerCapabilities.production()
            assert manager.connected
            names = [name for name, _ in log]
            assert names.index("join-agent-dashboard") < names.index("request-current-state")
            assert names.index("join-conversation") < names.index("request-current-state")
            await manager.join_conversation("c2")
            assert ("join-conversation", "c2") in log
        assert answers.items == [], "the confirming answers are not handed to handlers"

        # The same server taken for a contract one: the join waits for an ack that never comes.
        errors: list[BaseException] = []
        waiting = ModernWebSocketManager(
            fake.url, agent_id="a1", ack_timeout=0.2, server="vilnius", **FAST
        )
        waiting.on_error(errors.append)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(waiting.connect(), scaled(1))
        await waiting.disconnect()
        assert any(isinstance(error, ReplyTimeoutError) for error in errors)


async def test_acks_off_a_server_that_never_answers_still_connects() -> None:
    """The confirmation is a safety net, not a condition: without it the join stands."""
    async with scripted_server() as fake:
        errors: list[BaseException] = []
        manager = ModernWebSocketManager(fake.url, agent_id="a1", ack_timeout=0.3, **FAST)
        manager.on_error(errors.append)
        await asyncio.wait_for(manager.connect(), scaled(5))
        try:
            assert manager.connected
            assert [type(error) for error in errors] == [ReplyTimeoutError]
        finally:
            await manager.disconnect()


@pytest.mark.parametrize("off", ["seq", "catch_up"])
async def test_without_seq_or_catch_up_agents_recover_by_message_id(
    server: RunningServer, off: str
) -> None:
    inbox = Inbox()
    bot = AgentClient(
        server.url,
        agent_id="bot",
        server=CONTRACT.replace(**{off: False}),
        fallback_after=None,
        **FAST,
    )
    bot.on("new-message", inbox)
    away = Lost(bot)
    async with bot, CustomerClient(server.url, **FAST) as customer:
        await customer.send_message("live")
        await inbox.until(1)
        server.faults.block_sockets = True
        await server.stop()
        await server.start()
        await away.wait_lost()
        missed = [await customer.send_message(f"missed {n}") for n in range(2)]
        server.faults.block_sockets = False
        await away.wait_back()
        await inbox.until(3)
        after = await customer.send_message("after")
        await inbox.until(4)
        assert bot.last_seq == (None if off == "seq" else bot.last_seq)
    assert [e.message.content for e in inbox.items] == ["live", "missed 0", "missed 1", "after"]
    assert [e.replayed for e in inbox.items] == [False, True, True, False]
    assert [e.message.id for e in inbox.items[1:3]] == [m.id for m in missed]
    assert inbox.items[-1].message.id == after.id


async def test_without_idempotency_an_ambiguous_send_is_not_repeated(server: RunningServer) -> None:
    async with CustomerClient(server.url, server=CONTRACT.replace(idempotency=False), **FAST) as me:
        await me.start_conversation()
        server.faults.drop_responses = 1  # stored, then the connection is cut
        with pytest.raises(ConnectionLostError) as caught:
            await me.send_message("exactly once, or not again")
        assert caught.value.may_have_acted is True
        server.faults.fail_requests = 1  # a 503 may have acted too
        with pytest.raises(InternalServerError) as unavailable:
            await me.send_message("second")
        assert unavailable.value.may_have_acted is True
        history = await me.history()
    assert [m.content for m in history if m.sender is Sender.VISITOR] == [
        "exactly once, or not again"
    ]


async def test_without_agent_tokens_an_agent_key_is_refused_at_once(server: RunningServer) -> None:
    bot = AgentClient(
        server.url,
        agent_id="a1",
        agent_key="key",
        server=CONTRACT.replace(agent_token=False),
        **FAST,
    )
    with pytest.raises(AuthError, match="no agent tokens"):
        await asyncio.wait_for(bot.connect(), scaled(5))
    await bot.disconnect()


async def test_an_agent_key_against_production_is_refused_at_once() -> None:
    async with serve(config=server_config("lizdeika")) as production:
        bot = AgentClient(production.url, agent_id="a1", agent_key="key", **FAST)
        with pytest.raises(AuthError, match="email and password"):
            await asyncio.wait_for(bot.connect(), scaled(5))
        await bot.disconnect()


async def test_without_customer_tokens_none_is_kept(server: RunningServer) -> None:
    async with CustomerClient(server.url, **FAST) as with_tokens:
        await with_tokens.start_conversation()
        assert with_tokens.token, "the contract's server answers a customer token"
    without = CustomerClient(server.url, server=CONTRACT.replace(customer_token=False), **FAST)
    async with without:
        await without.start_conversation()
        assert without.token is None
        await without.send_message("still works")


async def test_without_user_login_an_email_is_refused_at_once(server: RunningServer) -> None:
    bot = AgentClient(server.url, email="bot@example.com", password="secret", **FAST)
    with pytest.raises(AuthError, match="no e-mail/password login"):
        await asyncio.wait_for(bot.connect(), scaled(5))
    await bot.disconnect()
