"""The console's feed: what happens on the server, as JSON messages for the browser console.

A ``Feed`` belongs to the ``Hub``. Three places publish to it,
each behind one ``if feed.active:`` test, so that a server nobody watches pays one
attribute read per event and nothing else:

- the hub's transport (``mock_server.app``): every event the server emits, with its room
  (``dir: "out"``), and every room a socket is put in;
- the socket handlers (``mock_server.handlers``): every event a client sends
  (``dir: "in"``), connects and disconnects, and the ``error-event`` answers;
- the console's REST middleware (``mock_server.console.routes``): every HTTP request
  but Socket.IO's and the console's own, with its status, time, request and answer.

``Feed.active`` is true while at least one console is subscribed. Each subscriber has a
bounded queue of encoded messages; a console that falls too far behind is dropped (it
reconnects and starts afresh) instead of growing the server's memory. Secrets (agent keys,
passwords, tokens) never enter the feed: ``redact`` replaces them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..rooms import CONVERSATION_ROOM_PREFIX
from ..wirejson import dumps

__all__ = ["MAX_PAYLOAD", "Entry", "Feed", "Subscriber", "redact"]

logger = logging.getLogger("mock_server")

MAX_PAYLOAD = 32 * 1024
"""Largest payload (as JSON) an entry carries; a larger one is cut to a preview."""

QUEUE_LIMIT = 5_000
"""Messages that may wait for one console before it is dropped."""

SECRET_KEYS = frozenset(
    {
        "agentKey",
        "password",
        "token",
        "accessToken",
        "refreshToken",
        "totpCode",
        "backupCode",
        "totpSecret",
        "manualEntryKey",  # the 2FA setup answer: the secret, and the QR code and URI holding it
        "otpauthUri",
        "qrCode",
        "backupCodes",
        "authorization",
    }
)
"""Field names whose values never reach a console."""

Entry = dict[str, Any]

_NESTED_IDS = (
    ("message", "conversationId"),
    ("userMessage", "conversationId"),
    ("conversation", "id"),
)


def redact(value: Any) -> Any:
    """``value`` with the values of ``SECRET_KEYS`` (at any depth) replaced by ``"***"``."""
    if isinstance(value, dict):
        return {
            key: "***" if key in SECRET_KEYS and value[key] else redact(value[key]) for key in value
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _bounded(payload: Any) -> Any:
    """``payload``, or a preview of it when its JSON is over ``MAX_PAYLOAD``."""
    if payload is None or isinstance(payload, bool | int | float):
        return payload
    if isinstance(payload, str) and len(payload) <= MAX_PAYLOAD // 4:
        return payload
    encoded = dumps(payload, default=str)
    if len(encoded) <= MAX_PAYLOAD:
        return payload
    preview = encoded[:2000].decode("utf-8", "replace")
    return {"truncated": True, "bytes": len(encoded), "preview": preview}


def conversation_of(*values: Any) -> str | None:
    """The conversation a payload, a room name or a path parameter names, if any."""
    for value in values:
        if isinstance(value, str):
            if value.startswith(CONVERSATION_ROOM_PREFIX):
                return value[len(CONVERSATION_ROOM_PREFIX) :]
            continue
        if not isinstance(value, dict):
            continue
        found = value.get("conversationId")
        if isinstance(found, str):
            return found
        for nested, key in _NESTED_IDS:
            inner = value.get(nested)
            if isinstance(inner, dict) and isinstance(inner.get(key), str):
                return str(inner[key])
    return None


class Subscriber:
    """One console's queue of encoded messages."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.limit = limit
        self.overflowed = False

    def put(self, message: bytes) -> None:
        """Queue ``message``; past the limit, mark the subscriber and wake its writer."""
        if self.overflowed:
            return
        if self.queue.qsize() >= self.limit:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(message)

    async def get(self) -> bytes | None:
        """The next message; ``None`` once the subscriber overflowed."""
        return await self.queue.get()


