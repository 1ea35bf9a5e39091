"""Production's REST dialect (profile ``lizdeika``): its paths, validation and bodies.

Each endpoint validates and answers as production's does (``express.py``); the state
changes and events are the shared operations of ``mock_server.operations`` and the shared
``Hub``, which consult the profile for what differs. Only what production alone has
lives here and in ``production_auth.py`` (email/password login and refresh, JWTs): the
admin conversation list's shape, ``mark-seen``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from vilnius_client.events import (
    AgentRespondRequest,
    ConversationSeenUpdateEvent,
    Event,
    MessageType,
    PersonalStatus,
    PostMessageRequest,
    SystemMode,
    SystemModeRequest,
    format_timestamp,
    utcnow,
)

from .. import jstext
from .. import operations as ops
from ..auth import OPEN
from ..encoders import production_error
from ..hub import Hub
from ..ratelimit import FixedWindow, RateLimit
from ..rooms import AGENTS_ROOM
from ..wirejson import json_response
from . import production_agent, production_auth, production_web
from .express import client_ip, fail, invalid, limited, read_body
from .express import conversation_id as _conversation_id
from .production_auth import jwt_user
from .production_files import validate_file_metadata

__all__ = ["add_routes", "hub_port"]

MESSAGE_TYPES = frozenset(t.value for t in MessageType)
"""Production's message types: a reply of another type fails to be stored (500)."""


def _message_text(value: Any, limit: int) -> str:
    """``validateMessage``: 1..limit UTF-16 units, not blank (JavaScript's rules: ``jstext``)."""
    if not isinstance(value, str):
        raise invalid("message must be a string", "message")
    if jstext.length(value) > limit:
        raise invalid(f"message must be no more than {limit} characters", "message")
    if not jstext.trim(value):
        raise invalid("Message cannot be empty or only whitespace", "message")
    return value


def _truthy(value: Any) -> bool:
    """JavaScript's truthiness (an empty object or list is true there)."""
    return value is not None and value is not False and value != "" and value != 0


