"""The console's HTTP side: the page, its configuration, the feed WebSocket, the REST tap.

``GET /console`` serves a static page (``static/``, written by hand, no build step) that
needs nothing but this server: it speaks Socket.IO to ``/socket.io/`` with a small client of
its own, calls the REST API like any client, and reads ``Feed``
on the WebSocket ``/console/feed`` (plain JSON messages, not Socket.IO, so that watching
the server adds nothing to what is watched).

In auth mode ``token`` the page holds no secret and can do nothing until the operator
types the agent key into it: the page trades the key for an agent token at
``POST /api/auth/agent-token`` (checked, and its failures rate-limited, by the server as
for any agent), and the feed refuses a connection whose first message carries no valid
agent token (close code 4401).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, NamedTuple

from aiohttp import WSMsgType, web

from vilnius_client.events import ConversationStatus, format_timestamp

from ..errors import ServiceError
from ..hub import Hub
from .feed import Feed, Subscriber

__all__ = ["CONSOLE_PATH", "FEED_PATH", "install"]

CONSOLE_PATH = "/console"
FEED_PATH = "/console/feed"

HELLO_TIMEOUT = 10.0
"""Seconds a feed connection has to send its first message (the token)."""

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4008

MAX_CONVERSATIONS = 200
"""Conversations listed in the state panel (the newest)."""

_ASSETS = {
    "index.html": "text/html",
    "console.js": "text/javascript",
    "sio.js": "text/javascript",
    "console.css": "text/css",
}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Only this server's own scripts, styles and sockets; never framed.
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}
_SKIPPED_PATHS = ("/socket.io/", CONSOLE_PATH)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(app: web.Application, hub: Hub) -> None:
    """Serve the console on ``app`` and connect the hub's feed to it.

    Adds the routes under ``/console`` and, as the outermost middleware, the REST tap.
    """
    feed = hub.feed
    feed.describe = hub.describe_socket
    feed.snapshot = lambda: snapshot(hub)
    app.middlewares.insert(0, _tap(feed))

    async def page(request: web.Request) -> web.Response:
        return _asset("index.html")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _ASSETS or name == "index.html":
            raise web.HTTPNotFound
        return _asset(name)

    async def config(request: web.Request) -> web.Response:
        profile = hub.profile
        return web.json_response(
            {
                "profile": profile.name,
                "keyRequired": hub.auth == "token",
                "features": list(profile.contract_features),
                "userLogin": profile.user_login,
                "acks": profile.acks,
                "personalStatuses": list(profile.personal_statuses),
                "suggestions": profile.pending_suggestions,
            },
            headers={"Cache-Control": "no-cache"},
        )

    async def feed_socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        if not await _authorized(hub, ws):
            await ws.close(code=CLOSE_UNAUTHORIZED, message=b"agent token required")
            return ws
        subscriber = feed.subscribe()
        # the writer task is the only sender: hello first, then the state and the entries
        subscriber.put(json.dumps({"type": "hello", "profile": hub.profile.name}).encode())
        writer = asyncio.get_running_loop().create_task(_write(ws, subscriber))
        try:
            await feed.push_state()
            async for message in ws:  # the console sends nothing more; wait for the close
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            feed.unsubscribe(subscriber)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    app.router.add_get(CONSOLE_PATH, page)
    app.router.add_get(CONSOLE_PATH + "/", page)
    app.router.add_get(FEED_PATH, feed_socket)
    app.router.add_get(CONSOLE_PATH + "/config", config)
    app.router.add_get(CONSOLE_PATH + "/{name}", asset)


def _asset(name: str) -> web.Response:
    # Read at every request (a few KiB): an edited page needs a reload, not a restart.
    body = (resources.files(__package__) / "static" / name).read_bytes()
    return web.Response(body=body, content_type=_ASSETS[name], charset="utf-8", headers=_HEADERS)


async def _authorized(hub: Hub, ws: web.WebSocketResponse) -> bool:
    """Read the first message ``{"token": ...}``; in auth mode ``token``, check it."""
    try:
        message = await ws.receive(timeout=HELLO_TIMEOUT)
    except TimeoutError:
        return False
    if message.type is not WSMsgType.TEXT:
        return False
    if hub.auth != "token":
        return True
    try:
        hello = json.loads(message.data)
        token = hello.get("token") if isinstance(hello, dict) else None
        identity = hub.identify(token)
    except (ValueError, ServiceError):
        return False
    return identity.kind == "agent"


async def _write(ws: web.WebSocketResponse, subscriber: Subscriber) -> None:
    """Send the subscriber's messages until it overflows or the socket closes."""
    while True:
        message = await subscriber.get()
        if message is None:
            await ws.close(code=CLOSE_TOO_SLOW, message=b"console too slow: reconnect")
            return
        try:
            await ws.send_str(message.decode())
        except ConnectionError:
            return