class Feed:
    """Publishes what the server does to the connected consoles (see the module docstring).

    Attributes:
        active: Whether any console is subscribed (publishers test it first).
        describe: Names the agent or customer behind a socket id (set by the console).
        snapshot: Returns the state panels' data (agents, mode, conversations); called,
            coalesced, after entries are published (set by the console).
    """

    def __init__(self) -> None:
        self.active = False
        self.describe: Callable[[str], str | None] = lambda sid: None
        self.snapshot: Callable[[], Awaitable[dict[str, Any]]] | None = None
        self._subscribers: set[Subscriber] = set()
        self._seq = 0
        self._refresh: asyncio.TimerHandle | None = None
        self._refreshing: asyncio.Task[None] | None = None

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last entry published."""
        return self._seq

    @property
    def subscribers(self) -> int:
        """How many consoles are subscribed."""
        return len(self._subscribers)

    def subscribe(self, limit: int = QUEUE_LIMIT) -> Subscriber:
        """Add a console; it gets every message published from now on."""
        subscriber = Subscriber(limit)
        self._subscribers.add(subscriber)
        self.active = True
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Remove a console (idempotent)."""
        self._subscribers.discard(subscriber)
        self.active = bool(self._subscribers)
        if not self.active and self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None

    def send(self, message: dict[str, Any]) -> None:
        """Send ``message`` (a JSON object with a ``type``) to every console."""
        if not self._subscribers:
            return
        encoded = dumps(message, default=str)
        for subscriber in list(self._subscribers):
            subscriber.put(encoded)

    def publish(self, entry: Entry) -> None:
        """Number, time-stamp (unless it has a ``time``) and send one log entry.

        Also schedules a state refresh.
        """
        if not self._subscribers:
            return
        self._seq += 1
        entry["type"] = "entry"
        entry["seq"] = self._seq
        entry.setdefault("time", round(time.time() * 1000))
        entry["payload"] = _bounded(entry.get("payload"))
        self.send(entry)
        self._schedule_refresh()

    # -- what the publishers call -------------------------------------------

    def event_out(self, event: str, payload: Any, room: str, skip_sid: str | None) -> None:
        """The server emitted ``event`` to ``room`` (a room name or a socket id)."""
        entry: Entry = {
            "kind": "event",
            "dir": "out",
            "name": event,
            "room": room,
            "conversationId": conversation_of(room, payload),
            "payload": payload,
        }
        target = self.describe(room)
        if target is not None:
            entry["to"] = target
        if skip_sid is not None:
            entry["skip"] = skip_sid
        self.publish(entry)

    def event_in(self, sid: str, event: str, args: tuple[Any, ...]) -> None:
        """A client sent ``event`` with ``args`` on socket ``sid``."""
        payload: Any = redact(args[0] if len(args) == 1 else list(args))
        conversation = conversation_of(payload)
        if conversation is None and event == "join-conversation" and isinstance(payload, str):
            conversation = payload
        self.publish(
            {
                "kind": "event",
                "dir": "in",
                "name": event,
                "sid": sid,
                "from": self.describe(sid),
                "conversationId": conversation,
                "payload": payload,
            }
        )

    def socket(self, sid: str, what: str, detail: Any = None) -> None:
        """Socket ``sid`` connected, was refused, or disconnected (``what``)."""
        self.publish(
            {
                "kind": "socket",
                "dir": "in",
                "name": what,
                "sid": sid,
                "from": self.describe(sid),
                "payload": redact(detail),
            }
        )

    def room(self, sid: str, room: str) -> None:
        """Socket ``sid`` was put in ``room``."""
        self.publish(
            {
                "kind": "room",
                "dir": "in",
                "name": "enter-room",
                "sid": sid,
                "from": self.describe(sid),
                "room": room,
                "conversationId": conversation_of(room),
                "payload": {"sid": sid, "room": room},
            }
        )

    def http(
        self,
        *,
        method: str,
        path: str,
        query: str,
        route_conversation: str | None,
        status: int,
        millis: float,
        request: Any,
        answer: Any,
        after: int,
        arrived: int,
    ) -> None:
        """A REST request was answered.

        ``after`` is ``last_seq`` when the request came in and ``arrived`` the time it
        came in (epoch ms): the console shows the request where it came in, before the
        events published while it ran, and with that time, so that the log's lines are
        in the order of the times they show (the duration is ``ms``).
        """
        request, answer = redact(request), redact(answer)
        self.publish(
            {
                "kind": "http",
                "dir": "in",
                "name": f"{method} {path}",
                "method": method,
                "path": path + (f"?{query}" if query else ""),
                "status": status,
                "ms": round(millis, 1),
                "after": after,
                "time": arrived,
                "conversationId": route_conversation or conversation_of(request, answer),
                "payload": {"request": request, "response": answer},
            }
        )

    # -- the state panels -----------------------------------------------------

    def _schedule_refresh(self, delay: float = 0.1) -> None:
        if self.snapshot is None or self._refresh is not None:
            return
        loop = asyncio.get_running_loop()
        self._refresh = loop.call_later(delay, self._start_refresh)

    def _start_refresh(self) -> None:
        self._refresh = None
        if self._refreshing is not None and not self._refreshing.done():
            self._schedule_refresh()  # one at a time; the next one sees the latest state
            return
        self._refreshing = asyncio.get_running_loop().create_task(self.push_state())

    async def push_state(self) -> None:
        """Send the state panels' data to every console now."""
        if self.snapshot is None or not self._subscribers:
            return
        try:
            state = await self.snapshot()
        except Exception:  # the panels miss one refresh; the log goes on
            logger.exception("console state snapshot failed")
            return
        self.send({"type": "state", **state})
