"""What mypy sees of the event API: checked by ``./dev lint`` (mypy --strict), never run.

Every ``assert_type`` must hold, and every ``# type: ignore[...]`` must be needed:
mypy's ``warn_unused_ignores`` (part of ``strict``) fails the lint when a line
that should be refused is accepted, so the refusals are tested too.
"""

from __future__ import annotations

from typing import Any, assert_type

from vilnius_client import (
    AgentClient,
    AgentMessageEvent,
    ConnectionChange,
    ConnectionState,
    CustomerClient,
    Event,
    EventStream,
    ModernWebSocketManager,
    NewMessageEvent,
    ServerEvent,
)
from vilnius_client.events import (
    AgentSentMessageEvent,
    AgentTypingStatusEvent,
    CategoriesUpdatedEvent,
    ConnectedAgentsUpdateEvent,
    ConversationSeenUpdateEvent,
    CurrentStateEvent,
    CustomerTypingStatusEvent,
    ErrorEvent,
    HeartbeatAckEvent,
    NewConversationEvent,
    SystemModeUpdateEvent,
    TicketCategoryAssignedEvent,
    TicketCategoryRemovedEvent,
    TicketsReassignedEvent,
)


async def every_event_waits_for_its_model(client: AgentClient) -> None:
    assert_type(await client.wait_for(Event.NEW_CONVERSATION, timeout=1), NewConversationEvent)
    assert_type(await client.wait_for("new-conversation", timeout=1), NewConversationEvent)
    assert_type(await client.wait_for(Event.NEW_MESSAGE, timeout=1), NewMessageEvent)
    assert_type(await client.wait_for("new-message", timeout=1), NewMessageEvent)
    assert_type(await client.wait_for(Event.AGENT_MESSAGE, timeout=1), AgentMessageEvent)
    assert_type(await client.wait_for("agent-message", timeout=1), AgentMessageEvent)
    assert_type(
        await client.wait_for(Event.CONNECTED_AGENTS_UPDATE, timeout=1), ConnectedAgentsUpdateEvent
    )
    assert_type(
        await client.wait_for("connected-agents-update", timeout=1), ConnectedAgentsUpdateEvent
    )
    assert_type(await client.wait_for(Event.SYSTEM_MODE_UPDATE, timeout=1), SystemModeUpdateEvent)
    assert_type(await client.wait_for("system-mode-update", timeout=1), SystemModeUpdateEvent)
    assert_type(await client.wait_for(Event.TICKETS_REASSIGNED, timeout=1), TicketsReassignedEvent)
    assert_type(await client.wait_for("tickets-reassigned", timeout=1), TicketsReassignedEvent)
    assert_type(
        await client.wait_for(Event.CUSTOMER_TYPING_STATUS, timeout=1), CustomerTypingStatusEvent
    )
    assert_type(
        await client.wait_for("customer-typing-status", timeout=1), CustomerTypingStatusEvent
    )
    assert_type(await client.wait_for(Event.AGENT_TYPING_STATUS, timeout=1), AgentTypingStatusEvent)
    assert_type(await client.wait_for("agent-typing-status", timeout=1), AgentTypingStatusEvent)
    assert_type(await client.wait_for(Event.HEARTBEAT_ACK, timeout=1), HeartbeatAckEvent)
    assert_type(await client.wait_for("heartbeat-ack", timeout=1), HeartbeatAckEvent)
    assert_type(await client.wait_for(Event.CURRENT_STATE, timeout=1), CurrentStateEvent)
    assert_type(await client.wait_for("current-state", timeout=1), CurrentStateEvent)
    assert_type(await client.wait_for(Event.ERROR_EVENT, timeout=1), ErrorEvent)
    assert_type(await client.wait_for("error-event", timeout=1), ErrorEvent)
    assert_type(await client.wait_for(Event.AGENT_SENT_MESSAGE, timeout=1), AgentSentMessageEvent)
    assert_type(await client.wait_for("agent-sent-message", timeout=1), AgentSentMessageEvent)
    assert_type(
        await client.wait_for(Event.CONVERSATION_SEEN_UPDATE, timeout=1),
        ConversationSeenUpdateEvent,
    )
    assert_type(
        await client.wait_for("conversation-seen-update", timeout=1), ConversationSeenUpdateEvent
    )
    assert_type(await client.wait_for(Event.CATEGORIES_UPDATED, timeout=1), CategoriesUpdatedEvent)
    assert_type(await client.wait_for("categories-updated", timeout=1), CategoriesUpdatedEvent)
    assert_type(
        await client.wait_for(Event.TICKET_CATEGORY_ASSIGNED, timeout=1),
        TicketCategoryAssignedEvent,
    )
    assert_type(
        await client.wait_for("ticket:category_removed", timeout=1), TicketCategoryRemovedEvent
    )
    assert_type(
        client.stream(Event.TICKET_CATEGORY_REMOVED), EventStream[TicketCategoryRemovedEvent]
    )


