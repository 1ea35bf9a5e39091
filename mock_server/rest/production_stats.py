"""Production's statistics endpoints (profile ``lizdeika``), statisticsRoutes.js:30-76.

Every one needs an agent's or admin's JWT and reads ``startDate`` / ``endDate`` (any date
JavaScript's ``Date`` parses; default: the last 30 days), widened to whole UTC days. A bad
date, a reversed range or one over 365 days makes production throw an error class it
never imported, so it answers 500 ``{success: false, error: "ValidationError is not a
constructor"}``; so does this.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from vilnius_client.events import parse_timestamp

from ..hub import Hub
from ..operations import statistics
from ..wirejson import json_response
from .express import fail
from .production_auth import jwt_user

__all__ = ["add_routes"]

_BROKEN_VALIDATION = {"success": False, "error": "ValidationError is not a constructor"}


def _date(text: str | None) -> datetime | None:
    if text is None or text == "":
        return None
    parsed = parse_timestamp(text)
    if not isinstance(parsed, datetime):
        raise fail(500, _BROKEN_VALIDATION)
    return parsed.astimezone(UTC)


def _range(request: web.Request) -> tuple[datetime, datetime]:
    """``parseDateRange`` (statisticsController.js:282)."""
    start, end = statistics.day_range(
        _date(request.query.get("startDate")), _date(request.query.get("endDate"))
    )
    if start > end or end - start > timedelta(days=365):
        raise fail(500, _BROKEN_VALIDATION)
    return start, end


def add_routes(routes: web.RouteTableDef, hub: Hub) -> None:
    """Add ``GET /api/statistics/{dashboard,conversations,agents,ai-suggestions,trends}``."""

    @routes.get("/api/statistics/dashboard")
    async def dashboard(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        return json_response(await statistics.dashboard(hub, *_range(request)))

    @routes.get("/api/statistics/conversations")
    async def conversations(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        start, end = _range(request)
        answer = statistics.conversation_statistics(
            hub, start, end, request.query.get("category_id"), request.query.get("archived")
        )
        return json_response(answer)

    @routes.get("/api/statistics/agents")
    async def agents(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        start, end = _range(request)
        answer = statistics.agent_statistics(hub, start, end, request.query.get("agentId"))
        return json_response(answer)

    @routes.get("/api/statistics/ai-suggestions")
    async def suggestions(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        start, end = _range(request)
        answer = statistics.suggestion_statistics(hub, start, end, request.query.get("agentId"))
        return json_response(answer)

    @routes.get("/api/statistics/trends")
    async def trends(request: web.Request) -> web.Response:
        jwt_user(hub, request)
        start, end = _range(request)
        granularity = request.query.get("granularity", "day")
        if granularity not in ("day", "week", "month"):
            raise fail(
                400,
                {
                    "success": False,
                    "error": "Invalid granularity. Must be one of: day, week, month",
                },
            )
        return json_response(await statistics.trends(hub, start, end, granularity))
