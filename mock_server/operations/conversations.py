"""Conversations: starting, listing, assigning and ending them (both profiles)."""

from __future__ import annotations

import uuid
from typing import Any

from vilnius_client.events import (
    AssignRequest,
    AssignResponse,
    BulkAssignRequest,
    BulkAssignResponse,
    Conversation,
    ConversationListResponse,
    ConversationStatus,
    CreateConversationRequest,
    CreateConversationResponse,
    EndConversationRequest,
    EndConversationResponse,
    ErrorCode,
    Event,
    NewConversationEvent,
    Reassignment,
    ReassignReason,
    Sender,
    format_timestamp,
    utcnow,
)

from ..auth import Identity
from ..errors import ServiceError
from ..hub import Hub
from ..rooms import AGENTS_ROOM
from .common import require_active, servable
from .tickets import ticket_fields, ticket_numbers
from .tokens import customer_token

__all__ = [
    "admin_conversations_production",
    "assign",
    "assign_production",
    "bulk_assign",
    "bulk_assign_production",
    "create_conversation",
    "create_conversation_production",
    "end",
    "list_conversations",
]


async def create_conversation(
    hub: Hub, identity: Identity, request: CreateConversationRequest
) -> CreateConversationResponse:
    """``POST /api/conversations``: anyone may start a conversation."""
    async with hub.transaction():
        visitor_id = request.visitor_id or hub.new_id("visitor")
        conversation = hub.store.conversations.create(visitor_id, request.metadata)
        event = NewConversationEvent(
            conversation_id=conversation.id, conversation=conversation, timestamp=utcnow()
        )
        servable(event)
        hub.queue(Event.NEW_CONVERSATION, event, AGENTS_ROOM)
    return CreateConversationResponse(
        conversation_id=conversation.id,
        conversation=conversation,
        token=customer_token(hub, conversation.id),
    )


def list_conversations(
    hub: Hub, identity: Identity, status: ConversationStatus | None
) -> ConversationListResponse:
    """``GET /api/admin/conversations``."""
    identity.require_agent()
    conversations = hub.store.conversations.all(status=status)
    return ConversationListResponse(conversations=conversations)


async def assign(
    hub: Hub, identity: Identity, conversation_id: str, request: AssignRequest
) -> AssignResponse:
    """``POST /api/conversations/{id}/assign``."""
    identity.require_agent()
    async with hub.transaction():
        conversation = hub.conversation(conversation_id)
        require_active(conversation)
        hub.store.conversations.assign(conversation.id, request.agent_id)
        move = Reassignment(
            conversation_id=conversation.id,
            from_agent_id=conversation.assigned_agent,
            to_agent_id=request.agent_id,
        )
        hub.queue_reassigned([move], ReassignReason.MANUAL_ASSIGN)
        updated = conversation.model_copy(update={"assigned_agent": request.agent_id})
    return AssignResponse(success=True, conversation=updated)


async def end(
    hub: Hub, identity: Identity, conversation_id: str, request: EndConversationRequest
) -> EndConversationResponse:
    """``POST /api/conversations/{id}/end``: agents, or the conversation's customer."""
    identity.require_conversation(conversation_id)
    async with hub.transaction():
        conversation = hub.conversation(conversation_id)
        if conversation.status is ConversationStatus.ACTIVE:
            hub.store.conversations.set_status(conversation.id, ConversationStatus.ENDED)
    return EndConversationResponse(success=True)


async def bulk_assign(
    hub: Hub, identity: Identity, request: BulkAssignRequest
) -> BulkAssignResponse:
    """``POST /api/admin/conversations/bulk-assign``: all or nothing."""
    identity.require_agent()
    ids = list(dict.fromkeys(request.conversation_ids))
    async with hub.transaction():
        conversations = [hub.store.conversations.get(cid) for cid in ids]
        missing = [cid for cid, found in zip(ids, conversations, strict=True) if found is None]
        if missing:
            raise ServiceError(
                ErrorCode.NOT_FOUND, "unknown conversations", {"conversationIds": missing}
            )
        found = [c for c in conversations if c is not None]
        closed = [c.id for c in found if c.status is not ConversationStatus.ACTIVE]
        if closed:
            raise ServiceError(
                ErrorCode.CONFLICT, "conversations are not active", {"conversationIds": closed}
            )
        moves = []
        for conversation in found:
            hub.store.conversations.assign(conversation.id, request.agent_id)
            moves.append(
                Reassignment(
                    conversation_id=conversation.id,
                    from_agent_id=conversation.assigned_agent,
                    to_agent_id=request.agent_id,
                )
            )
        hub.queue_reassigned(moves, ReassignReason.BULK_ASSIGN)
    return BulkAssignResponse(success=True, reassigned=moves)


