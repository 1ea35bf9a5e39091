"""Every flow of the events reference (the seed), through the public API, on both servers.

Each test runs against the contract (``vilnius``) and against production's behaviour
(``lizdeika``) with the same bot code; only how a bot names itself differs (an agent id,
or an agent user's login: :meth:`tests.deployments.Deployment.agent`).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import scaled
from tests.deployments import Deployment, Inbox, first_of
from vilnius_client import (
    AgentData,
    AgentMessageEvent,
    Event,
    NewMessageEvent,
    PersonalStatus,
    Sender,
    SystemMode,
)
from vilnius_client.events import (
    AgentSentMessageEvent,
    AgentTypingStatusEvent,
    ConnectedAgentsUpdateEvent,
    ConversationStatus,
    CustomerTypingStatusEvent,
    HeartbeatAckEvent,
    NewConversationEvent,
    StateType,
    SystemModeUpdateEvent,
)

from .conftest import next_event


def connected_ids(event: ConnectedAgentsUpdateEvent) -> set[str]:
    return {agent.id for agent in event.agents if agent.connected}


async def test_agent_joins_the_dashboard_heartbeats_and_asks_for_state(
    deployment: Deployment,
) -> None:
    modes, agents = Inbox(), Inbox()
    ada = deployment.agent("ada", heartbeat_interval=0.1)
    ada.on(Event.SYSTEM_MODE_UPDATE, modes)  # registered before connecting
    ada.on("connected-agents-update", agents)
    async with ada:
        me = ada.agent_id
        assert me is not None
        ack = await ada.wait_for("heartbeat-ack", timeout=scaled(5))
        assert isinstance(ack, HeartbeatAckEvent)
        assert ack.agent_id == me
        assert ada.latency is not None
        joined = await modes.first(lambda _: True)
        assert isinstance(joined, SystemModeUpdateEvent)
        assert joined.mode is SystemMode.HITL
        await agents.first(lambda event: me in connected_ids(event))
        assert await ada.request_current_state("system-mode", timeout=scaled(5)) is SystemMode.HITL
        listed = await ada.request_current_state(StateType.CONNECTED_AGENTS, timeout=scaled(5))
        assert me in {agent.id for agent in listed}
        assert all(isinstance(agent, AgentData) for agent in listed)
        assert ada.get_connection_status().connected
        assert ada.capabilities is not None
        assert ada.capabilities.name == deployment.profile


async def test_a_conversation_from_the_widget_to_the_agent_and_back(
    deployment: Deployment,
) -> None:
    async with (
        deployment.agent("ada") as ada,
        deployment.customer(visitor_id="v-1") as customer,
        ada.stream(Event.NEW_CONVERSATION) as conversations,
        ada.stream("new-message") as messages,
        ada.stream("customer-typing-status") as customer_typing,
    ):
        sent = await customer.send_message("Where is my order?")
        cid = customer.conversation_id
        assert cid == sent.conversation_id
        assert cid is not None
        assert cid.startswith("session-"), "the widget's way: the first message creates it"
        created = await next_event(conversations)
        assert isinstance(created, NewConversationEvent)
        assert created.conversation_id == cid
        message = await next_event(messages)
        assert isinstance(message, NewMessageEvent)
        assert message.conversation_id == cid
        assert message.message.id == sent.id
        assert message.message.sender is Sender.VISITOR
        assert message.message.content == "Where is my order?"
        assert not message.replayed

        await customer.typing(True)
        typing = await next_event(customer_typing)
        assert isinstance(typing, CustomerTypingStatusEvent)
        assert typing.conversation_id == cid
        assert typing.is_typing

        async with (
            customer.stream("agent-typing-status") as agent_typing,
            customer.stream(Event.AGENT_MESSAGE) as replies,
            ada.stream("agent-sent-message") as sent_by_agents,
        ):
            await ada.typing(cid, True)
            typed = await next_event(agent_typing)
            assert isinstance(typed, AgentTypingStatusEvent)
            assert typed.is_typing
            stored = await ada.respond(cid, "On its way!")
            reply = await next_event(replies)
            assert isinstance(reply, AgentMessageEvent)
            assert reply.message.id == stored.id
            assert reply.message.sender is Sender.AGENT
            assert reply.message.agent_id == ada.agent_id
            assert not reply.replayed
            # Agents hear of a reply: as new-message (contract) or agent-sent-message (production).
            heard = await first_of(
                _next_matching(messages, lambda e: e.message.id == stored.id),
                _next_matching(sent_by_agents, lambda e: e.message.id == stored.id),
            )
            assert isinstance(heard, NewMessageEvent | AgentSentMessageEvent)
            assert heard.conversation_id == cid


async def _next_matching(events: Any, predicate: Any) -> Any:
    async for event in events:
        if predicate(event):
            return event
    raise AssertionError("stream ended")


async def test_every_rest_call_of_an_agent(deployment: Deployment) -> None:
    async with (
        deployment.agent("ada") as ada,
        deployment.agent("bob") as bob,
        deployment.customer() as first_customer,
        deployment.customer() as second_customer,
    ):
        assert ada.agent_id is not None
        assert bob.agent_id is not None
        started = await first_customer.start_conversation(metadata={"page": "/help"})
        assert first_customer.conversation_id == started.id
        await first_customer.send_message("hello")
        second = (await second_customer.send_message("hi")).conversation_id

        reply = await ada.respond(started.id, "hi there")
        assert reply.sender is Sender.AGENT
        said = [
            m.content
            for m in await ada.history(started.id)
            if m.sender in (Sender.VISITOR, Sender.AGENT)
        ]
        assert said == ["hello", "hi there"]
        history = await first_customer.history()
        assert [m.id for m in history if m.sender is Sender.AGENT] == [reply.id]

        listed = {c.id: c for c in await ada.conversations()}
        assert {started.id, second} <= set(listed)
        assert {started.id, second} <= {c.id for c in await ada.conversations("active")}
        assert {a.id for a in await ada.connected_agents()} >= {ada.agent_id, bob.agent_id}

        away = await bob.set_personal_status("afk")
        assert bob.capabilities is not None
        assert away.agent.personal_status is bob.capabilities.away_status
        back = await bob.set_personal_status(PersonalStatus.ONLINE)
        assert back.agent.personal_status is PersonalStatus.ONLINE

        assigned = await ada.assign(second, bob.agent_id)
        assert assigned.assigned_agent == bob.agent_id
        moved = await ada.bulk_assign([started.id, second])
        assert (moved if isinstance(moved, int) else len(moved)) == 2
        owners = {c.id: c.assigned_agent for c in await ada.conversations()}
        assert owners[started.id] == owners[second] == ada.agent_id
        await ada.end_conversation(second)
        assert second not in {c.id for c in await ada.conversations(ConversationStatus.ARCHIVED)}


async def test_agents_come_and_go(deployment: Deployment) -> None:
    async with deployment.agent("ada") as ada, ada.stream("connected-agents-update") as updates:
        bob = deployment.agent("bob")
        async with bob:
            update = await next_event(updates)
            while bob.agent_id not in connected_ids(update):
                update = await next_event(updates)
        # Bob's dashboard closed: the agents hear of it (production keeps bob listed as
        # active for 5 minutes, in case the dashboard comes back; the contract shows him gone).
        after = await next_event(updates)
        assert isinstance(after, ConnectedAgentsUpdateEvent)


async def test_system_mode_toggle_and_autopilot(deployment: Deployment) -> None:
    async with (
        deployment.agent("ada") as ada,
        deployment.customer() as customer,
        ada.stream(Event.SYSTEM_MODE_UPDATE) as modes,
    ):
        await customer.send_message("first")
        # The mode sent when ada joined the dashboard came before the stream existed: it
        # was held for the first consumer, as it would have reached one opened earlier.
        assert (await next_event(modes)).mode is SystemMode.HITL
        assert await ada.set_system_mode("autopilot") is SystemMode.AUTOPILOT
        assert (await next_event(modes)).mode is SystemMode.AUTOPILOT
        assert await ada.get_system_mode() is SystemMode.AUTOPILOT
        async with customer.stream("agent-message") as replies:
            answer = await customer.send_message("anyone there?")
            reply = await next_event(replies)
        # Production answers autopilot replies only in the POST answer; the SDK hands
        # them to the agent-message handlers as the contract's server sends them.
        assert reply.message.sender is Sender.AGENT
        assert reply.message.conversation_id == answer.conversation_id
        stored = {m.id: m.sender for m in await customer.history()}
        assert stored[answer.id] is Sender.VISITOR
        assert stored[reply.message.id] is Sender.AGENT
        await ada.set_system_mode(SystemMode.HITL)
        assert (await next_event(modes)).mode is SystemMode.HITL


async def test_a_handler_that_fails_does_not_stop_the_others(deployment: Deployment) -> None:
    errors: list[BaseException] = []
    seen = Inbox()

    def broken(event: NewMessageEvent) -> None:
        raise RuntimeError("bug in a bot")

    async with deployment.agent("bot") as bot, deployment.customer() as customer:
        bot.on_error(errors.append)
        bot.on("new-message", broken)
        bot.on("new-message", seen)
        await customer.send_message("hello")
        await seen.until(1)
    assert any(isinstance(error, RuntimeError) for error in errors)