async def snapshot(hub: Hub) -> dict[str, Any]:
    """The state panels' data, the same shape for both profiles.

    ``agents``: those the profile's dashboard lists, with their active chats;
    ``assignees``: whom a conversation may be assigned to (every agent seen, or the agent
    users); ``conversations``: the newest first.
    """
    store = hub.store
    load = store.conversations.active_counts()
    agents = []
    for agent in hub.agent_list():
        data = agent.to_wire()
        data["activeChats"] = load.get(agent.id, 0)
        agents.append(data)
    if hub.profile.user_login:
        assignees = [{"id": user.id, "name": user.email} for user in store.users.all()]
    else:
        assignees = [{"id": agent.id, "name": agent.name} for agent in store.agents.all()]
    conversations = store.conversations.all()
    newest = conversations[::-1][:MAX_CONVERSATIONS]
    return {
        "mode": store.settings.system_mode().value,
        "agents": agents,
        "assignees": assignees,
        "conversations": [
            {
                "id": conversation.id,
                "visitorId": conversation.visitor_id,
                "assignedAgent": conversation.assigned_agent,
                "status": (conversation.status or ConversationStatus.ACTIVE).value,
                "startedAt": format_timestamp(conversation.started_at),
            }
            for conversation in newest
        ],
        "conversationCount": len(conversations),
    }


def _tap(feed: Feed) -> Any:
    """The REST tap: every answered request (Socket.IO's and the console's excepted)."""

    async def tapped(request: web.Request, handler: _Handler) -> web.StreamResponse:
        arrival = _Arrival(time.perf_counter(), round(time.time() * 1000), feed.last_seq)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            await _publish(feed, request, exc.status, arrival, None)
            raise
        await _publish(feed, request, response.status, arrival, response)
        return response

    @web.middleware
    def console_tap(request: web.Request, handler: _Handler) -> Awaitable[web.StreamResponse]:
        # Not a coroutine function: no frame of its own for a WebSocket's lifetime.
        if not feed.active or request.path.startswith(_SKIPPED_PATHS):
            return handler(request)
        return tapped(request, handler)

    return console_tap


class _Arrival(NamedTuple):
    """When a request came in: its clock, its wall time in ms, and the feed's last seq."""

    clock: float
    time: int
    after: int


async def _publish(
    feed: Feed,
    request: web.Request,
    status: int,
    arrival: _Arrival,
    response: web.StreamResponse | None,
) -> None:
    millis = (time.perf_counter() - arrival.clock) * 1000
    body: Any = None
    if request.body_exists:
        try:
            body = _decode(await request.read())
        except web.HTTPException:  # too large: the answer says so
            body = {"unread": True}
    answer = None
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        answer = _decode(response.body)
    route_id = request.match_info.get("id")
    feed.http(
        method=request.method,
        path=request.path,
        query=request.query_string,
        route_conversation=route_id if "conversations" in request.path else None,
        status=status,
        millis=millis,
        request=body,
        answer=answer,
        after=arrival.after,
        arrived=arrival.time,
    )


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw[:2000].decode("utf-8", "replace")
