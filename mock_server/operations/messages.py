"""Customer messages and what the system mode makes of them; message pages."""

from __future__ import annotations

import uuid
from typing import Any

from vilnius_client.events import (
    AllMessagesResponse,
    Conversation,
    ConversationMessagesResponse,
    ConversationSummary,
    ErrorCode,
    Event,
    Message,
    NewConversationEvent,
    NewMessageEvent,
    PostMessageRequest,
    PostMessageResponse,
    Sender,
    SystemMode,
    format_timestamp,
    utcnow,
)

from .. import jstext
from ..auth import Identity
from ..errors import ServiceError
from ..hub import Hub
from ..rooms import AGENTS_ROOM, RESERVED_CONVERSATION_IDS
from .common import queue_message, require_active
from .idempotency import remember, replayed
from .suggestions import drop_pending, pending_suggestion
from .tickets import reopen_archived
from .tokens import customer_token

__all__ = [
    "AUTOPILOT_AGENT_ID",
    "AUTOPILOT_REPLY",
    "OFFLINE_NOTICE",
    "all_messages",
    "conversation_messages",
    "post_message",
]

AUTOPILOT_AGENT_ID = "autopilot"
"""``agentId`` of the messages the autopilot writes."""

AUTOPILOT_REPLY = "Thanks for your message! This is an automatic reply; an agent will follow up."
"""The autopilot's canned answer."""

OFFLINE_NOTICE = "Our agents are offline right now. Leave a message and we will get back to you."
"""The system message sent once per conversation while the mode is ``off``."""


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


async def post_message(
    hub: Hub, identity: Identity, request: PostMessageRequest, idempotency_key: str | None
) -> dict[str, Any]:
    """``POST /api/messages``: a customer's message, and what the mode makes of it.

    The profile says which events go out and what each mode adds (see
    ``Profile``).
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
        cached = await replayed(hub, scope, identity, idempotency_key, request)
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
                token = customer_token(hub, conversation.id)
            event = NewConversationEvent(
                conversation_id=conversation.id, conversation=conversation, timestamp=utcnow()
            )
            hub.queue(Event.NEW_CONVERSATION, event, AGENTS_ROOM)
        else:
            require_active(conversation)
            if profile.user_login:
                conversation = reopen_archived(hub, conversation)
        text = jstext.trim(request.message) if profile.trim_messages else request.message
        user_message = hub.store.messages.add(
            conversation.id,
            text,
            Sender.VISITOR,
            message_type=request.message_type or profile.default_message_type,
            null_metadata=profile.null_metadata,
        )
        if profile.new_message_for_every_message:
            queue_message(hub, user_message, to_room=False)
        ai_message = None
        if mode is SystemMode.HITL:
            if profile.pending_suggestions:
                await drop_pending(hub, conversation.id)
                _queue_visitor_message(hub, conversation, user_message)
            if conversation.assigned_agent is None:
                agent_id = hub.auto_assign(conversation)
                conversation = conversation.model_copy(update={"assigned_agent": agent_id})
            if profile.pending_suggestions:
                ai_message = await pending_suggestion(
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
                queue_message(hub, ai_message, to_room=True)
        elif mode is SystemMode.OFF and profile.offline_notice_replaces:
            ai_message = await _production_offline_notice(hub, user_message)
        elif mode is SystemMode.OFF and not hub.store.conversations.offline_notice_sent(
            conversation.id
        ):
            ai_message = hub.store.messages.add(
                conversation.id, OFFLINE_NOTICE, Sender.SYSTEM, metadata={"offlineNotice": True}
            )
            hub.store.conversations.mark_offline_notice(conversation.id)
            queue_message(hub, ai_message, to_room=False)
        body = profile.encoder.post_message_answer(
            PostMessageResponse(
                conversation_id=conversation.id,
                user_message=user_message,
                ai_message=ai_message,
                token=token,
            )
        )
        remember(hub, scope, identity, idempotency_key, request, body)
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
