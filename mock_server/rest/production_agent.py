"""Everything else an agent may call in production (profile ``lizdeika``).

Beside the endpoints of ``production.py`` (messages, respond, assign, end, mark-seen,
bulk-assign, modes and statuses), production's routers give an agent:

- suggestions: the pending one, a new one, and (admins) one for any context;
- conversation actions: unassign, category (set, override, categorise, statistics),
  bulk archive, unarchive and category;
- the categories and the response templates (read);
- files (``production_files.py``) and statistics (``production_stats.py``);
- the legacy agent status, the agent listings, the widget's configuration, logout.

Each handler follows the controller named in its docstring (production's
``custom-widget/backend/src``, commit 0dec8e5); the state changes are
``mock_server.operations``' (``tickets``, ``suggestions``, ``statistics``).
``production_http.py`` adds the correlation header and Express's 404 page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from vilnius_client.events import PersonalStatus, format_timestamp, utcnow

from ..hub import Hub
from ..operations import suggestions, tickets
from ..ratelimit import FixedWindow, RateLimit
from ..users import TokenError, User
from ..wirejson import json_response
from . import production_files, production_http, production_stats
from .express import client_ip, conversation_id, fail, read_body
from .production_auth import jwt_user

__all__ = ["LOGOUT_LIMIT", "add_routes"]

LOGOUT_LIMIT = RateLimit(100, 15 * 60.0)
"""Logout requests per IP (production's ``generalRateLimit``)."""

LEGACY_AGENT_IDS = ("admin", "agent1", "admin@lizdeika.lt", "agent1@lizdeika.lt")
"""The only ids ``GET /api/agents/all`` keeps (agentController.js:426); agents are listed
by their user UUIDs, so it never keeps any."""


def _creator(hub: Hub, user_id: str) -> dict[str, Any] | None:
    user = hub.store.users.get(user_id)
    if user is None:
        return None
    public = user.public()
    return {key: public[key] for key in ("id", "first_name", "last_name", "email")}


def _categories(hub: Hub, user: User, query: Any) -> dict[str, Any]:
    """``getCategories`` (categoryController.js:59): one page, by name."""
    try:
        page = int(query.get("page", "1"))
        limit = min(int(query.get("limit", "50")), 100)
    except ValueError:
        raise fail(500, {"success": False, "error": "Invalid data provided"}) from None
    search = query.get("search", "").strip().lower()
    listed = [
        c
        for c in hub.store.categories.all()
        if (query.get("include_archived") == "true" or not c.is_archived)
        and search in c.name.lower()
    ]
    counts: dict[str, int] = {}
    for state in hub.store.tickets.all().values():
        if state.category_id:
            counts[state.category_id] = counts.get(state.category_id, 0) + 1
    skip = (page - 1) * limit
    shown = []
    for category in listed[max(skip, 0) : max(skip, 0) + max(limit, 0)]:
        creator = _creator(hub, category.created_by)
        tickets_count = counts.get(category.id, 0)
        shown.append(
            {
                "id": category.id,
                "name": category.name,
                "description": category.description,
                "color": category.color,
                "created_by": category.created_by,
                "creator": creator,
                "creator_name": f"{creator['first_name']} {creator['last_name']}"
                if creator
                else "System ",
                "is_archived": category.is_archived,
                "_count": {"tickets": tickets_count},
                "ticket_count": tickets_count,
                "created_at": category.created_at,
                "updated_at": category.updated_at,
                "can_edit": user.role == "admin",
                "can_delete": user.role == "admin" and tickets_count == 0,
            }
        )
    return {
        "success": True,
        "categories": shown,
        "pagination": {
            "page": page,
            "limit": limit,
            "total": len(listed),
            "has_more": skip + limit < len(listed),
        },
    }


def _templates(hub: Hub) -> dict[str, Any]:
    """``GET /api/templates`` (templateRoutes.js:10): the active ones, by title."""
    return {
        "success": True,
        "templates": [
            {
                "id": t.id,
                "title": t.title,
                "content": t.content,
                "created_by": t.created_by,
                "updated_by": None,
                "is_active": t.is_active,
                "created_at": t.created_at,
                "updated_at": t.updated_at,
                "creator": _creator(hub, t.created_by),
            }
            for t in hub.store.templates.all()
            if t.is_active
        ],
    }


def _agent_status(hub: Hub) -> dict[str, Any]:
    """``getStatus`` (agentController.js:54): agent users seen in the last minute.

    Its mode guess reads statuses production never stores (``off``, ``autopilot``), so
    it always says ``hitl``.
    """
    now = utcnow()
    recent = 0
    for user in hub.store.users.all():
        agent = hub.store.agents.get(user.id)
        if (
            user.role in ("agent", "admin")
            and agent is not None
            and agent.last_seen is not None
            and now - agent.last_seen < timedelta(minutes=1)
        ):
            recent += 1
    return {"success": True, "status": "hitl", "agentCount": recent}


def add_routes(app: web.Application, hub: Hub) -> None:
    """Add these endpoints, the files and statistics ones, and production's HTTP habits."""
    routes = web.RouteTableDef()
    logouts = FixedWindow(LOGOUT_LIMIT)
    encoder = hub.profile.encoder

    @routes.get("/api/conversations/{id}/pending-suggestion")
    async def pending_suggestion(request: web.Request) -> web.Response:
        """``getPendingSuggestion`` (conversationController.js:419)."""
        jwt_user(hub, request)
        conversation = conversation_id(request.match_info["id"])
        pending = suggestions.latest_pending(await hub.store.messages.history(conversation))
        if pending is None:
            raise fail(404, {"error": "No pending suggestion found"})
        metadata = pending.metadata or {}
        details = {"messageCount": metadata.get("messageCount") or 1}
        if "customerMessages" in metadata:
            details["customerMessages"] = metadata["customerMessages"]
        return json_response(
            {
                "suggestion": metadata["aiSuggestion"],
                "confidence": metadata.get("confidence") or 0.8,
                "messageId": pending.id,
                "timestamp": format_timestamp(pending.timestamp),
                "metadata": details,
            }
        )

    @routes.post("/api/conversations/{id}/generate-suggestion")
    async def generate_suggestion(request: web.Request) -> web.Response:
        """``generateAISuggestion`` (conversationController.js:461)."""
        jwt_user(hub, request)
        conversation = conversation_id(request.match_info["id"])
        try:
            return json_response(await suggestions.generate_suggestion(hub, conversation))
        except LookupError:
            raise fail(404, {"error": "Conversation not found or has no messages"}) from None
        except ValueError:
            message = "No conversation context available for AI suggestion"
            raise fail(400, {"error": message}) from None

    async def chat_suggestion(request: web.Request) -> web.Response:
        """``POST /api/chat/suggestion`` (systemRoutes.js:673): admins only."""
        user = jwt_user(hub, request, roles=None)
        if user.role != "admin":
            raise fail(403, {"success": False, "error": "Admin access required"})
        body = await read_body(request)
        conversation, context = body.get("conversationId"), body.get("context")
        if not conversation or not context:
            message = "conversationId and context are required"
            raise fail(400, {"success": False, "error": message})
        enable_rag = body.get("enableRAG", False)
        return json_response(
            {
                "success": True,
                "suggestion": suggestions.ai_suggestion(hub, str(context)),
                "metadata": {
                    "modelUsed": "unknown",
                    "providerUsed": "mock",
                    "configSource": "environment",
                    "timestamp": format_timestamp(utcnow()),
                    "conversationId": conversation,
                    "enableRAG": enable_rag,
                },
            }
        )

    # production mounts its system routes both at / and at /api
    routes.post("/api/chat/suggestion")(chat_suggestion)
    routes.post("/chat/suggestion")(chat_suggestion)

    @routes.post("/api/conversations/{id}/unassign")
    async def unassign(request: web.Request) -> web.Response:
        """``unassignConversation`` (conversationController.js:586)."""
        jwt_user(hub, request)
        return json_response(await tickets.unassign(hub, request.match_info["id"]))

    @routes.patch("/api/conversations/{id}/category")
    async def category(request: web.Request) -> web.Response:
        """``assignCategory`` (conversationController.js:868)."""
        jwt_user(hub, request)
        body = await read_body(request)
        return json_response(await tickets.set_category(hub, request.match_info["id"], body))

    @routes.put("/api/conversations/{id}/category-override")
    async def category_override(request: web.Request) -> web.Response:
        """``toggleCategoryOverride`` (conversationController.js:1190)."""
        jwt_user(hub, request)
        body = await read_body(request)
        answer = await tickets.set_category_override(
            hub, request.match_info["id"], body.get("manual_override")
        )
        return json_response(answer)

    @routes.post("/api/conversations/{id}/categorize")
    async def categorize(request: web.Request) -> web.Response:
        """``triggerAutoCategorization`` (conversationController.js:1084)."""
        jwt_user(hub, request)
        return json_response(await tickets.categorize(hub, request.match_info["id"]))

    @routes.get("/api/categorization/stats")
    async def categorization_stats(request: web.Request) -> web.Response:
        """``getCategorizationStats`` (conversationController.js:1128)."""
        jwt_user(hub, request)
        return json_response({"success": True, "data": tickets.categorization_stats(hub)})

    async def bulk_archive(request: web.Request, archived: bool) -> web.Response:
        """``bulkArchiveConversations`` / ``bulkUnarchiveConversations`` (:740, :826)."""
        jwt_user(hub, request)
        body = await read_body(request)
        ids = body.get("conversationIds")
        if not isinstance(ids, list) or not ids:
            raise fail(400, {"error": "conversationIds must be a non-empty array"})
        count = await tickets.archive(hub, ids, archived)
        verb, key = ("Archived", "archivedCount") if archived else ("Unarchived", "unarchivedCount")
        return json_response(
            {"success": True, "message": f"{verb} {count} conversations", "data": {key: count}}
        )

    @routes.post("/api/admin/conversations/bulk-archive")
    async def archive(request: web.Request) -> web.Response:
        return await bulk_archive(request, True)

    @routes.post("/api/admin/conversations/bulk-unarchive")
    async def unarchive(request: web.Request) -> web.Response:
        return await bulk_archive(request, False)

    @routes.patch("/api/admin/conversations/bulk-category")
    async def bulk_category(request: web.Request) -> web.Response:
        """``bulkAssignCategory`` (conversationController.js:963)."""
        jwt_user(hub, request)
        return json_response(await tickets.bulk_set_category(hub, await read_body(request)))

    @routes.get("/api/categories")
    async def categories(request: web.Request) -> web.Response:
        """``getCategories`` (categoryRoutes.js:25, categoryController.js:59)."""
        user = jwt_user(hub, request)
        return json_response(_categories(hub, user, request.query))

    @routes.get("/api/templates")
    async def templates(request: web.Request) -> web.Response:
        """``GET /api/templates`` (templateRoutes.js:10)."""
        jwt_user(hub, request)
        return json_response(_templates(hub))

    @routes.get("/api/agent/status")
    async def agent_status(request: web.Request) -> web.Response:
        """``getStatus`` (agentRoutes.js:30, agentController.js:54); no authentication."""
        return json_response(_agent_status(hub))

    @routes.get("/api/agents")
    async def active_agents(request: web.Request) -> web.Response:
        """``getActiveAgents`` (agentController.js:295): the agents online now."""
        return json_response({"agents": [encoder.agent(a) for a in hub.agent_list()]})

    @routes.get("/api/agents/all")
    async def all_agents(request: web.Request) -> web.Response:
        """``getAllAgents`` (agentController.js:410): filtered to ids no agent has."""
        listed = [a for a in hub.agent_list() if a.id in LEGACY_AGENT_IDS]
        return json_response({"agents": [encoder.agent(a) for a in listed]})

    @routes.get("/api/widget/config")
    async def widget_config(request: web.Request) -> web.Response:
        """``getWidgetConfig`` (widgetController.js:12), with the defaults of its variables.

        ``serverUrl`` is this server's own URL (production's ``SITE_URL``).
        """
        return json_response(
            {
                "success": True,
                "data": {
                    "name": "Lizdeika",
                    "primaryColor": "#2c5530",
                    "allowedDomains": ["*"],
                    "serverUrl": f"{request.scheme}://{request.host}",
                },
            }
        )

    @routes.post("/api/auth/logout")
    async def logout(request: web.Request) -> web.Response:
        """``logout`` (authRoutes.js:73, authController.js:209, authService.js:482)."""
        hit = logouts.hit(client_ip(request))
        headers = hit.headers(logouts.policy)
        if not hit.allowed:  # express-rate-limit's own default answer
            text = "Too many requests, please try again later."
            return web.Response(status=429, text=text, headers=headers)
        body = await read_body(request)
        token = body.get("refreshToken")
        if not isinstance(token, str) or not token:
            problem = "Required" if token is None else "Refresh token is required"
            raise fail(
                400,
                {
                    "success": False,
                    "error": "Validation failed",
                    "details": [{"field": "refreshToken", "message": problem}],
                },
                headers,
            )
        await _revoke(hub, token)
        return json_response({"success": True, "message": "Logout successful"}, headers=headers)

    production_files.add_routes(routes, hub)
    production_stats.add_routes(routes, hub)
    app.add_routes(routes)
    production_http.install(app, hub)


async def _revoke(hub: Hub, token: str) -> None:
    """Revoke a refresh token; an agent (not an admin) is then offline, as production sets it."""
    assert hub.jwt is not None
    try:
        jti = str(hub.jwt.verify_refresh(token).get("jti"))
    except TokenError:
        return
    async with hub.transaction():
        stored = hub.store.refresh_tokens.get(jti)
        if stored is None:
            return
        hub.store.refresh_tokens.revoke(jti)
        user = hub.store.users.get(stored[0])
        agent = hub.store.agents.get(stored[0])
        if user is not None and user.role == "agent" and agent is not None:
            agent.personal_status = PersonalStatus.OFFLINE
            hub.store.agents.save(agent)
