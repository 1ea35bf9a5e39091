"""The REST operations of CONTRACT.md §6, over a :class:`~mock_server.hub.Hub`.

Each function checks the caller's :class:`~mock_server.auth.Identity`, changes the
state in one transaction and returns the answer model; the HTTP layer
(:mod:`mock_server.api`) only parses and serialises.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from vilnius_client.events import (
    AgentMessageEvent,
    AgentRespondRequest,
    AgentRespondResponse,
    AgentTokenRequest,
    AgentTokenResponse,
    AllMessagesResponse,
    AssignRequest,
    AssignResponse,
    BulkAssignRequest,
    BulkAssignResponse,
    ConnectedAgentsResponse,
    Conversation,
    ConversationListResponse,
    ConversationMessagesResponse,
    ConversationStatus,
    CreateConversationRequest,
    CreateConversationResponse,
    EndConversationRequest,
    EndConversationResponse,
    ErrorCode,
    Event,
    Message,
    NewConversationEvent,
    NewMessageEvent,
    PersonalStatus,
    PersonalStatusRequest,
    PersonalStatusResponse,
    PostMessageRequest,
    PostMessageResponse,
    Reassignment,
    ReassignReason,
    Sender,
    SystemMode,
    SystemModeRequest,
    SystemModeResponse,
    SystemModeUpdateEvent,
    utcnow,
)

from . import rules
from .auth import AGENT_TOKEN_TTL, CUSTOMER_TOKEN_TTL, Identity
from .errors import ServiceError
from .hub import AGENTS_ROOM, RESERVED_CONVERSATION_IDS, Hub, conversation_room

AUTOPILOT_AGENT_ID = "autopilot"
"""``agentId`` of the messages the autopilot writes."""

AUTOPILOT_REPLY = "Thanks for your message! This is an automatic reply; an agent will follow up."
"""The autopilot's canned answer."""

OFFLINE_NOTICE = "Our agents are offline right now. Leave a message and we will get back to you."
"""The system message sent once per conversation while the mode is ``off``."""


def _require_active(conversation: Conversation) -> None:
    status = conversation.status or ConversationStatus.ACTIVE  # the store always sets it
    if status is not ConversationStatus.ACTIVE:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"conversation {conversation.id!r} is {status.value}",
            {"conversationId": conversation.id, "status": status.value},
        )


def _queue_message(hub: Hub, message: Message, *, to_room: bool) -> None:
    now = utcnow()
    if to_room:
        hub.queue(
            Event.AGENT_MESSAGE,
            AgentMessageEvent(message=message, timestamp=now),
            conversation_room(message.conversation_id),
        )
    event = NewMessageEvent(
        conversation_id=message.conversation_id, message=message, ai_suggestion=None, timestamp=now
    )
    hub.queue(Event.NEW_MESSAGE, event, AGENTS_ROOM)


def _customer_token(hub: Hub, conversation_id: str) -> str:
    return hub.signer.issue("customer", conversation_id, CUSTOMER_TOKEN_TTL)[0]


async def create_conversation(
    hub: Hub, identity: Identity, request: CreateConversationRequest
) -> CreateConversationResponse:
    """``POST /api/conversations``: anyone may start a conversation."""
    async with hub.transaction():
        visitor_id = request.visitor_id or hub.new_id("visitor")
        conversation = await hub.store.create_conversation(visitor_id, request.metadata)
        event = NewConversationEvent(
            conversation_id=conversation.id, conversation=conversation, timestamp=utcnow()
        )
        hub.queue(Event.NEW_CONVERSATION, event, AGENTS_ROOM)
    return CreateConversationResponse(
        conversation_id=conversation.id,
        conversation=conversation,
        token=_customer_token(hub, conversation.id),
    )


