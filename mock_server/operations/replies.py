"""Agent replies: ``POST /api/agent/respond``."""

from __future__ import annotations

from typing import Any

from vilnius_client.events import (
    AgentRespondRequest,
    AgentSentMessageEvent,
    ErrorCode,
    Event,
    Sender,
    SystemMode,
    format_timestamp,
    utcnow,
)

from ..auth import Identity
from ..errors import ServiceError
from ..hub import Hub
from ..rooms import AGENTS_ROOM
from .common import queue_message, require_active
from .idempotency import remember, replayed
from .statistics import record_reply
from .suggestions import drop_pending
from .tickets import reopen_archived

__all__ = ["agent_respond"]


async def agent_respond(
    hub: Hub, identity: Identity, request: AgentRespondRequest, idempotency_key: str | None
) -> dict[str, Any]:
    """``POST /api/agent/respond``: store an agent's reply; it takes the conversation.

    With agent users (production) the agent id must name a user (else 500, as there);
    the reply also goes to ``agents`` as ``agent-sent-message``, supersedes the
    pending suggestions, carries the file it attaches, reopens an archived conversation
    (unassigned) and is counted in the statistics (``statistics.record_reply``).
    """
    profile = hub.profile
    identity.require_agent(request.agent_id)
    scope = "respond"
    async with hub.transaction():
        cached = await replayed(hub, scope, identity, idempotency_key, request)
        if cached is not None:
            return cached
        conversation = hub.conversation(request.conversation_id)
        require_active(conversation)
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
            await drop_pending(hub, conversation.id)
            reopen_archived(hub, conversation)
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
        if profile.user_login:
            record_reply(
                hub, message, request.agent_id, request.used_suggestion, request.suggestion_action
            )
        queue_message(hub, message, to_room=True, to_agents=profile.new_message_for_every_message)
        if profile.agent_sent_message:
            sent = AgentSentMessageEvent(
                conversation_id=conversation.id, message=message, timestamp=utcnow()
            )
            hub.queue(Event.AGENT_SENT_MESSAGE, sent, AGENTS_ROOM)
        body = {"success": True, "message": profile.encoder.message(message)}
        remember(hub, scope, identity, idempotency_key, request, body)
    return body


def _attribution(request: AgentRespondRequest, name: str) -> dict[str, Any]:
    """Production's metadata of an agent reply."""
    metadata: dict[str, Any] = {}
    if request.suggestion_action is not None:
        metadata["suggestionAction"] = request.suggestion_action
    if request.used_suggestion is not None:
        metadata["usedSuggestion"] = request.used_suggestion
    if request.file_metadata is not None:
        metadata["file"] = request.file_metadata
    metadata["responseAttribution"] = {
        "respondedBy": name,
        "responseType": request.suggestion_action or "custom",
        "systemMode": SystemMode.HITL.value,
        "timestamp": format_timestamp(utcnow()),
    }
    return metadata