async def the_manager_and_the_customer_are_typed_alike(
    manager: ModernWebSocketManager, customer: CustomerClient
) -> None:
    assert_type(await manager.wait_for(Event.NEW_MESSAGE, timeout=1), NewMessageEvent)
    assert_type(await customer.wait_for(Event.AGENT_MESSAGE, timeout=1), AgentMessageEvent)
    assert_type(customer.stream(Event.AGENT_TYPING_STATUS), EventStream[AgentTypingStatusEvent])


async def predicates_and_streams_get_the_model(bot: AgentClient) -> None:
    mode = await bot.wait_for(Event.SYSTEM_MODE_UPDATE, lambda e: e.mode == "hitl", timeout=1)
    assert_type(mode, SystemModeUpdateEvent)
    async with bot.stream(Event.NEW_MESSAGE) as messages:
        assert_type(messages, EventStream[NewMessageEvent])
        async for event in messages:
            assert_type(event, NewMessageEvent)
            assert_type(event.message.content, str)
    assert_type(bot.stream("agent-message"), EventStream[AgentMessageEvent])


async def handlers_are_checked_against_the_model(
    bot: AgentClient, message: NewMessageEvent, reply: AgentMessageEvent
) -> None:
    def on_message(event: NewMessageEvent) -> None: ...

    async def on_reply(event: AgentMessageEvent) -> None: ...

    def on_any(event: ServerEvent) -> None: ...

    # on() gives the handler back as it was: still callable with its model.
    assert_type(bot.on(Event.NEW_MESSAGE, on_message)(message), None)
    assert_type(await bot.on("agent-message", on_reply)(reply), None)
    bot.on(Event.NEW_MESSAGE, on_any)  # a handler of the base class takes every event
    bot.on(Event.NEW_MESSAGE, on_reply)  # type: ignore[type-var]
    bot.off(Event.NEW_MESSAGE, on_message)


def decorated_handlers_are_checked_and_keep_their_type(
    bot: AgentClient, moves: TicketsReassignedEvent
) -> None:
    @bot.on(Event.TICKETS_REASSIGNED)
    def moved(event: TicketsReassignedEvent) -> int:
        return len(event.reassignments)

    assert_type(moved(moves), int)

    @bot.on(Event.TICKETS_REASSIGNED)  # type: ignore[type-var]
    def wrong(event: NewConversationEvent) -> None: ...


async def an_event_known_only_at_run_time_gives_the_base_class(
    bot: AgentClient, event: Event
) -> None:
    assert_type(await bot.wait_for(event, timeout=1), ServerEvent)

    def show(model: ServerEvent) -> None: ...

    bot.on(event, show)


async def an_event_without_a_model_gives_the_raw_payload(bot: AgentClient) -> None:
    payload = await bot.wait_for("ticket:category_changed", timeout=1)
    assert_type(payload, dict[str, Any])

    @bot.on("ticket:category_changed")
    def changed(payload: dict[str, Any]) -> None: ...

    assert_type(bot.stream("ticket:category_changed"), EventStream[dict[str, Any]])


def listeners_are_typed_and_come_back(bot: AgentClient) -> None:
    @bot.on_connection_change
    def changed(change: ConnectionChange) -> None: ...

    @bot.on_error
    async def failed(error: BaseException) -> None: ...

    assert_type(
        changed(ConnectionChange(ConnectionState.CONNECTING, ConnectionState.CONNECTED, "")), None
    )
    bot.off_connection_change(changed)
    bot.off_error(failed)
    bot.on_error(changed)  # type: ignore[type-var]


def connection_options_are_typed(url: str) -> None:
    AgentClient(url, agent_id="a1", heartbeat_interval=5.0, queue_overflow="drop-newest")
    CustomerClient(url, reconnection_delay=0.1, max_message_size=None)
    AgentClient(url, agent_id="a1", heartbeat_interval="5")  # type: ignore[arg-type]
    CustomerClient(url, reconection_delay=0.1)  # type: ignore[call-arg]
