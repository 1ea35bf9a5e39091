"""The REST operations of CONTRACT.md §6, over a :class:`~mock_server.hub.Hub`.

Each function checks the caller's :class:`~mock_server.auth.Identity`, changes the
state in one transaction and returns the answer model; the HTTP layer
(:mod:`mock_server.api`) only parses and serialises.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from vilnius_client.events import (
    AgentMessageEvent,
    AgentRespondRequest,
    AgentSentMessageEvent,
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
    ConversationSummary,
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
    WireModel,
    format_timestamp,
    utcnow,
)

from . import rules
from .auth import AGENT_TOKEN_TTL, CUSTOMER_TOKEN_TTL, Identity
from .errors import ServiceError
from .hub import Hub
from .rooms import AGENTS_ROOM, RESERVED_CONVERSATION_IDS, conversation_room
from .users import display_name
from .wirejson import dumps

AUTOPILOT_AGENT_ID = "autopilot"
"""``agentId`` of the messages the autopilot writes."""

AUTOPILOT_REPLY = "Thanks for your message! This is an automatic reply; an agent will follow up."
"""The autopilot's canned answer."""

OFFLINE_NOTICE = "Our agents are offline right now. Leave a message and we will get back to you."
"""The system message sent once per conversation while the mode is ``off``."""

AI_SUGGESTION = "Thanks for reaching out! An agent will look at your question shortly."
"""The canned AI suggestion of profile ``lizdeika`` (production asks its AI provider)."""

PENDING_WITH_AGENT = "[Message pending agent response - AI suggestion available]"
PENDING_WITHOUT_AGENT = "[No agents online - Message awaiting assignment]"
"""Contents of production's pending system message (``hitl``), with and without an agent."""


def _is_pending(message: Message) -> bool:
    """A pending-suggestion system message, as production recognises them."""
    metadata = message.metadata or {}
    return metadata.get("pendingAgent") is True or "[Message pending agent response" in (
        message.content
    )


async def _drop_pending(hub: Hub, conversation_id: str) -> None:
    """Production: a new message or reply supersedes the pending suggestions."""
    history = await hub.store.messages.history(conversation_id)
    hub.store.messages.delete([m.id for m in history if _is_pending(m)])


async def _pending_suggestion(
    hub: Hub, conversation: Conversation, text: str, *, unassigned: bool
) -> Message:
    """Production (``hitl``): store a system message holding the AI suggestion."""
    history = await hub.store.messages.history(conversation.id)
    visitor_count = 1 + sum(1 for m in history if m.sender is Sender.VISITOR)
    return hub.store.messages.add(
        conversation.id,
        PENDING_WITHOUT_AGENT if unassigned else PENDING_WITH_AGENT,
        Sender.SYSTEM,
        metadata={
            "pendingAgent": True,
            "aiSuggestion": {
                "response": AI_SUGGESTION,
                "metadata": {"provider": "mock", "ragUsed": False, "fallbackUsed": True},
            },
            "confidence": 0.85,
            "customerMessage": text,
            "messageCount": visitor_count,
            "assignedAgent": conversation.assigned_agent,
            "unseenByAgents": unassigned,
            "needsManualAssignment": unassigned,
        },
        message_type=hub.profile.default_message_type,
    )


async def _production_offline_notice(hub: Hub, user_message: Message) -> Message:
    """Production (``off``): the first message of a conversation is overwritten by the notice.

    Later messages get the stored notice back. Production really does replace the
    customer's message (its ``replaceLastMessage``); the answer is a notice with a new id.
    """
    history = await hub.store.messages.history(user_message.conversation_id)
    for message in history:
        if (message.metadata or {}).get("messageType") == "offline_notification":
            return message
    metadata = {"isSystemMessage": True, "messageType": "offline_notification"}
    hub.store.messages.replace(user_message.id, OFFLINE_NOTICE, Sender.SYSTEM, metadata)
    return Message(
        id=str(uuid.uuid4()),
        conversation_id=user_message.conversation_id,
        content=OFFLINE_NOTICE,
        sender=Sender.SYSTEM,
        timestamp=utcnow(),
        metadata=metadata,
    )


