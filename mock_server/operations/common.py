"""What the operations share: the active-conversation check, message events, servability."""

from __future__ import annotations

from vilnius_client.events import (
    AgentMessageEvent,
    Conversation,
    ConversationStatus,
    ErrorCode,
    Event,
    Message,
    NewMessageEvent,
    WireModel,
    utcnow,
)

from ..errors import ServiceError
from ..hub import Hub
from ..rooms import AGENTS_ROOM, conversation_room
from ..wirejson import dumps

__all__ = ["queue_message", "require_active", "servable"]


def require_active(conversation: Conversation) -> None:
    """Refuse (``conflict``) a change to a conversation that is not active."""
    status = conversation.status or ConversationStatus.ACTIVE  # the store always sets it
    if status is not ConversationStatus.ACTIVE:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"conversation {conversation.id!r} is {status.value}",
            {"conversationId": conversation.id, "status": status.value},
        )


def queue_message(hub: Hub, message: Message, *, to_room: bool, to_agents: bool = True) -> None:
    """Queue ``agent-message`` to the conversation room and ``new-message`` to the agents."""
    now = utcnow()
    if to_room:
        hub.queue(
            Event.AGENT_MESSAGE,
            AgentMessageEvent(message=message, timestamp=now),
            conversation_room(message.conversation_id),
        )
    if to_agents:
        event = NewMessageEvent(
            conversation_id=message.conversation_id,
            message=message,
            ai_suggestion=None,
            timestamp=now,
        )
        hub.queue(Event.NEW_MESSAGE, event, AGENTS_ROOM)


def servable(event: WireModel) -> None:
    """Refuse (inside the transaction, so nothing is stored) what could not be sent back."""
    try:
        dumps(event.to_wire())
    except (TypeError, ValueError, RecursionError) as exc:
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD, "the request cannot be stored and served back", status=422
        ) from exc