async def post_message(
    hub: Hub, identity: Identity, request: PostMessageRequest, idempotency_key: str | None
) -> dict[str, Any]:
    """``POST /api/messages``: a customer's message, and what the mode makes of it."""
    scope = "messages"
    async with hub.transaction():
        if idempotency_key is not None:
            cached = await hub.store.get_idempotent(scope, idempotency_key)
            if cached is not None:
                return cached
        conversation = await hub.store.get_conversation(request.conversation_id)
        mode = await hub.store.system_mode()
        token = None
        if conversation is None:
            if identity.kind == "customer":
                raise ServiceError(
                    ErrorCode.FORBIDDEN, "this token belongs to another conversation"
                )
            if request.conversation_id in RESERVED_CONVERSATION_IDS:
                raise ServiceError(
                    ErrorCode.INVALID_PAYLOAD,
                    f"{request.conversation_id!r} is reserved and cannot name a conversation",
                    [{"field": "conversationId", "message": "reserved name"}],
                    status=422,
                )
            visitor_id = request.visitor_id or hub.new_id("visitor")
            conversation = await hub.store.create_conversation(
                visitor_id, {}, conversation_id=request.conversation_id
            )
            if mode is SystemMode.HITL:
                agent_id = await hub.auto_assign(conversation)
                conversation = conversation.model_copy(update={"assigned_agent": agent_id})
            token = _customer_token(hub, conversation.id)
            event = NewConversationEvent(
                conversation_id=conversation.id, conversation=conversation, timestamp=utcnow()
            )
            hub.queue(Event.NEW_CONVERSATION, event, AGENTS_ROOM)
        else:
            identity.require_conversation(conversation.id)
            _require_active(conversation)
        user_message = await hub.store.add_message(conversation.id, request.message, Sender.VISITOR)
        _queue_message(hub, user_message, to_room=False)
        ai_message = None
        if mode is SystemMode.HITL and conversation.assigned_agent is None:
            await hub.auto_assign(conversation)
        elif mode is SystemMode.AUTOPILOT:
            ai_message = await hub.store.add_message(
                conversation.id,
                AUTOPILOT_REPLY,
                Sender.AGENT,
                agent_id=AUTOPILOT_AGENT_ID,
                metadata={"autopilot": True},
            )
            _queue_message(hub, ai_message, to_room=True)
        elif mode is SystemMode.OFF and not await hub.store.offline_notice_sent(conversation.id):
            ai_message = await hub.store.add_message(
                conversation.id, OFFLINE_NOTICE, Sender.SYSTEM, metadata={"offlineNotice": True}
            )
            await hub.store.mark_offline_notice(conversation.id)
            _queue_message(hub, ai_message, to_room=False)
        body = PostMessageResponse(
            conversation_id=conversation.id,
            user_message=user_message,
            ai_message=ai_message,
            token=token,
        ).to_wire()
        if token is None:
            body.pop("token", None)
        if idempotency_key is not None:
            await hub.store.put_idempotent(scope, idempotency_key, body)
    return body


async def conversation_messages(
    hub: Hub, identity: Identity, conversation_id: str, after: int, limit: int
) -> ConversationMessagesResponse:
    """``GET /api/conversations/{id}/messages``."""
    identity.require_conversation(conversation_id)
    await hub.conversation(conversation_id)
    messages = await hub.store.messages_after(after, limit, conversation_id)
    return ConversationMessagesResponse(conversation_id=conversation_id, messages=messages)


async def all_messages(hub: Hub, identity: Identity, after: int, limit: int) -> AllMessagesResponse:
    """``GET /api/messages``: every conversation's messages after ``after``."""
    identity.require_agent()
    messages = await hub.store.messages_after(after, limit)
    return AllMessagesResponse(messages=messages, last_seq=await hub.store.last_seq())


async def list_conversations(
    hub: Hub, identity: Identity, status: ConversationStatus | None
) -> ConversationListResponse:
    """``GET /api/admin/conversations``."""
    identity.require_agent()
    conversations = await hub.store.list_conversations(status=status)
    return ConversationListResponse(conversations=conversations)


async def agent_respond(
    hub: Hub, identity: Identity, request: AgentRespondRequest, idempotency_key: str | None
) -> dict[str, Any]:
    """``POST /api/agent/respond``: store an agent's reply; it takes the conversation."""
    identity.require_agent(request.agent_id)
    scope = "respond"
    async with hub.transaction():
        if idempotency_key is not None:
            cached = await hub.store.get_idempotent(scope, idempotency_key)
            if cached is not None:
                return cached
        conversation = await hub.conversation(request.conversation_id)
        _require_active(conversation)
        agent = await hub.agent_record(request.agent_id)
        agent.last_seen = utcnow()
        await hub.store.save_agent(agent)
        if conversation.assigned_agent != request.agent_id:
            await hub.store.assign(conversation.id, request.agent_id)
        message = await hub.store.add_message(
            conversation.id, request.message, Sender.AGENT, agent_id=request.agent_id
        )
        _queue_message(hub, message, to_room=True)
        body = AgentRespondResponse(success=True, message=message).to_wire()
        if idempotency_key is not None:
            await hub.store.put_idempotent(scope, idempotency_key, body)
    return body


