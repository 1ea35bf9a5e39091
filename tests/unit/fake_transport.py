"""An in-memory transport for the connection's unit tests (as httpx's ``MockTransport``).

`FakeTransport` makes `FakeLink`s in place of python-socketio; a test scripts the server's
side on it, and reads what the client sent:

* ``transport.refuse(exc)``: the next ``open()`` raises ``exc`` (queue several);
  ``transport.hang_next()``: the next ``open()`` never answers (until cancelled, and one
  that swallows its cancellation once: ``hang_next(stubborn=True)``); ``transport.hanging``
  is set once an ``open()`` hangs;
* ``transport.answers[event] = fn(link, data) -> ack | None``: the server's answer to a
  client event (an acknowledgement's argument, or ``None`` for none: then a ``call`` waits
  until its timeout). By default joins are acknowledged ``{"ok": True}`` (the dashboard's
  join also pushes ``system-mode-update``) and ``heartbeat`` is answered with a
  ``heartbeat-ack`` event;
* ``link.push(name, payload)``: a server event, delivered at once; ``link.drop(reason)``:
  the server closes the link; ``link.silent = True``: nothing answers any more (a zombie).

What it saw: ``transport.opened`` (every link, with its ``auth``), ``link.sent``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from vilnius_client._transport import EventCallback, LinkState
from vilnius_client.errors import NotConnectedError

Answer = Callable[["FakeLink", Any], Any]


class FakeLink(LinkState):
    """One fake connection (a `vilnius_client._transport.Link`)."""

    def __init__(
        self, transport: FakeTransport, auth: dict[str, Any] | None, on_event: EventCallback
    ) -> None:
        super().__init__()
        self.server = transport
        self.auth = auth
        self._on_event = on_event
        self.sid: str | None = f"sid-{len(transport.opened) + 1}"
        self.transport: str | None = "fake"
        self.sent: list[tuple[str, Any]] = []
        self.silent = False

    @property
    def connected(self) -> bool:
        return not self._closed.is_set()

    @property
    def events(self) -> list[str]:
        """The names of the events the client sent, in order."""
        return [event for event, _ in self.sent]

    # -- the server's side ------------------------------------------------------------

    def push(self, name: str, *args: Any) -> None:
        """A server event, delivered now (as the link's read loop would)."""
        if self.connected:
            self.received += 1
            self._on_event(name, args)

    def drop(self, reason: str = "transport close") -> None:
        """The server (or the network) closes the link."""
        self.abort(f"disconnected ({reason})")

    # -- the Link interface ---------------------------------------------------------

    async def emit(self, event: str, data: Any) -> None:
        if not self.connected:
            raise NotConnectedError(f"cannot send {event!r}: not connected")
        self.sent.append((event, data))
        await asyncio.sleep(0)
        answer = self.server.answers.get(event)
        if answer is not None and not self.silent:
            answer(self, data)

    async def call(self, event: str, data: Any, *, within: float) -> tuple[Any, ...]:
        async def send(acknowledge: Callable[..., None]) -> None:
            if not self.connected:
                raise NotConnectedError(f"cannot send {event!r}: not connected")
            self.sent.append((event, data))
            answer = self.server.answers.get(event)
            if answer is not None and not self.silent:
                ack = answer(self, data)
                if ack is not None:
                    acknowledge(ack)

        return await self._await_reply(event, within, send)

    async def close(self) -> None:
        self.abort("closed by the client")


def _ok(link: FakeLink, data: Any) -> Any:
    return {"ok": True}


def _join_dashboard(link: FakeLink, data: Any) -> Any:
    link.server.loop.call_soon(link.push, "system-mode-update", {"mode": "hitl"})
    return {"ok": True}


def _heartbeat(link: FakeLink, data: Any) -> None:
    link.push("heartbeat-ack", {"timestamp": data["timestamp"], "agentId": "a1"})


class FakeTransport:
    """Makes `FakeLink`s (a `vilnius_client._transport.Transport`); see the module docstring."""

    def __init__(self) -> None:
        self.opened: list[FakeLink] = []
        self.answers: dict[str, Answer] = {
            "join-agent-dashboard": _join_dashboard,
            "join-conversation": _ok,
            "heartbeat": _heartbeat,
        }
        self._refusals: list[BaseException] = []
        self._hang: list[bool] = []
        self.hanging = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    def refuse(self, *errors: BaseException) -> None:
        """The next ``open()`` calls raise these, in order."""
        self._refusals.extend(errors)

    def hang_next(self, *, stubborn: bool = False) -> None:
        """The next ``open()`` never answers (``stubborn``: it swallows one cancellation)."""
        self._hang.append(stubborn)

    @property
    def link(self) -> FakeLink:
        """The newest link."""
        return self.opened[-1]

    async def open(
        self, url: str, *, auth: dict[str, Any] | None, on_event: EventCallback, within: float
    ) -> FakeLink:
        self.loop = asyncio.get_running_loop()
        if self._hang:
            stubborn = self._hang.pop(0)
            self.hanging.set()
            if stubborn:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(3600)
            await asyncio.sleep(3600)
        if self._refusals:
            raise self._refusals.pop(0)
        link = FakeLink(self, auth, on_event)
        self.opened.append(link)
        return link
