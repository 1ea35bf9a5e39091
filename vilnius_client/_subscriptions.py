"""Subscribing to server events, typed: ``on``, ``off``, ``wait_for`` and ``stream``.

`ModernWebSocketManager` and both role clients offer these methods; they are
written once, here, over the manager's `Inbound`, and the role clients' listener
methods (``on_connection_change``, ``on_error`` and their ``off_`` pairs) with them.

Types go all the way to the handler: each server event has an overload from its
`Event` member (or its wire name) to its model, so that
``await bot.wait_for(Event.NEW_MESSAGE, timeout=5)`` is a `NewMessageEvent` to
mypy and to an editor, and a handler written for another event's model is an
error. An `Event` that is not known statically (a variable) gives the common
base, `ServerEvent`. A name the SDK has no model for stays possible: its
handlers get the payload as the server sent it, which is typed as a dict (it
usually is; type the handler's argument `Any` for other payloads).

Why the module is long: one overload per event and method, declared and nothing
else (checked by ``tests/typing``); the logic is the last few methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar, overload

from ._connection import Listeners
from ._dispatch import Dispatcher, EventStream, Handler
from ._state import ConnectionChange
from .events import (
    AgentMessageEvent,
    AgentSentMessageEvent,
    AgentTypingStatusEvent,
    CategoriesUpdatedEvent,
    ConnectedAgentsUpdateEvent,
    ConversationSeenUpdateEvent,
    CurrentStateEvent,
    CustomerTypingStatusEvent,
    ErrorEvent,
    Event,
    HeartbeatAckEvent,
    NewConversationEvent,
    NewMessageEvent,
    ServerEvent,
    SystemModeUpdateEvent,
    TicketCategoryAssignedEvent,
    TicketCategoryRemovedEvent,
    TicketsReassignedEvent,
)

__all__ = ["ConnectionListener", "ErrorListener", "EventSubscriptions", "RawPayload"]

RawPayload = dict[str, Any]
"""What handlers of an event the SDK has no model for receive (the payload as sent)."""

ConnectionListener = TypeVar("ConnectionListener", bound=Callable[[ConnectionChange], Any])
ErrorListener = TypeVar("ErrorListener", bound=Callable[[BaseException], Any])

_NewConversation = Literal[Event.NEW_CONVERSATION, "new-conversation"]
_NewMessage = Literal[Event.NEW_MESSAGE, "new-message"]
_AgentMessage = Literal[Event.AGENT_MESSAGE, "agent-message"]
_ConnectedAgentsUpdate = Literal[Event.CONNECTED_AGENTS_UPDATE, "connected-agents-update"]
_SystemModeUpdate = Literal[Event.SYSTEM_MODE_UPDATE, "system-mode-update"]
_TicketsReassigned = Literal[Event.TICKETS_REASSIGNED, "tickets-reassigned"]
_CustomerTypingStatus = Literal[Event.CUSTOMER_TYPING_STATUS, "customer-typing-status"]
_AgentTypingStatus = Literal[Event.AGENT_TYPING_STATUS, "agent-typing-status"]
_HeartbeatAck = Literal[Event.HEARTBEAT_ACK, "heartbeat-ack"]
_CurrentState = Literal[Event.CURRENT_STATE, "current-state"]
_ErrorEvent = Literal[Event.ERROR_EVENT, "error-event"]
_AgentSentMessage = Literal[Event.AGENT_SENT_MESSAGE, "agent-sent-message"]
_ConversationSeenUpdate = Literal[Event.CONVERSATION_SEEN_UPDATE, "conversation-seen-update"]
_CategoriesUpdated = Literal[Event.CATEGORIES_UPDATED, "categories-updated"]
_CategoryAssigned = Literal[Event.TICKET_CATEGORY_ASSIGNED, "ticket:category_assigned"]
_CategoryRemoved = Literal[Event.TICKET_CATEGORY_REMOVED, "ticket:category_removed"]

_NewConversationH = TypeVar("_NewConversationH", bound=Callable[[NewConversationEvent], object])
_NewMessageH = TypeVar("_NewMessageH", bound=Callable[[NewMessageEvent], object])
_AgentMessageH = TypeVar("_AgentMessageH", bound=Callable[[AgentMessageEvent], object])
_ConnectedAgentsUpdateH = TypeVar(
    "_ConnectedAgentsUpdateH", bound=Callable[[ConnectedAgentsUpdateEvent], object]
)
_SystemModeUpdateH = TypeVar("_SystemModeUpdateH", bound=Callable[[SystemModeUpdateEvent], object])
_TicketsReassignedH = TypeVar(
    "_TicketsReassignedH", bound=Callable[[TicketsReassignedEvent], object]
)
_CustomerTypingStatusH = TypeVar(
    "_CustomerTypingStatusH", bound=Callable[[CustomerTypingStatusEvent], object]
)
_AgentTypingStatusH = TypeVar(
    "_AgentTypingStatusH", bound=Callable[[AgentTypingStatusEvent], object]
)
_HeartbeatAckH = TypeVar("_HeartbeatAckH", bound=Callable[[HeartbeatAckEvent], object])
_CurrentStateH = TypeVar("_CurrentStateH", bound=Callable[[CurrentStateEvent], object])
_ErrorEventH = TypeVar("_ErrorEventH", bound=Callable[[ErrorEvent], object])
_AgentSentMessageH = TypeVar("_AgentSentMessageH", bound=Callable[[AgentSentMessageEvent], object])
_ConversationSeenUpdateH = TypeVar(
    "_ConversationSeenUpdateH", bound=Callable[[ConversationSeenUpdateEvent], object]
)
_CategoriesUpdatedH = TypeVar(
    "_CategoriesUpdatedH", bound=Callable[[CategoriesUpdatedEvent], object]
)
_CategoryAssignedH = TypeVar(
    "_CategoryAssignedH", bound=Callable[[TicketCategoryAssignedEvent], object]
)
_CategoryRemovedH = TypeVar(
    "_CategoryRemovedH", bound=Callable[[TicketCategoryRemovedEvent], object]
)
_ServerEventH = TypeVar("_ServerEventH", bound=Callable[[ServerEvent], object])
_RawH = TypeVar("_RawH", bound=Callable[[RawPayload], object])


class EventSubscriptions:
    """``on``/``off``, ``wait_for``, ``stream`` and the listeners, over a manager's parts."""

    def _events(self) -> Dispatcher:
        """Where the events go (the manager's `Dispatcher`)."""
        raise NotImplementedError

    def _listeners(self) -> tuple[Listeners[ConnectionChange], Listeners[BaseException]]:
        """The connection and error listeners (the manager's connection's)."""
        raise NotImplementedError

    # -- on ----------------------------------------------------------------------

    @overload
    def on(self, event: _NewConversation, handler: _NewConversationH) -> _NewConversationH: ...
    @overload
    def on(
        self, event: _NewConversation, handler: None = None
    ) -> Callable[[_NewConversationH], _NewConversationH]: ...
    @overload
    def on(self, event: _NewMessage, handler: _NewMessageH) -> _NewMessageH: ...
    @overload
    def on(
        self, event: _NewMessage, handler: None = None
    ) -> Callable[[_NewMessageH], _NewMessageH]: ...
    @overload
    def on(self, event: _AgentMessage, handler: _AgentMessageH) -> _AgentMessageH: ...
    @overload
    def on(
        self, event: _AgentMessage, handler: None = None
    ) -> Callable[[_AgentMessageH], _AgentMessageH]: ...
    @overload
    def on(
        self, event: _ConnectedAgentsUpdate, handler: _ConnectedAgentsUpdateH
    ) -> _ConnectedAgentsUpdateH: ...
    @overload
    def on(
        self, event: _ConnectedAgentsUpdate, handler: None = None
    ) -> Callable[[_ConnectedAgentsUpdateH], _ConnectedAgentsUpdateH]: ...
    @overload
    def on(self, event: _SystemModeUpdate, handler: _SystemModeUpdateH) -> _SystemModeUpdateH: ...
    @overload
    def on(
        self, event: _SystemModeUpdate, handler: None = None
    ) -> Callable[[_SystemModeUpdateH], _SystemModeUpdateH]: ...
    @overload
    def on(
        self, event: _TicketsReassigned, handler: _TicketsReassignedH
    ) -> _TicketsReassignedH: ...
    @overload
    def on(
        self, event: _TicketsReassigned, handler: None = None
    ) -> Callable[[_TicketsReassignedH], _TicketsReassignedH]: ...
    @overload
    def on(
        self, event: _CustomerTypingStatus, handler: _CustomerTypingStatusH
    ) -> _CustomerTypingStatusH: ...
    @overload
    def on(
        self, event: _CustomerTypingStatus, handler: None = None
    ) -> Callable[[_CustomerTypingStatusH], _CustomerTypingStatusH]: ...
    @overload
    def on(
        self, event: _AgentTypingStatus, handler: _AgentTypingStatusH
    ) -> _AgentTypingStatusH: ...
    @overload
    def on(
        self, event: _AgentTypingStatus, handler: None = None
    ) -> Callable[[_AgentTypingStatusH], _AgentTypingStatusH]: ...
    @overload
    def on(self, event: _HeartbeatAck, handler: _HeartbeatAckH) -> _HeartbeatAckH: ...
    @overload
    def on(
        self, event: _HeartbeatAck, handler: None = None
    ) -> Callable[[_HeartbeatAckH], _HeartbeatAckH]: ...
    @overload
    def on(self, event: _CurrentState, handler: _CurrentStateH) -> _CurrentStateH: ...
    @overload
    def on(
        self, event: _CurrentState, handler: None = None
    ) -> Callable[[_CurrentStateH], _CurrentStateH]: ...
    @overload
    def on(self, event: _ErrorEvent, handler: _ErrorEventH) -> _ErrorEventH: ...
    @overload
    def on(
        self, event: _ErrorEvent, handler: None = None
    ) -> Callable[[_ErrorEventH], _ErrorEventH]: ...
    @overload
    def on(self, event: _AgentSentMessage, handler: _AgentSentMessageH) -> _AgentSentMessageH: ...
    @overload
    def on(
        self, event: _AgentSentMessage, handler: None = None
    ) -> Callable[[_AgentSentMessageH], _AgentSentMessageH]: ...
    @overload
    def on(
        self, event: _ConversationSeenUpdate, handler: _ConversationSeenUpdateH
    ) -> _ConversationSeenUpdateH: ...
    @overload
    def on(
        self, event: _ConversationSeenUpdate, handler: None = None
    ) -> Callable[[_ConversationSeenUpdateH], _ConversationSeenUpdateH]: ...
    @overload
    def on(
        self, event: _CategoriesUpdated, handler: _CategoriesUpdatedH
    ) -> _CategoriesUpdatedH: ...
    @overload
    def on(
        self, event: _CategoriesUpdated, handler: None = None
    ) -> Callable[[_CategoriesUpdatedH], _CategoriesUpdatedH]: ...
    @overload
    def on(self, event: _CategoryAssigned, handler: _CategoryAssignedH) -> _CategoryAssignedH: ...
    @overload
    def on(
        self, event: _CategoryAssigned, handler: None = None
    ) -> Callable[[_CategoryAssignedH], _CategoryAssignedH]: ...
    @overload
    def on(self, event: _CategoryRemoved, handler: _CategoryRemovedH) -> _CategoryRemovedH: ...
    @overload
    def on(
        self, event: _CategoryRemoved, handler: None = None
    ) -> Callable[[_CategoryRemovedH], _CategoryRemovedH]: ...
    @overload
    def on(self, event: Event, handler: _ServerEventH) -> _ServerEventH: ...
    @overload
    def on(
        self, event: Event, handler: None = None
    ) -> Callable[[_ServerEventH], _ServerEventH]: ...
    @overload
    def on(self, event: str, handler: _RawH) -> _RawH: ...
    @overload
    def on(self, event: str, handler: None = None) -> Callable[[_RawH], _RawH]: ...

    def on(self, event: Event | str, handler: Handler | None = None) -> Any:
        """Register a handler for a server event; usable as a decorator.

        Args:
            event: An [`Event`][vilnius_client.Event] or its wire name
                (``"new-message"``); also the name of an event the SDK has no
                model for, whose handlers receive the payload as sent (a dict,
                usually).
            handler: Called with the event's model (see the
                [event reference](../reference/events.md)); sync or async.
                What it raises goes to the error listeners. Events of one
                conversation arrive in server order; a handler that blocks the
                thread blocks the whole client (use ``asyncio.to_thread``).
                Events that arrived before the first handler, waiter or stream
                of their type are handed to it on registration, so registering
                inside ``async with`` loses nothing.

        Returns:
            ``handler`` (with no ``handler``: a decorator that registers the function).

        Raises:
            ValueError: ``event`` is a client -> server event.
        """
        events = self._events()
        if handler is None:

            def register(fn: Handler) -> Handler:
                events.add(event, fn)
                return fn

            return register
        events.add(event, handler)
        return handler

    def off(self, event: Event | str, handler: Handler) -> None:
        """Unregister a handler registered with [`on`][]."""
        self._events().remove(event, handler)

    # -- wait_for ------------------------------------------------------------------

    @overload
    async def wait_for(
        self,
        event: _NewConversation,
        predicate: Callable[[NewConversationEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> NewConversationEvent: ...
    @overload
    async def wait_for(
        self,
        event: _NewMessage,
        predicate: Callable[[NewMessageEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> NewMessageEvent: ...
    @overload
    async def wait_for(
        self,
        event: _AgentMessage,
        predicate: Callable[[AgentMessageEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> AgentMessageEvent: ...
    @overload
    async def wait_for(
        self,
        event: _ConnectedAgentsUpdate,
        predicate: Callable[[ConnectedAgentsUpdateEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> ConnectedAgentsUpdateEvent: ...
    @overload
    async def wait_for(
        self,
        event: _SystemModeUpdate,
        predicate: Callable[[SystemModeUpdateEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> SystemModeUpdateEvent: ...
    @overload
    async def wait_for(
        self,
        event: _TicketsReassigned,
        predicate: Callable[[TicketsReassignedEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> TicketsReassignedEvent: ...
    @overload
    async def wait_for(
        self,
        event: _CustomerTypingStatus,
        predicate: Callable[[CustomerTypingStatusEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> CustomerTypingStatusEvent: ...
    @overload
    async def wait_for(
        self,
        event: _AgentTypingStatus,
        predicate: Callable[[AgentTypingStatusEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> AgentTypingStatusEvent: ...
    @overload
    async def wait_for(
        self,
        event: _HeartbeatAck,
        predicate: Callable[[HeartbeatAckEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> HeartbeatAckEvent: ...
    @overload
    async def wait_for(
        self,
        event: _CurrentState,
        predicate: Callable[[CurrentStateEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> CurrentStateEvent: ...
    @overload
    async def wait_for(
        self,
        event: _ErrorEvent,
        predicate: Callable[[ErrorEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> ErrorEvent: ...
    @overload
    async def wait_for(
        self,
        event: _AgentSentMessage,
        predicate: Callable[[AgentSentMessageEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> AgentSentMessageEvent: ...
    @overload
    async def wait_for(
        self,
        event: _ConversationSeenUpdate,
        predicate: Callable[[ConversationSeenUpdateEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> ConversationSeenUpdateEvent: ...
    @overload
    async def wait_for(
        self,
        event: _CategoriesUpdated,
        predicate: Callable[[CategoriesUpdatedEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> CategoriesUpdatedEvent: ...
    @overload
    async def wait_for(
        self,
        event: _CategoryAssigned,
        predicate: Callable[[TicketCategoryAssignedEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> TicketCategoryAssignedEvent: ...
    @overload
    async def wait_for(
        self,
        event: _CategoryRemoved,
        predicate: Callable[[TicketCategoryRemovedEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> TicketCategoryRemovedEvent: ...
    @overload
    async def wait_for(
        self,
        event: Event,
        predicate: Callable[[ServerEvent], bool] | None = None,
        *,
        timeout: float | None,
    ) -> ServerEvent: ...
    @overload
    async def wait_for(
        self,
        event: str,
        predicate: Callable[[RawPayload], bool] | None = None,
        *,
        timeout: float | None,
    ) -> RawPayload: ...

    async def wait_for(
        self,
        event: Event | str,
        predicate: Callable[[Any], bool] | None = None,
        *,
        timeout: float | None,
    ) -> Any:
        """Wait for the next ``event`` (matching ``predicate``) and return its model.

        Only events that arrive after the call count: subscribe (open a
        [`stream`][]) before the call that causes the event when it can be fast.

        Raises:
            ReplyTimeoutError: None arrived within ``timeout`` seconds.
            StateError: The client was closed meanwhile.
        """
        return await self._events().wait_for(event, predicate, timeout)

    # -- stream --------------------------------------------------------------------

    @overload
    def stream(
        self, event: _NewConversation, *, maxsize: int = ...
    ) -> EventStream[NewConversationEvent]: ...
    @overload
    def stream(self, event: _NewMessage, *, maxsize: int = ...) -> EventStream[NewMessageEvent]: ...
    @overload
    def stream(
        self, event: _AgentMessage, *, maxsize: int = ...
    ) -> EventStream[AgentMessageEvent]: ...
    @overload
    def stream(
        self, event: _ConnectedAgentsUpdate, *, maxsize: int = ...
    ) -> EventStream[ConnectedAgentsUpdateEvent]: ...
    @overload
    def stream(
        self, event: _SystemModeUpdate, *, maxsize: int = ...
    ) -> EventStream[SystemModeUpdateEvent]: ...
    @overload
    def stream(
        self, event: _TicketsReassigned, *, maxsize: int = ...
    ) -> EventStream[TicketsReassignedEvent]: ...
    @overload
    def stream(
        self, event: _CustomerTypingStatus, *, maxsize: int = ...
    ) -> EventStream[CustomerTypingStatusEvent]: ...
    @overload
    def stream(
        self, event: _AgentTypingStatus, *, maxsize: int = ...
    ) -> EventStream[AgentTypingStatusEvent]: ...
    @overload
    def stream(
        self, event: _HeartbeatAck, *, maxsize: int = ...
    ) -> EventStream[HeartbeatAckEvent]: ...
    @overload
    def stream(
        self, event: _CurrentState, *, maxsize: int = ...
    ) -> EventStream[CurrentStateEvent]: ...
    @overload
    def stream(self, event: _ErrorEvent, *, maxsize: int = ...) -> EventStream[ErrorEvent]: ...
    @overload
    def stream(
        self, event: _AgentSentMessage, *, maxsize: int = ...
    ) -> EventStream[AgentSentMessageEvent]: ...
    @overload
    def stream(
        self, event: _ConversationSeenUpdate, *, maxsize: int = ...
    ) -> EventStream[ConversationSeenUpdateEvent]: ...
    @overload
    def stream(
        self, event: _CategoriesUpdated, *, maxsize: int = ...
    ) -> EventStream[CategoriesUpdatedEvent]: ...
    @overload
    def stream(
        self, event: _CategoryAssigned, *, maxsize: int = ...
    ) -> EventStream[TicketCategoryAssignedEvent]: ...
    @overload
    def stream(
        self, event: _CategoryRemoved, *, maxsize: int = ...
    ) -> EventStream[TicketCategoryRemovedEvent]: ...
    @overload
    def stream(self, event: Event, *, maxsize: int = ...) -> EventStream[ServerEvent]: ...
    @overload
    def stream(self, event: str, *, maxsize: int = ...) -> EventStream[RawPayload]: ...

    def stream(self, event: Event | str, *, maxsize: int = 1000) -> EventStream[Any]:
        """Return an async iterator (and async context manager) of ``event`` models.

        Events are buffered from this call on, at most ``maxsize`` (the oldest
        is dropped beyond that).
        """
        return self._events().stream(event, maxsize)

    # -- listeners -------------------------------------------------------------------

    def on_connection_change(self, callback: ConnectionListener) -> ConnectionListener:
        """Call ``callback(change)`` on every state transition (sync or async).

        Returns ``callback``, so that it also works as a decorator; unregister
        it with [`off_connection_change`][].
        """
        self._listeners()[0].add(callback)
        return callback

    def off_connection_change(self, callback: ConnectionListener) -> None:
        """Stop calling ``callback`` on state transitions (unknown callbacks are ignored)."""
        self._listeners()[0].remove(callback)

    def on_error(self, callback: ErrorListener) -> ErrorListener:
        """Call ``callback(exc)`` for every error (sync or async).

        Every error: connection failures, handler exceptions, invalid server
        payloads, ``error-event``, dropped events. Returns ``callback``, so
        that it also works as a decorator; unregister it with [`off_error`][].
        """
        self._listeners()[1].add(callback)
        return callback

    def off_error(self, callback: ErrorListener) -> None:
        """Stop calling ``callback`` with errors (unknown callbacks are ignored)."""
        self._listeners()[1].remove(callback)