async def set_personal_status(
    hub: Hub, identity: Identity, request: PersonalStatusRequest
) -> PersonalStatusResponse:
    """``POST /api/agent/personal-status``: ``afk`` hands chats over, ``online`` takes orphans."""
    identity.require_agent(request.agent_id)
    async with hub.transaction():
        agent = await hub.agent_record(request.agent_id)
        agent.personal_status = PersonalStatus(request.personal_status)
        agent.last_seen = utcnow()
        await hub.store.save_agent(agent)
        moves: list[Reassignment] = []
        if agent.personal_status is PersonalStatus.AFK:
            candidates = rules.available(await hub.store.list_agents(), exclude=agent.id)
            load = await hub.store.active_counts()
            mine = await hub.store.list_conversations(
                status=ConversationStatus.ACTIVE, assigned_to=agent.id
            )
            for conversation in mine:
                target = rules.pick_agent(candidates, load)
                await hub.store.assign(conversation.id, target)
                if target is not None:
                    load[target] = load.get(target, 0) + 1
                moves.append(
                    Reassignment(
                        conversation_id=conversation.id, from_agent_id=agent.id, to_agent_id=target
                    )
                )
            hub.queue_reassigned(moves, ReassignReason.AGENT_AFK)
        else:
            moves = await hub.assign_orphans(-1, ReassignReason.AGENT_ONLINE)
        await hub.queue_agents_update()
        view = await hub.agent_view(agent)
    return PersonalStatusResponse(success=True, agent=view, reassignments=moves)


async def get_mode(hub: Hub, identity: Identity) -> dict[str, Any]:
    """``GET /api/system/mode``: ``{mode}``."""
    identity.require_authenticated()
    return {"mode": (await hub.store.system_mode()).value}


async def set_mode(hub: Hub, identity: Identity, request: SystemModeRequest) -> SystemModeResponse:
    """``POST /api/system/mode``: agents change the mode; agents hear of it."""
    identity.require_agent()
    async with hub.transaction():
        if await hub.store.system_mode() is not request.mode:
            await hub.store.set_system_mode(request.mode)
            if request.mode is SystemMode.OFF:
                await hub.store.reset_offline_notices()
            event = SystemModeUpdateEvent(mode=request.mode)
            hub.queue(Event.SYSTEM_MODE_UPDATE, event, AGENTS_ROOM)
    return SystemModeResponse(success=True, mode=request.mode)


async def connected_agents(hub: Hub, identity: Identity) -> ConnectedAgentsResponse:
    """``GET /api/agents/connected``."""
    identity.require_agent()
    return ConnectedAgentsResponse(
        agents=await hub.agent_list(), system_mode=await hub.store.system_mode()
    )


async def assign(
    hub: Hub, identity: Identity, conversation_id: str, request: AssignRequest
) -> AssignResponse:
    """``POST /api/conversations/{id}/assign``."""
    identity.require_agent()
    async with hub.transaction():
        conversation = await hub.conversation(conversation_id)
        _require_active(conversation)
        await hub.store.assign(conversation.id, request.agent_id)
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
        conversation = await hub.conversation(conversation_id)
        if conversation.status is ConversationStatus.ACTIVE:
            await hub.store.set_status(conversation.id, ConversationStatus.ENDED)
    return EndConversationResponse(success=True)


async def bulk_assign(
    hub: Hub, identity: Identity, request: BulkAssignRequest
) -> BulkAssignResponse:
    """``POST /api/admin/conversations/bulk-assign``: all or nothing."""
    identity.require_agent()
    ids = list(dict.fromkeys(request.conversation_ids))
    async with hub.transaction():
        conversations = [await hub.store.get_conversation(cid) for cid in ids]
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
            await hub.store.assign(conversation.id, request.agent_id)
            moves.append(
                Reassignment(
                    conversation_id=conversation.id,
                    from_agent_id=conversation.assigned_agent,
                    to_agent_id=request.agent_id,
                )
            )
        hub.queue_reassigned(moves, ReassignReason.BULK_ASSIGN)
    return BulkAssignResponse(success=True, reassigned=moves)


def agent_token(hub: Hub, request: AgentTokenRequest) -> AgentTokenResponse:
    """``POST /api/auth/agent-token``: trade the agent key for a token."""
    if hub.agent_key is not None and not hmac.compare_digest(
        request.agent_key.encode(), hub.agent_key.encode()
    ):
        raise ServiceError(ErrorCode.UNAUTHORIZED, "wrong agent key")
    token, expires = hub.signer.issue("agent", request.agent_id, AGENT_TOKEN_TTL)
    return AgentTokenResponse(
        token=token, agent_id=request.agent_id, expires_at=datetime.fromtimestamp(expires, UTC)
    )
