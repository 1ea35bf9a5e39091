"""Assembly: the aiohttp application with the Socket.IO server attached, wired to a hub."""

from __future__ import annotations

import socketio
from aiohttp import web

from vilnius_client.events import Event, WireModel

from . import handlers, rest, web_clients
from .broadcast import Broadcaster
from .config import ServerConfig
from .console import routes as console_routes
from .console.feed import Feed
from .encoders import Encoder
from .frames import negotiation
from .hub import Hub

__all__ = ["SOCKETIO", "SOCKET_CEILING", "create_app"]

SOCKET_CEILING = 1024 * 1024
"""Largest Engine.IO message read at all: past it python-engineio closes the connection
(websocket close 1009, or 400 on a long-polling POST). Between ``max_socket_payload`` and
this ceiling an event is read, refused with ``error-event`` and the connection stays."""

SOCKETIO = web.AppKey("sio", socketio.AsyncServer)
"""Where ``create_app`` keeps the Socket.IO server in the application."""


class _SocketTransport:
    """The hub's view of a python-socketio server (broadcasts take the direct path).

    Payloads are written as the profile's encoder says.
    """

    def __init__(
        self, sio: socketio.AsyncServer, encoder: Encoder, config: ServerConfig, feed: Feed
    ) -> None:
        self.sio = sio
        self.broadcaster = Broadcaster(
            sio, max_buffer=config.max_outgoing_buffer, compression=config.ws_compression
        )
        self.encoder = encoder
        self.feed = feed

    async def emit(
        self, event: Event, data: WireModel, room: str, skip_sid: str | None = None
    ) -> None:
        payload = self.encoder.event(event, data)
        if self.feed.active:  # a console is open (mock_server.console)
            self.feed.event_out(event.value, payload, room, skip_sid)
        await self.broadcaster.emit(event.value, payload, room, skip_sid)

    async def enter_room(self, sid: str, room: str) -> None:
        await self.sio.enter_room(sid, room)
        if self.feed.active:
            self.feed.room(sid, room)


def create_app(hub: Hub, config: ServerConfig) -> web.Application:
    """Build the aiohttp application with Socket.IO attached, wired to ``hub``.

    The hub's transport is switched to the new Socket.IO server.
    """
    guard = hub.profile.error_events  # production just drops the connection past 1 MB
    ceiling = max(SOCKET_CEILING, config.max_socket_payload) if guard else 1_000_000
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins="*",
        max_http_buffer_size=ceiling,
        async_handlers=False,  # one client's events are handled in order
        logger=False,
        engineio_logger=False,
    )
    transport = _SocketTransport(sio, hub.profile.encoder, config, hub.feed)
    handlers.register(sio, hub, lambda: hub.transport is transport)
    if guard:
        handlers.limit_event_size(sio, hub, config.max_socket_payload)
    middlewares = rest.middlewares(hub)
    clients = web_clients.clients_dir(config)
    if clients is not None:  # ahead of the API, as production's express.static
        middlewares.insert(0, web_clients.middleware(clients))
    app = web.Application(client_max_size=config.max_body, middlewares=middlewares)
    if config.ws_compression or not transport.broadcaster.bounded:
        # the reference server's driver declines compression by itself; the stock one
        # (fast paths off) needs the offer removed
        app.middlewares.append(negotiation(config.ws_compression))
    sio.attach(app)
    rest.add_routes(app, hub, config.message_limit())
    if config.console:
        console_routes.install(app, hub)
    app[SOCKETIO] = sio
    hub.transport = transport
    return app