async def create_conversation_production(
    hub: Hub, visitor_id: str | None, metadata: Any
) -> dict[str, Any]:
    """Production's ``POST /api/conversations``: a UUID conversation; no event, no token.

    Production stores neither the visitor id nor the metadata (it answers them once).
    """
    async with hub.transaction():
        conversation = hub.store.conversations.create(
            "anonymous-session", {}, conversation_id=str(uuid.uuid4())
        )
    return {
        "conversationId": conversation.id,
        "conversation": {
            "id": conversation.id,
            "visitorId": visitor_id or str(uuid.uuid4()),
            "startedAt": format_timestamp(conversation.started_at),
            "metadata": metadata,
        },
    }


async def admin_conversations_production(hub: Hub) -> dict[str, Any]:
    """Production's ``GET /api/admin/conversations`` (newest first, ticket fields)."""
    conversations = hub.store.conversations.all()
    counts = await hub.store.messages.counts()
    numbers = ticket_numbers(conversations)
    answer = []
    for conversation in reversed(conversations):
        history = await hub.store.messages.history(conversation.id)
        shown = [
            {
                "id": m.id,
                "content": m.content,
                "sender": m.sender.value,
                "timestamp": format_timestamp(m.timestamp),
            }
            for m in reversed(history)
            if m.sender in (Sender.VISITOR, Sender.AGENT)
        ][:50]
        answer.append(
            {
                "id": conversation.id,
                "visitorId": "anonymous-session",
                "userNumber": numbers[conversation.id][0],
                "assignedAgent": conversation.assigned_agent,
                "startedAt": format_timestamp(conversation.started_at),
                "ticketNumber": numbers[conversation.id][1],
                "subject": "Website Support Request",
                **ticket_fields(hub, conversation.id),
                "messageCount": counts.get(conversation.id, 0),
                "lastMessage": shown[0] if shown else None,
                "messages": shown,
            }
        )
    return {"conversations": answer, "total": len(answer)}


def _conversation_view(conversation: Conversation, number: int) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "visitorId": "anonymous-session",
        "userNumber": number,
        "assignedAgent": conversation.assigned_agent,
        "startedAt": format_timestamp(conversation.started_at),
        "subject": "Website Support Request",
        "category": "general",
    }


async def assign_production(hub: Hub, conversation_id: str, agent_id: str) -> dict[str, Any]:
    """Production's assign: to the user the id names (500 for other ids); no event."""
    async with hub.transaction():
        conversation = hub.store.conversations.get(conversation_id)
        if conversation is None:
            raise ServiceError(
                ErrorCode.NOT_FOUND,
                "unknown conversation",
                body={"error": "Conversation not found"},
            )
        user = hub.find_user(agent_id)
        if user is None:
            raise ServiceError(
                ErrorCode.INTERNAL, "no such agent", body={"error": "Failed to assign conversation"}
            )
        hub.store.conversations.assign(conversation.id, user.id)
        number = [c.id for c in hub.store.conversations.all()].index(conversation.id) + 1
        updated = conversation.model_copy(update={"assigned_agent": user.id})
    return {"success": True, "conversation": _conversation_view(updated, number)}


async def bulk_assign_production(hub: Hub, conversation_ids: list[Any], agent_id: Any) -> int:
    """Production's bulk assign: the known ids go to the agent; answers how many.

    The agent id is a user UUID or an e-mail; anything else fails (500) as there.
    """
    async with hub.transaction():
        users = hub.store.users.all()
        user = next((u for u in users if agent_id in (u.id, u.email)), None)
        if user is None:
            raise ServiceError(
                ErrorCode.INTERNAL,
                "no such agent",
                body={"error": "Failed to assign conversations"},
            )
        count = 0
        for conversation_id in dict.fromkeys(c for c in conversation_ids if isinstance(c, str)):
            if hub.store.conversations.get(conversation_id) is not None:
                hub.store.conversations.assign(conversation_id, user.id)
                count += 1
    return count
