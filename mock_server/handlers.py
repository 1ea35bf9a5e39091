"""Socket.IO event handlers (CONTRACT.md §3): validate, call the hub, acknowledge.

Every client -> server event is validated with
[CLIENT_EVENT_PAYLOADS][vilnius_client.events.CLIENT_EVENT_PAYLOADS]. A rejected event gets an
``error-event`` to the sender and, when the client asked for an acknowledgement,
``{ok: false, error: {code, message}}``; an accepted one is acknowledged with
``{ok: true}``. The connection always stays open.

Profile ``lizdeika`` (production) answers neither: a handler returns python-socketio's
``not_handled`` sentinel, for which ``AsyncServer._handle_event_internal`` sends no ACK
packet, so a client that asked for an acknowledgement waits for ever, as it does against
production. Bad input there is dropped without a word; where production crashes on it
(a payload-less typing event, a non-string ``join-agent-dashboard``), the server just
ignores the event and stays up.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from pydantic import ValidationError

from vilnius_client.events import (
    CLIENT_EVENT_PAYLOADS,
    ErrorCode,
    ErrorEvent,
    Event,
    HeartbeatPayload,
    utcnow,
)

from .auth import OPEN, Identity
from .errors import ServiceError, validation_details
from .hub import Hub
from .logs import socket_logger
from .operations import sockets

__all__ = ["limit_event_size", "register"]

logger = logging.getLogger("mock_server")

_Operation = Callable[[Hub, str, Any], Awaitable[None]]

_OPERATIONS: dict[Event, _Operation] = {
    Event.JOIN_AGENT_DASHBOARD: sockets.join_dashboard,
    Event.AGENT_TYPING: sockets.agent_typing,
    Event.HEARTBEAT: sockets.heartbeat,
    Event.REQUEST_CURRENT_STATE: sockets.current_state,
    Event.JOIN_CONVERSATION: sockets.join_conversation,
    Event.CUSTOMER_TYPING: sockets.customer_typing,
    Event.JOIN_ROOM: sockets.join_room,
}


def _lenient_heartbeat(payload: Any) -> HeartbeatPayload | None:
    """Production reads ``source`` off whatever a heartbeat carries (or nothing)."""
    if isinstance(payload, dict):
        source = payload.get("source")
        return HeartbeatPayload(
            timestamp=utcnow(), source=source if isinstance(source, str) else None
        )
    return None


def _refusal(code: str, message: str) -> dict[str, Any]:
    """The acknowledgement of a refused event: ``{ok: false, error: {code, message}}``."""
    return {"ok": False, "error": {"code": code, "message": message}}


def _token_of(environ: dict[str, Any], auth: Any) -> object:
    if isinstance(auth, dict) and "token" in auth:
        return auth["token"]
    header = environ.get("HTTP_AUTHORIZATION")
    if isinstance(header, str) and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _who(identity: Identity) -> str:
    """Who a socket is, for the log."""
    if identity.kind == "agent":
        return f"agent {identity.subject}"
    if identity.kind == "customer":
        return f"customer of conversation {identity.subject}"
    return "no auth" if identity.kind == "open" else identity.kind


def register(sio: socketio.AsyncServer, hub: Hub, is_live: Callable[[], bool]) -> None:
    """Attach the contract's event handlers to ``sio``.

    Args:
        sio: The Socket.IO server.
        hub: The server's core.
        is_live: Says whether ``sio`` is still the hub's server (events that a
            stopping server still delivers are ignored).
    """

    feed = hub.feed

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        remote = getattr(environ.get("aiohttp.request"), "remote", None)
        if feed.active:
            feed.socket(sid, "connect", {"auth": auth})
        if not hub.profile.socket_auth:
            identity = OPEN
        else:
            try:
                identity = hub.identify(_token_of(environ, auth))
            except ServiceError as exc:
                socket_logger.info("refused %s from %s: %s", sid, remote, exc.message)
                if feed.active:
                    feed.socket(sid, "connect_error", {"code": exc.code, "message": exc.message})
                # the client's connect_error gets {message, data: {code, message}},
                # what socket.io 4's next(err) with err.data produces
                raise socketio.exceptions.ConnectionRefusedError(
                    exc.message, {"code": exc.code, "message": exc.message}
                ) from None
        hub.connect(sid, identity)
        socket_logger.info("connect %s from %s (%s)", sid, remote, _who(identity))

    async def disconnect(sid: str, reason: Any = None) -> None:
        if feed.active:
            feed.socket(sid, "disconnect", {"reason": str(reason) if reason else None})
        if is_live():
            socket_logger.info("disconnect %s (%s): %s", sid, _who(hub.identity_of(sid)), reason)
            await sockets.disconnect(hub, sid)

    async def unknown(event: Any, sid: str, *args: Any) -> Any:
        """An event the server does not know: ``error-event`` (production says nothing)."""
        if feed.active:
            feed.event_in(sid, str(event)[:100], args)
        if not hub.profile.error_events or not is_live():
            return sio.not_handled
        name = str(event)[:100]
        message = f"unknown event {name!r}"
        body = ErrorEvent(code=ErrorCode.INVALID_PAYLOAD, message=message, event=name)
        await _send_error_event(sio, hub, sid, body)
        return _refusal(ErrorCode.INVALID_PAYLOAD, message)

    sio.on("connect", handler=connect)
    sio.on("disconnect", handler=disconnect)
    sio.on("*", handler=unknown)
    for event, operation in _OPERATIONS.items():
        if event is Event.JOIN_ROOM and not hub.profile.join_room:
            continue
        sio.on(event.value, handler=_handler(sio, hub, event, operation, is_live))


_EVENT_HEAD = re.compile(r'^2(?:/[^,]*,)?(\d*)\[\s*"((?:[^"\\]|\\.){0,100})"')
"""The ack id and event name at the start of a Socket.IO EVENT packet (``2<id>["name",``)."""


def limit_event_size(sio: socketio.AsyncServer, hub: Hub, limit: int) -> None:
    """Refuse Socket.IO events over ``limit`` characters with ``error-event``.

    python-engineio closes a connection whose message exceeds ``max_http_buffer_size``;
    so that a too large event costs the client only that event, that ceiling is set
    higher and this check, wrapped around python-socketio's Engine.IO message handler
    (registered with ``eio.on``), answers ``error-event`` ``payload_too_large`` (and a
    negative acknowledgement, as an Engine.IO message, when one was asked for) instead
    of decoding the event. Binary attachments are passed on unchecked (up to the ceiling).
    """
    original = sio.eio.handlers["message"]

    async def guarded(eio_sid: str, data: Any) -> None:
        if not isinstance(data, str) or len(data) <= limit:
            await original(eio_sid, data)
            return
        sid = sio.manager.sid_from_eio_sid(eio_sid, "/")
        head = _EVENT_HEAD.match(data)
        name = head.group(2) if head else None
        message = f"event larger than {limit} characters"
        if sid is not None and hub.feed.active:
            hub.feed.event_in(sid, name or "?", (f"({len(data)} characters, not read)",))
        if sid is not None:
            body = ErrorEvent(code=ErrorCode.PAYLOAD_TOO_LARGE, message=message, event=name)
            await _send_error_event(sio, hub, sid, body)
        if head and head.group(1):  # the client asked for an acknowledgement
            refusal = _refusal(ErrorCode.PAYLOAD_TOO_LARGE, message)
            ack = json.dumps([refusal], separators=(",", ":"))
            await sio.eio.send(eio_sid, f"3{head.group(1)}{ack}")

    sio.eio.on("message", guarded)


async def _send_error_event(
    sio: socketio.AsyncServer, hub: Hub, sid: str, body: ErrorEvent
) -> None:
    """Send ``error-event`` to socket ``sid`` (in order with its acknowledgement)."""
    payload = body.to_wire()
    if hub.feed.active:
        hub.feed.event_out(Event.ERROR_EVENT.value, payload, sid, None)
    await sio.emit(Event.ERROR_EVENT.value, payload, to=sid)


def _handler(
    sio: socketio.AsyncServer,
    hub: Hub,
    event: Event,
    operation: _Operation,
    is_live: Callable[[], bool],
) -> Callable[..., Awaitable[Any]]:
    adapter = CLIENT_EVENT_PAYLOADS[event]
    profile = hub.profile
    lenient = event is Event.HEARTBEAT and profile.lenient_heartbeat

    def parse(args: tuple[Any, ...]) -> Any:
        if lenient:  # production: heartbeat(data) with any data, or none
            return _lenient_heartbeat(args[0] if args else None)
        if len(args) != 1 and (profile.error_events or not args):
            raise ServiceError(
                ErrorCode.INVALID_PAYLOAD,
                f"{event.value} takes exactly one argument, got {len(args)}",
                [{"field": "", "message": f"expected 1 argument, got {len(args)}"}],
            )
        return adapter.validate_python(args[0])  # production ignores extra arguments

    feed = hub.feed

    async def handle(sid: str, *args: Any) -> Any:
        if feed.active:
            feed.event_in(sid, event.value, args)
        answer = await run(sid, args)
        return answer if profile.acks else sio.not_handled

    async def run(sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        if not is_live():
            return _refusal(ErrorCode.INTERNAL, "server stopping")
        try:
            payload = parse(args)
            await operation(hub, sid, payload)
        except ValidationError as exc:
            error = ServiceError(
                ErrorCode.INVALID_PAYLOAD,
                f"invalid {event.value} payload",
                validation_details(exc),
            )
        except ServiceError as exc:
            error = exc
        except Exception:
            logger.exception("%s from %s failed", event.value, sid)
            error = ServiceError(ErrorCode.INTERNAL, "internal error")
        else:
            if event is Event.JOIN_AGENT_DASHBOARD:
                socket_logger.info("agent %s joined the dashboard (socket %s)", payload, sid)
            return {"ok": True}
        if profile.error_events:
            body = ErrorEvent(
                code=error.code, message=error.message, event=event.value, details=error.details
            )
            await _send_error_event(sio, hub, sid, body)
        return _refusal(error.code, error.message)

    return handle
