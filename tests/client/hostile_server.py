"""A Vilnius server that misbehaves on request: the SDK's test double for a hostile server.

It speaks just enough of ``CONTRACT.md`` for :class:`~vilnius_client.AgentClient` and
:class:`~vilnius_client.CustomerClient` to connect, stay connected and recover:

* ``GET /health`` (the ``vilnius`` contract), ``POST /api/auth/agent-token`` (any key),
  ``GET /api/messages?after=&limit=`` and ``GET /api/conversations/{id}/messages?after=&limit=``
  over the history a test puts in :attr:`HostileServer.history`;
* ``join-agent-dashboard`` (room ``agents``) and ``join-conversation`` (the conversation's
  room), both acknowledged with ``{"ok": true}``;
* ``heartbeat`` answered with ``heartbeat-ack``.

Tokens are accepted as given; nothing else is checked. Hooks to misbehave, in the spirit of
centrifuge-python's ``tests/fake_server.py``:

* ``await server.emit(event, payload, to=...)``: any event with any payload (valid or not, of
  any size: the server's own frame limit is not involved when it sends) to one socket, a room,
  or every socket.
* ``await server.send_raw(text)``: a raw Socket.IO packet (e.g. ``'2["new-message",{}]'``).
* ``await server.publish(message)``: store a message (see :func:`message`) and emit its
  ``new-message`` to ``agents`` (and ``agent-message`` to its room when an agent wrote it),
  as the contract says. ``server.history.append(...)`` stores without emitting.
* ``await server.flood(event, payloads, pace=...)``: emit many events, back to back or one
  every ``pace`` seconds.
* ``server.hold_heartbeat_acks()`` / ``await server.release_heartbeat_acks()``: answers to
  ``heartbeat`` are kept back, then sent behind whatever was emitted meanwhile.
* ``server.silent = True``: go silent: no acknowledgement, no ``heartbeat-ack``, nothing
  from :meth:`flood` (Engine.IO pings continue, as they would on a hung application).

And what it saw: :attr:`HostileServer.handshakes` (the headers of every WebSocket
handshake, e.g. ``Sec-WebSocket-Extensions``) and, as any
:class:`~tests.client._core_support.ScriptedServer`, ``sids`` (in connection order).

Use it as ``async with hostile_server() as server: ... server.url``; it listens on
``127.0.0.1``, port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.client._core_support import ScriptedServer

__all__ = ["HostileServer", "hostile_server", "message", "new_message"]

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message(
    seq: int,
    conversation_id: str = "c1",
    *,
    content: str | None = None,
    sender: str = "visitor",
    message_id: str | None = None,
) -> dict[str, Any]:
    """A stored message as it travels on the wire (camelCase)."""
    return {
        "id": message_id or f"m{seq}",
        "conversationId": conversation_id,
        "content": f"text {seq}" if content is None else content,
        "sender": sender,
        "timestamp": _iso(_T0 + timedelta(milliseconds=seq % 10**9)),
        "agentId": "agent-1" if sender == "agent" else None,
        "metadata": {},
        "seq": seq,
    }


def new_message(stored: dict[str, Any]) -> dict[str, Any]:
    """The ``new-message`` payload of a stored message."""
    return {
        "conversationId": stored["conversationId"],
        "message": stored,
        "aiSuggestion": None,
        "timestamp": stored["timestamp"],
    }


class HostileServer(ScriptedServer):
    """The server; see the module docstring for its hooks."""

    def __init__(self) -> None:
        super().__init__(health=False)
        self.app.middlewares.append(self._record_handshake)
        self.app.router.add_get("/health", self._health)
        self.app.router.add_post("/api/auth/agent-token", self._agent_token)
        self.app.router.add_get("/api/messages", self._all_messages)
        self.app.router.add_get("/api/conversations/{cid}/messages", self._conversation_messages)
        #: Stored messages (wire dicts), served by the catch-up endpoints.
        self.history: list[dict[str, Any]] = []
        #: Headers of every WebSocket handshake request.
        self.handshakes: list[dict[str, str]] = []
        #: When true, nothing is answered or flooded.
        self.silent = False
        self._held_acks: list[tuple[str, dict[str, Any]]] | None = None
        self._stopping = asyncio.Event()
        self._joined = asyncio.Event()

        sio = self.sio

        @sio.on("join-agent-dashboard")  # type: ignore[untyped-decorator]
        async def join_agents(sid: str, agent_id: Any) -> Any:
            await sio.enter_room(sid, "agents")
            await sio.save_session(sid, {"agent_id": agent_id})
            self._joined.set()
            return await self._ack()

        @sio.on("join-conversation")  # type: ignore[untyped-decorator]
        async def join_conversation(sid: str, conversation_id: Any) -> Any:
            await sio.enter_room(sid, str(conversation_id))
            self._joined.set()
            return await self._ack()

        @sio.on("heartbeat")  # type: ignore[untyped-decorator]
        async def heartbeat(sid: str, data: Any) -> Any:
            if self.silent:
                return await self._ack()
            session = await sio.get_session(sid)
            answer = {
                "timestamp": (data or {}).get("timestamp", 0),
                "agentId": session.get("agent_id", ""),
            }
            if self._held_acks is not None:
                self._held_acks.append((sid, answer))
            else:
                await sio.emit("heartbeat-ack", answer, to=sid)
            return await self._ack()

    # -- lifecycle ----------------------------------------------------------

    async def stop(self) -> None:
        self._stopping.set()
        await super().stop()

    async def wait_joined(self, within: float) -> None:
        """Wait until a socket joined ``agents`` or a conversation (bounded)."""
        await asyncio.wait_for(self._joined.wait(), within)

    # -- hooks --------------------------------------------------------------

    async def emit(self, event: str, payload: Any, *, to: str | None = None) -> None:
        """Emit ``event`` with ``payload`` to a socket id or room (default: everyone)."""
        await self.sio.emit(event, payload, to=to)

    async def send_raw(self, text: str, *, to: str | None = None) -> None:
        """Send a raw Socket.IO packet to one socket id (default: the latest)."""
        eio_sid = self.sio.manager.eio_sid_from_sid(to or self.sids[-1], "/")
        await self.sio.eio.send(eio_sid, text)

    async def publish(self, stored: dict[str, Any]) -> None:
        """Store ``stored`` and emit it as the contract says."""
        self.history.append(stored)
        await self.sio.emit("new-message", new_message(stored), to="agents")
        if stored["sender"] in ("agent", "system"):
            payload = {"message": stored, "timestamp": stored["timestamp"]}
            await self.sio.emit("agent-message", payload, to=stored["conversationId"])

    async def flood(
        self,
        event: str,
        payloads: Iterable[Any],
        *,
        to: str | None = None,
        pace: float = 0.0,
    ) -> int:
        """Emit ``event`` once per payload; returns how many were sent (none while silent).

        ``pace`` > 0 waits that long between two emits (a steady stream, not a burst).
        """
        sent = 0
        for payload in payloads:
            if self.silent or self._stopping.is_set():
                break
            await self.sio.emit(event, payload, to=to)
            sent += 1
            if pace > 0:
                await asyncio.sleep(pace)
        return sent

    def hold_heartbeat_acks(self) -> None:
        """Keep every ``heartbeat-ack`` back until :meth:`release_heartbeat_acks`."""
        if self._held_acks is None:
            self._held_acks = []

    async def release_heartbeat_acks(self) -> None:
        """Send the held ``heartbeat-ack`` answers, and answer at once again."""
        held, self._held_acks = self._held_acks or [], None
        for sid, answer in held:
            await self.sio.emit("heartbeat-ack", answer, to=sid)

    # -- internals ----------------------------------------------------------

    async def _ack(self) -> Any:
        if self.silent:
            await self._stopping.wait()  # never answered (until the server stops)
            return None
        return {"ok": True}

    @web.middleware
    async def _record_handshake(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            self.handshakes.append(dict(request.headers))
        return await handler(request)

    async def _health(self, request: web.Request) -> web.Response:
        features = ["acks", "seq", "catch-up", "agent-token", "error-event"]
        contract = {"name": "vilnius", "version": 1, "features": features}
        return web.json_response({"status": "ok", "contract": contract})

    async def _agent_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        agent_id = str(body.get("agentId", ""))
        expires = datetime.now(UTC) + timedelta(hours=1)
        return web.json_response(
            {"token": f"token-{agent_id}", "agentId": agent_id, "expiresAt": _iso(expires)}
        )

    @staticmethod
    def _page(request: web.Request) -> tuple[int, int]:
        after = int(request.query.get("after", "0"))
        limit = int(request.query.get("limit", "500"))
        return after, limit

    def _sorted(self) -> list[dict[str, Any]]:
        return sorted(self.history, key=lambda stored: int(stored["seq"]))

    async def _all_messages(self, request: web.Request) -> web.Response:
        after, limit = self._page(request)
        stored = self._sorted()
        page = [m for m in stored if m["seq"] > after][:limit]
        head = stored[-1]["seq"] if stored else 0
        return web.json_response({"messages": page, "lastSeq": head})

    async def _conversation_messages(self, request: web.Request) -> web.Response:
        after, limit = self._page(request)
        cid = request.match_info["cid"]
        page = [m for m in self._sorted() if m["conversationId"] == cid and m["seq"] > after]
        return web.json_response({"conversationId": cid, "messages": page[:limit]})


@contextlib.asynccontextmanager
async def hostile_server() -> AsyncIterator[HostileServer]:
    """A started :class:`HostileServer`, stopped on exit."""
    server = HostileServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