def _queue_visitor_message(hub: Hub, conversation: Conversation, message: Message) -> None:
    """Production's ``new-message``: a visitor message, with where its conversation stands."""
    summary = ConversationSummary(
        id=conversation.id,
        assigned_agent=conversation.assigned_agent,
        last_message_timestamp=message.timestamp,
        unseen_by_agent=conversation.assigned_agent is not None,
    )
    event = NewMessageEvent(conversation_id=conversation.id, message=message, conversation=summary)
    hub.queue(Event.NEW_MESSAGE, event, AGENTS_ROOM)


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


def _servable(event: WireModel) -> None:
    """Refuse (inside the transaction, so nothing is stored) what could not be sent back."""
    try:
        dumps(event.to_wire())
    except (TypeError, ValueError, RecursionError) as exc:
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD, "the request cannot be stored and served back", status=422
        ) from exc


def _fingerprint(request: WireModel) -> str:
    """A digest of what a request asks for (its body, canonical JSON)."""
    text = json.dumps(request.to_wire(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def _replayed(
    hub: Hub, scope: str, identity: Identity, key: str | None, request: WireModel
) -> dict[str, Any] | None:
    """The answer remembered for this caller's ``Idempotency-Key``, or ``None``.

    Answers are kept per caller (its identity: an agent, a conversation's customer, or
    for an anonymous caller nothing, so that the body decides) and with the request's
    fingerprint: the same key with another body is refused with 422, as the IETF
    Idempotency-Key draft says, instead of answering for a different request. Call it
    only once the caller is authorised for the request.
    """
    if key is None or not hub.profile.idempotency:
        return None
    cached = await hub.store.idempotency.get(_key_scope(scope, identity), key)
    if cached is None:
        return None
    if cached.get("fingerprint") != _fingerprint(request):
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD,
            "this Idempotency-Key was used with a different request",
            {"field": "Idempotency-Key"},
            status=422,
        )
    body: dict[str, Any] = cached["body"]
    return body


def _remember(
    hub: Hub,
    scope: str,
    identity: Identity,
    key: str | None,
    request: WireModel,
    body: dict[str, Any],
) -> None:
    if key is not None and hub.profile.idempotency:
        entry = {"fingerprint": _fingerprint(request), "body": body}
        hub.store.idempotency.put(_key_scope(scope, identity), key, entry)


def _key_scope(scope: str, identity: Identity) -> str:
    return f"{scope}|{identity.kind}:{identity.subject or ''}"


def _customer_token(hub: Hub, conversation_id: str) -> str:
    return hub.signer.issue("customer", conversation_id, CUSTOMER_TOKEN_TTL)[0]


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
        _servable(event)
        hub.queue(Event.NEW_CONVERSATION, event, AGENTS_ROOM)
    return CreateConversationResponse(
        conversation_id=conversation.id,
        conversation=conversation,
        token=_customer_token(hub, conversation.id),
    )


async def post_message(
    hub: Hub, identity: Identity, request: PostMessageRequest, idempotency_key: str | None
) -> dict[str, Any]:
    """``POST /api/messages``: a customer's message, and what the mode makes of it.

    The profile says which events go out and what each mode adds (see
    :class:`~mock_server.profile.Profile`).
    """
    profile = hub.profile
    scope = "messages"
    async with hub.transaction():
        conversation = hub.store.conversations.get(request.conversation_id)
        if conversation is None and identity.kind == "customer":
            raise ServiceError(ErrorCode.FORBIDDEN, "this token belongs to another conversation")
        if conversation is not None and identity.kind != "anonymous":
            identity.require_conversation(conversation.id)
        # An anonymous caller is authorised by the request itself: only the same body
        # under the same key gets the answer (of the message that created the conversation).
        cached = await _replayed(hub, scope, identity, idempotency_key, request)
        if cached is not None:
            return cached
        if conversation is not None:
            identity.require_conversation(conversation.id)
        mode = hub.store.settings.system_mode()
        token = None
        if conversation is None:
            if request.conversation_id in RESERVED_CONVERSATION_IDS:
                raise ServiceError(
                    ErrorCode.INVALID_PAYLOAD,
                    f"{request.conversation_id!r} is reserved and cannot name a conversation",
                    [{"field": "conversationId", "message": "reserved name"}],
                    status=422,
                )
            visitor_id = request.visitor_id or (
                hub.new_id("visitor") if profile.agent_tokens else str(uuid.uuid4())
            )
            conversation = hub.store.conversations.create(
                visitor_id, {}, conversation_id=request.conversation_id
            )
            if mode is SystemMode.HITL:
                agent_id = hub.auto_assign(conversation)
                conversation = conversation.model_copy(update={"assigned_agent": agent_id})
            if profile.agent_tokens:
                token = _customer_token(hub, conversation.id)
            event = NewConversationEvent(
                conversation_id=conversation.id, conversation=conversation, timestamp=utcnow()
            )
            hub.queue(Event.NEW_CONVERSATION, event, AGENTS_ROOM)
        else:
            _require_active(conversation)
        text = request.message.strip() if profile.trim_messages else request.message
        user_message = hub.store.messages.add(
            conversation.id,
            text,
            Sender.VISITOR,
            message_type=request.message_type or profile.default_message_type,
            null_metadata=profile.null_metadata,
        )
        if profile.new_message_for_every_message:
            _queue_message(hub, user_message, to_room=False)
        ai_message = None
        if mode is SystemMode.HITL:
            if profile.pending_suggestions:
                await _drop_pending(hub, conversation.id)
                _queue_visitor_message(hub, conversation, user_message)
            if conversation.assigned_agent is None:
                agent_id = hub.auto_assign(conversation)
                conversation = conversation.model_copy(update={"assigned_agent": agent_id})
            if profile.pending_suggestions:
                ai_message = await _pending_suggestion(
                    hub, conversation, text, unassigned=conversation.assigned_agent is None
                )
        elif mode is SystemMode.AUTOPILOT:
            ai_message = hub.store.messages.add(
                conversation.id,
                AUTOPILOT_REPLY,
                Sender.AGENT,
                agent_id=AUTOPILOT_AGENT_ID if profile.announce_autopilot else None,
                metadata={"autopilot": True}
                if profile.announce_autopilot
                else {
                    "isAutopilotResponse": True,
                    "displayDisclaimer": True,
                    "originalSuggestion": AUTOPILOT_REPLY,
                    "responseAttribution": {
                        "respondedBy": "Autopilot",
                        "responseType": "autopilot",
                        "systemMode": "autopilot",
                        "timestamp": format_timestamp(utcnow()),
                    },
                },
                message_type=profile.default_message_type,
            )
            if profile.announce_autopilot:
                _queue_message(hub, ai_message, to_room=True)
        elif mode is SystemMode.OFF and profile.offline_notice_replaces:
            ai_message = await _production_offline_notice(hub, user_message)
        elif mode is SystemMode.OFF and not hub.store.conversations.offline_notice_sent(
            conversation.id
        ):
            ai_message = hub.store.messages.add(
                conversation.id, OFFLINE_NOTICE, Sender.SYSTEM, metadata={"offlineNotice": True}
            )
            hub.store.conversations.mark_offline_notice(conversation.id)
            _queue_message(hub, ai_message, to_room=False)
        body = profile.encoder.post_message_answer(
            PostMessageResponse(
                conversation_id=conversation.id,
                user_message=user_message,
                ai_message=ai_message,
                token=token,
            )
        )
        _remember(hub, scope, identity, idempotency_key, request, body)
    return body


async def conversation_messages(
    hub: Hub, identity: Identity, conversation_id: str, after: int, limit: int
) -> ConversationMessagesResponse:
    """``GET /api/conversations/{id}/messages``."""
    identity.require_conversation(conversation_id)
    hub.conversation(conversation_id)
    messages = await hub.store.messages.after(after, limit, conversation_id)
    return ConversationMessagesResponse(conversation_id=conversation_id, messages=messages)


async def all_messages(hub: Hub, identity: Identity, after: int, limit: int) -> AllMessagesResponse:
    """``GET /api/messages``: every conversation's messages after ``after``."""
    identity.require_agent()
    messages = await hub.store.messages.after(after, limit)
    return AllMessagesResponse(messages=messages, last_seq=hub.store.messages.last_seq())


def list_conversations(
    hub: Hub, identity: Identity, status: ConversationStatus | None
) -> ConversationListResponse:
    """``GET /api/admin/conversations``."""
    identity.require_agent()
    conversations = hub.store.conversations.all(status=status)
    return ConversationListResponse(conversations=conversations)


async def agent_respond(
    hub: Hub, identity: Identity, request: AgentRespondRequest, idempotency_key: str | None
) -> dict[str, Any]:
    """``POST /api/agent/respond``: store an agent's reply; it takes the conversation.

    With agent users (production) the agent id must name a user (else 500, as there);
    the reply also goes to ``agents`` as ``agent-sent-message`` and supersedes the
    pending suggestions.
    """
    profile = hub.profile
    identity.require_agent(request.agent_id)
    scope = "respond"
    async with hub.transaction():
        cached = await _replayed(hub, scope, identity, idempotency_key, request)
        if cached is not None:
            return cached
        conversation = hub.conversation(request.conversation_id)
        _require_active(conversation)
        metadata: dict[str, Any] = {}
        if profile.user_login:
            user = hub.find_user(request.agent_id)
            if user is None and conversation.assigned_agent != request.agent_id:
                raise ServiceError(
                    ErrorCode.INTERNAL,
                    f"no agent user {request.agent_id!r}",
                    body={"error": "Failed to send response"},
                )
            if user is not None and conversation.assigned_agent != user.id:
                hub.store.conversations.assign(conversation.id, user.id)
            hub.touch_user(request.agent_id)
            metadata = _attribution(request, user.name if user else request.agent_id)
            metadata["responseAttribution"]["systemMode"] = hub.store.settings.system_mode().value
            await _drop_pending(hub, conversation.id)
        else:
            agent = hub.agent_record(request.agent_id)
            agent.last_seen = utcnow()
            hub.store.agents.save(agent)
            if conversation.assigned_agent != request.agent_id:
                hub.store.conversations.assign(conversation.id, request.agent_id)
        message = hub.store.messages.add(
            conversation.id,
            request.message,
            Sender.AGENT,
            agent_id=request.agent_id,
            metadata=metadata,
            message_type=request.message_type or profile.default_message_type,
        )
        if profile.new_message_for_every_message:
            _queue_message(hub, message, to_room=True)
        else:
            event = AgentMessageEvent(message=message, timestamp=utcnow())
            hub.queue(Event.AGENT_MESSAGE, event, conversation_room(conversation.id))
        if profile.agent_sent_message:
            sent = AgentSentMessageEvent(
                conversation_id=conversation.id, message=message, timestamp=utcnow()
            )
            hub.queue(Event.AGENT_SENT_MESSAGE, sent, AGENTS_ROOM)
        body = {"success": True, "message": profile.encoder.message(message)}
        _remember(hub, scope, identity, idempotency_key, request, body)
    return body


def _attribution(request: AgentRespondRequest, name: str) -> dict[str, Any]:
    """Production's metadata of an agent reply."""
    metadata: dict[str, Any] = {}
    if request.suggestion_action is not None:
        metadata["suggestionAction"] = request.suggestion_action
    if request.used_suggestion is not None:
        metadata["usedSuggestion"] = request.used_suggestion
    metadata["responseAttribution"] = {
        "respondedBy": name,
        "responseType": request.suggestion_action or "custom",
        "systemMode": SystemMode.HITL.value,
        "timestamp": format_timestamp(utcnow()),
    }
    return metadata


async def set_personal_status(
    hub: Hub, identity: Identity, request: PersonalStatusRequest
) -> PersonalStatusResponse:
    """``POST /api/agent/personal-status``: ``afk`` hands chats over, ``online`` takes orphans."""
    identity.require_agent(request.agent_id)
    async with hub.transaction():
        agent = hub.agent_record(request.agent_id)
        agent.personal_status = PersonalStatus(request.personal_status)
        agent.last_seen = utcnow()
        hub.store.agents.save(agent)
        moves: list[Reassignment] = []
        if agent.personal_status is PersonalStatus.AFK:
            candidates = rules.available(hub.store.agents.all(), exclude=agent.id)
            load = hub.store.conversations.active_counts()
            mine = hub.store.conversations.all(
                status=ConversationStatus.ACTIVE, assigned_to=agent.id
            )
            for conversation in mine:
                target = rules.pick_agent(candidates, load)
                hub.store.conversations.assign(conversation.id, target)
                if target is not None:
                    load[target] = load.get(target, 0) + 1
                moves.append(
                    Reassignment(
                        conversation_id=conversation.id, from_agent_id=agent.id, to_agent_id=target
                    )
                )
            hub.queue_reassigned(moves, ReassignReason.AGENT_AFK)
        else:
            moves = hub.assign_orphans(-1, ReassignReason.AGENT_ONLINE)
        hub.queue_agents_update()
        view = hub.agent_view(agent)
    return PersonalStatusResponse(success=True, agent=view, reassignments=moves)


def get_mode(hub: Hub, identity: Identity) -> dict[str, Any]:
    """``GET /api/system/mode``: ``{mode}``."""
    identity.require_authenticated()
    return {"mode": hub.store.settings.system_mode().value}


async def set_mode(hub: Hub, identity: Identity, request: SystemModeRequest) -> SystemModeResponse:
    """``POST /api/system/mode``: agents change the mode; agents hear of it."""
    identity.require_agent()
    async with hub.transaction():
        changed = hub.store.settings.system_mode() is not request.mode
        if changed:
            hub.store.settings.set_system_mode(request.mode)
            if request.mode is SystemMode.OFF:
                hub.store.conversations.reset_offline_notices()
        if changed or not hub.profile.mode_update_on_change_only:
            event = SystemModeUpdateEvent(mode=request.mode)
            hub.queue(Event.SYSTEM_MODE_UPDATE, event, AGENTS_ROOM)
    return SystemModeResponse(success=True, mode=request.mode)


def connected_agents(hub: Hub, identity: Identity) -> ConnectedAgentsResponse:
    """``GET /api/agents/connected``."""
    identity.require_agent()
    return ConnectedAgentsResponse(
        agents=hub.agent_list(), system_mode=hub.store.settings.system_mode()
    )


async def assign(
    hub: Hub, identity: Identity, conversation_id: str, request: AssignRequest
) -> AssignResponse:
    """``POST /api/conversations/{id}/assign``."""
    identity.require_agent()
    async with hub.transaction():
        conversation = hub.conversation(conversation_id)
        _require_active(conversation)
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


# --------------------------------------------------------------------------
# What only production does (profile ``lizdeika``; its REST layer is
# :mod:`mock_server.production_api`)


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
    numbered = {c.id: number for number, c in enumerate(conversations, start=1)}
    daily: dict[str, int] = {}
    tickets: dict[str, str] = {}
    for conversation in conversations:
        day = conversation.started_at.strftime("%Y%m%d")
        daily[day] = daily.get(day, 0) + 1
        tickets[conversation.id] = f"LZD-{day}-{daily[day]:04d}"
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
                "userNumber": numbered[conversation.id],
                "assignedAgent": conversation.assigned_agent,
                "startedAt": format_timestamp(conversation.started_at),
                "ticketNumber": tickets[conversation.id],
                "subject": "Website Support Request",
                "archived": False,
                "category": "general",
                "categoryId": None,
                "category_id": None,
                "categoryData": None,
                "messageCount": counts.get(conversation.id, 0),
                "lastMessage": shown[0] if shown else None,
                "messages": shown,
            }
        )
    return {"conversations": answer, "total": len(answer)}


async def personal_status_production(
    hub: Hub, agent_id: str, status: PersonalStatus
) -> dict[str, Any]:
    """Production's ``POST /api/agent/personal-status`` (``online`` | ``offline``).

    Any id is answered; only a user's is recorded. No conversation changes hands
    (``reassignments`` is always 0 at production's commit); the agents hear of it.
    """
    async with hub.transaction():
        user = hub.find_user(agent_id)
        hub.touch_user(agent_id, status)
        hub.queue_agents_update()
    now = format_timestamp(utcnow())
    agent: dict[str, Any] = {
        "id": agent_id,
        "name": display_name(agent_id),
        "status": status.value,
        "personalStatus": status.value,
        "lastSeen": now,
        "connected": status is not PersonalStatus.OFFLINE,
    }
    if user is not None:
        agent["user_id"] = user.id
    return {"success": True, "agent": agent, "reassignments": 0}


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
