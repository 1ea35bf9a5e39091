"""How each profile writes the server's data on the wire: JSON-ready dicts.

``ContractEncoder`` writes CONTRACT.md's shapes (the models' own camelCase dump);
``ProductionEncoder`` writes production's (no ``seq``, its own field sets), as
``shared/PRODUCTION.md`` and the production backend describe them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from vilnius_client.events import (
    AgentData,
    AgentMessageEvent,
    AgentSentMessageEvent,
    ConnectedAgentsUpdateEvent,
    Conversation,
    CurrentStateEvent,
    Event,
    Message,
    NewConversationEvent,
    NewMessageEvent,
    PostMessageResponse,
    WireModel,
    format_timestamp,
)

from .users import display_name

__all__ = ["ContractEncoder", "Encoder", "ProductionEncoder", "production_error"]


class Encoder(Protocol):
    """How a profile writes the server's data on the wire (JSON-ready dicts)."""

    def event(self, event: Event, data: WireModel) -> dict[str, Any]:
        """A server -> client event's payload."""

    def message(self, message: Message) -> dict[str, Any]:
        """A stored message, in events and REST answers."""

    def conversation(self, conversation: Conversation) -> dict[str, Any]:
        """A conversation, as ``new-conversation`` and REST answers show it."""

    def agent(self, agent: AgentData) -> dict[str, Any]:
        """An agent, as the dashboard lists it."""

    def post_message_answer(self, answer: PostMessageResponse) -> dict[str, Any]:
        """The answer of ``POST /api/messages``."""

    def error(self, code: str, message: str, details: Any) -> dict[str, Any]:
        """A REST error answer (its status goes on the response)."""


class ContractEncoder:
    """CONTRACT.md's shapes: the models' own camelCase dump."""

    def event(self, event: Event, data: WireModel) -> dict[str, Any]:
        return data.to_wire()

    def post_message_answer(self, answer: PostMessageResponse) -> dict[str, Any]:
        body = answer.to_wire()
        if answer.token is None:
            body.pop("token", None)
        return body

    def message(self, message: Message) -> dict[str, Any]:
        return message.to_wire()

    def conversation(self, conversation: Conversation) -> dict[str, Any]:
        return conversation.to_wire()

    def agent(self, agent: AgentData) -> dict[str, Any]:
        return agent.to_wire()

    def error(self, code: str, message: str, details: Any) -> dict[str, Any]:
        return {"error": message, "code": code, "details": details}


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def _message_head(message: Message) -> dict[str, Any]:
    """The fields every production shape of a message starts with."""
    return {
        "id": message.id,
        "conversationId": message.conversation_id,
        "content": message.content,
        "sender": message.sender.value,
        "timestamp": _ts(message.timestamp),
    }


class ProductionEncoder:
    """Production's shapes: no ``seq``, its own field sets."""

    def event(self, event: Event, data: WireModel) -> dict[str, Any]:
        if isinstance(data, ConnectedAgentsUpdateEvent):
            return {"agents": [self.agent(agent) for agent in data.agents]}
        if isinstance(data, CurrentStateEvent) and isinstance(data.data, list):
            return {"type": data.type.value, "data": [self.agent(agent) for agent in data.data]}
        if isinstance(data, NewMessageEvent):  # visitor messages in hitl only
            message = data.message
            return {
                "type": "new-message",
                "conversationId": data.conversation_id,
                "message": {
                    "id": message.id,
                    "content": message.content,
                    "sender": message.sender.value,
                    "timestamp": _ts(message.timestamp),
                },
                "conversation": data.conversation.to_wire() if data.conversation else None,
            }
        if isinstance(data, AgentMessageEvent | AgentSentMessageEvent):
            body = data.to_wire()
            body["message"] = self.message(data.message)
            return body
        if isinstance(data, NewConversationEvent):
            return {
                "conversationId": data.conversation_id,
                "conversation": self.conversation(data.conversation),
                "timestamp": _ts(data.timestamp),
            }
        return data.to_wire()

    def message(self, message: Message) -> dict[str, Any]:
        body = _message_head(message)
        if message.agent_id is not None:
            body["agentId"] = message.agent_id
        body["messageType"] = message.message_type or "text"
        body["metadata"] = message.metadata
        return body

    def post_message_answer(self, answer: PostMessageResponse) -> dict[str, Any]:
        user = answer.user_message
        ai = answer.ai_message
        return {
            "userMessage": {**_message_head(user), "messageType": user.message_type or "text"},
            "aiMessage": None if ai is None else {**_message_head(ai), "metadata": ai.metadata},
            "conversationId": answer.conversation_id,
        }

    def history_message(self, message: Message) -> dict[str, Any]:
        """A message of ``GET /api/conversations/{id}/messages`` (production reads rows back)."""
        return {
            **_message_head(message),
            "metadata": message.metadata,
            "senderId": message.sender_id,
            "messageType": message.message_type or "text",
        }

    def conversation(self, conversation: Conversation) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": conversation.id,
            "visitorId": conversation.visitor_id,
            "startedAt": _ts(conversation.started_at),
        }
        if conversation.assigned_agent is not None:
            body["assignedAgent"] = conversation.assigned_agent
        return body

    def agent(self, agent: AgentData) -> dict[str, Any]:
        return {
            "id": agent.id,
            "name": display_name(agent.id),
            "status": agent.status.value,
            "personalStatus": agent.personal_status.value,
            "lastSeen": _ts(agent.last_seen),
            "connected": agent.connected,
            "userId": agent.id,
        }

    def error(self, code: str, message: str, details: Any) -> dict[str, Any]:
        return production_error(message)


def production_error(message: str) -> dict[str, Any]:
    """Production's generic error answer (its Express error handler): no code, no details."""
    return {"success": False, "error": message}