def add_routes(app: web.Application, hub: Hub, message_limit: RateLimit | None) -> None:
    """Add production's endpoints to ``app`` (``message_limit``: of ``POST /api/messages``)."""
    routes = web.RouteTableDef()
    message_limiter = FixedWindow(message_limit) if message_limit is not None else None
    started = time.monotonic()
    profile = hub.profile

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        conversations = hub.store.conversations.all()
        return json_response(
            {
                "status": "ok",
                "timestamp": format_timestamp(utcnow()),
                "uptime": time.monotonic() - started,
                "memory": {},
                "environment": "development",
                "port": hub_port(request),
                # production reports these as un-awaited promises: {} each
                "connections": {"conversations": {}, "messages": {}, "agents": {}},
                "aiProvider": {"provider": "mock", "healthy": True},
                "conversationCount": len(conversations),
            }
        )

    @routes.post("/api/conversations")
    async def create_conversation(request: web.Request) -> web.Response:
        body = await read_body(request)
        metadata = body.get("metadata")
        if "metadata" in body and metadata is not None and not isinstance(metadata, dict | list):
            raise invalid("metadata must be an object", "metadata")
        visitor_id = body.get("visitorId") or None
        answer = await ops.create_conversation_production(
            hub, visitor_id if isinstance(visitor_id, str) else None, metadata or {}
        )
        return json_response(answer)

    @routes.post("/api/messages")
    async def post_message(request: web.Request) -> web.Response:
        headers: dict[str, str] = {}
        if message_limiter is not None:
            headers = limited(
                message_limiter,
                client_ip(request),
                {
                    "success": False,
                    "error": "Too many messages. Please wait before sending more.",
                    "code": "RATE_LIMIT_EXCEEDED",
                },
            )
        body = await read_body(request)
        for field in ("conversationId", "message"):
            if not body.get(field):
                raise invalid(f"Missing required field: {field}", field)
        conversation_id = _conversation_id(body["conversationId"])
        text = _message_text(body["message"], profile.max_message)
        visitor_id = body.get("visitorId")
        message_type = body.get("messageType")
        parsed = PostMessageRequest.model_construct(
            conversation_id=conversation_id,
            message=text,
            visitor_id=visitor_id if isinstance(visitor_id, str) and visitor_id else None,
            message_type=message_type if isinstance(message_type, str) else None,
        )
        answer = await ops.post_message(hub, OPEN, parsed, None)
        return json_response(answer, headers=headers)

    @routes.get("/api/conversations/{id}/messages")
    async def conversation_messages(request: web.Request) -> web.Response:
        conversation_id = request.match_info["id"]
        history = await hub.store.messages.history(conversation_id)
        encoder = profile.encoder
        assert hasattr(encoder, "history_message")
        return json_response(
            {
                "conversationId": conversation_id,
                "messages": [encoder.history_message(m) for m in history],
            }
        )

    @routes.get("/api/admin/conversations")
    async def list_conversations(request: web.Request) -> web.Response:
        return json_response(await ops.admin_conversations_production(hub))

    @routes.post("/api/agent/respond")
    async def agent_respond(request: web.Request) -> web.Response:
        body = await read_body(request)
        file_metadata = None
        if _truthy(body.get("fileMetadata")):
            try:
                file_metadata = validate_file_metadata(body["fileMetadata"])
            except ValueError as exc:
                raise fail(400, {"error": f"Invalid file metadata: {exc}"}) from None
        conversation_id = body.get("conversationId")
        conversation = (
            hub.store.conversations.get(conversation_id)
            if isinstance(conversation_id, str)
            else None
        )
        if conversation is None:
            raise fail(404, {"error": "Conversation not found"})
        message = body.get("message")
        if isinstance(message, dict) and isinstance(message.get("response"), str):
            message = message["response"]
        elif isinstance(message, dict):
            message = json.dumps(message, separators=(",", ":"))
        agent_id = body.get("agentId")
        message_type = body.get("messageType") or None
        if (
            not isinstance(message, str)
            or not isinstance(agent_id, str)
            or message_type not in (None, *MESSAGE_TYPES)
        ):
            # production fails storing such a reply: 500 (nothing is stored here)
            raise fail(500, {"error": "Failed to send response"})
        action = body.get("suggestionAction")
        parsed = AgentRespondRequest.model_construct(
            conversation_id=conversation.id,
            message=message,
            agent_id=agent_id,
            used_suggestion=body.get("usedSuggestion"),
            suggestion_action=action if isinstance(action, str) else None,
            auto_assign=bool(body.get("autoAssign")),
            message_type=message_type,
            file_metadata=file_metadata,
        )
        return json_response(await ops.agent_respond(hub, OPEN, parsed, None))

    @routes.post("/api/agent/personal-status")
    async def personal_status(request: web.Request) -> web.Response:
        body = await read_body(request)
        agent_id, status = body.get("agentId"), body.get("personalStatus")
        if not agent_id or not status:
            raise fail(400, {"error": "Agent ID and personal status are required"})
        if status not in profile.personal_statuses:
            raise fail(400, {"error": "Personal status must be online or offline"})
        if not isinstance(agent_id, str):
            raise fail(500, {"error": "Failed to update personal status"})
        return json_response(
            await ops.personal_status_production(hub, agent_id, PersonalStatus(status))
        )

    @routes.get("/api/system/mode")
    async def get_mode(request: web.Request) -> web.Response:
        return json_response({"mode": hub.store.settings.system_mode().value})

    @routes.post("/api/system/mode")
    async def set_mode(request: web.Request) -> web.Response:
        body = await read_body(request)
        mode = body.get("mode")
        if not mode:
            raise fail(400, {"error": "Mode is required"})
        if mode not in {m.value for m in SystemMode}:
            message = f"Invalid system mode: {mode}. Must be 'hitl', 'autopilot', or 'off'"
            raise fail(400, production_error(message))
        answer = await ops.set_mode(hub, OPEN, SystemModeRequest(mode=mode))
        return json_response({"success": True, "mode": answer.mode.value})

    @routes.get("/api/agents/connected")
    async def connected_agents(request: web.Request) -> web.Response:
        agents = [profile.encoder.agent(agent) for agent in hub.agent_list()]
        return json_response(
            {"agents": agents, "systemMode": hub.store.settings.system_mode().value}
        )

    @routes.post("/api/conversations/{id}/assign")
    async def assign(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        conversation_id = _conversation_id(request.match_info["id"])
        body = await read_body(request)
        agent_id = body.get("agentId")
        if not agent_id:
            raise invalid("Missing required field: agentId", "agentId")
        if not isinstance(agent_id, str):
            raise invalid("agentId must be a string", "agentId")
        return json_response(await ops.assign_production(hub, conversation_id, agent_id))

    @routes.post("/api/conversations/{id}/end")
    async def end(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        body = await read_body(request)
        conversation = hub.store.conversations.get(request.match_info["id"])
        if conversation is None or conversation.assigned_agent != body.get("agentId"):
            raise fail(403, {"error": "Not authorized"})
        return json_response({"success": True})  # production records nothing else

    @routes.post("/api/conversations/{id}/mark-seen")
    async def mark_seen(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        body = await read_body(request)
        conversation_id = request.match_info["id"]
        async with hub.transaction():
            if hub.store.conversations.get(conversation_id) is None:
                raise fail(500, {"error": "Failed to mark messages as seen"})
            agent_id = body.get("agentId")
            event = ConversationSeenUpdateEvent(
                conversation_id=conversation_id,
                agent_id=agent_id if isinstance(agent_id, str) else None,
                seen_at=utcnow(),
            )
            hub.queue(Event.CONVERSATION_SEEN_UPDATE, event, AGENTS_ROOM)
        return json_response({"success": True, "message": "Messages marked as seen"})

    @routes.post("/api/admin/conversations/bulk-assign")
    async def bulk_assign(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        body = await read_body(request)
        ids, agent_id = body.get("conversationIds"), body.get("agentId")
        if not isinstance(ids, list) or not ids:
            raise fail(400, {"error": "conversationIds must be a non-empty array"})
        if not agent_id:
            raise fail(400, {"error": "agentId is required"})
        count = await ops.bulk_assign_production(hub, ids, agent_id)
        return json_response(
            {
                "success": True,
                "message": f"Assigned {count} conversations to agent",
                "data": {"assignedCount": count},
            }
        )

    production_auth.add_routes(routes, hub)
    production_web.add_routes(routes, hub)
    app.add_routes(routes)
    production_agent.add_routes(app, hub)


def hub_port(request: web.Request) -> int:
    """The port the request came in on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 0
