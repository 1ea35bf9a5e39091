"""The fast paths themselves: our subclasses of python-engineio's and python-socketio's clients.

`FastEngineIOClient` handles Socket.IO events and acks inside Engine.IO's read
loop, and (the ``read_loop`` fast path) runs a copy of that loop with one
lazily moved idle deadline; `FastSocketIOClient` decodes plain events with
orjson. Which of them is used, and whether the library internals they rely on
are all there, is decided in `vilnius_client._fastpaths`, whose
``REQUIREMENTS`` lists every private name this module touches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import engineio
import orjson
import socketio
from engineio import base_client as eio_base_client
from engineio import packet as eio_packet

__all__ = ["EventCallback", "FastEngineIOClient", "FastSocketIOClient"]

EventCallback = Callable[[str, tuple[Any, ...]], None]
"""``(event_name, args)``: called for every server event, in arrival order."""


class FastEngineIOClient(engineio.AsyncClient):  # type: ignore[misc]
    """Engine.IO client that hands Socket.IO events and acks over inline.

    Stock Engine.IO starts one task per received message (and, on Python
    3.11, one more per ``wait_for`` around each websocket read), and
    python-socketio then decodes it with the stdlib ``json``; at thousands of
    events per second that is most of the client's work. Here text messages
    carrying a Socket.IO ``EVENT`` or ``ACK`` are handled in the read loop
    itself, in arrival order (`FastSocketIOClient`); every other message
    (ping, connect, disconnect, errors, binary) takes the stock path.
    """

    #: ``fast_event(data) -> handled``: a Socket.IO packet, decoded and delivered at once.
    fast_event: Callable[[str], bool] | None = None
    #: ``take_message(data)``: any Socket.IO EVENT or ACK packet, handled in order.
    take_message: Callable[[str], Awaitable[None]] | None = None
    #: Whether `_read_loop_websocket` is ours (the ``read_loop`` fast path).
    own_read_loop = False

    async def _receive_packet(self, pkt: Any) -> None:
        data = pkt.data
        take = self.take_message
        if (
            take is not None
            and pkt.packet_type == eio_packet.MESSAGE
            and type(data) is str
            and data[:1] in ("2", "3")
        ):
            fast = self.fast_event
            if fast is None or not fast(data):
                await take(data)
            return
        await super()._receive_packet(pkt)

    async def _read_loop_websocket(self) -> None:
        if not self.own_read_loop:
            await super()._read_loop_websocket()
            return
        # The stock loop, with one idle deadline that is moved forward lazily
        # instead of a ``wait_for`` (a task and a timer) per message, and with
        # Socket.IO events and acks taken without building Engine.IO packets.
        loop = asyncio.get_running_loop()
        limit = self.ping_interval + self.ping_timeout
        ws = self.ws
        try:
            async with asyncio.timeout(None) as idle:
                while self.state == "connected" and self.write_loop_task:
                    now = loop.time()
                    when = idle.when()
                    if when is None or when < now + limit:
                        idle.reschedule(now + limit * 1.05)
                    try:
                        data = (await ws.receive()).data
                    except aiohttp.client_exceptions.ServerDisconnectedError:
                        self.logger.info("Read loop: WebSocket connection was closed, aborting")
                        await self.queue.put(None)
                        break
                    except Exception as exc:
                        self.logger.info('Unexpected error receiving packet: "%s", aborting', exc)
                        await self.queue.put(None)
                        break
                    if type(data) is str and data[:2] in ("42", "43"):
                        take = self.take_message
                        if take is not None:
                            fast = self.fast_event
                            body = data[1:]
                            if fast is None or not fast(body):
                                await take(body)
                            continue
                    if not isinstance(data, str | bytes):
                        self.logger.warning("Server sent packet data %s, aborting", data)
                        await self.queue.put(None)
                        break
                    try:
                        pkt = eio_packet.Packet(encoded_packet=data)
                    except Exception as exc:
                        self.logger.info('Unexpected error decoding packet: "%s", aborting', exc)
                        await self.queue.put(None)
                        break
                    await self._receive_packet(pkt)
        except TimeoutError:
            self.logger.warning("Server has stopped communicating, aborting")
            await self.queue.put(None)
        if self.write_loop_task:
            self.logger.info("Waiting for write loop task to end")
            await self.write_loop_task
        if self.state == "connected":
            await self._trigger_event("disconnect", self.reason.TRANSPORT_ERROR, run_async=False)
            with contextlib.suppress(ValueError):
                eio_base_client.connected_clients.remove(self)
            await self._reset()
        self.logger.info("Exiting read loop task")


class FastSocketIOClient(socketio.AsyncClient):  # type: ignore[misc]
    """``socketio.AsyncClient`` with a fast path for events on the default namespace.

    ``2["name",...]`` (an event without acknowledgement id on ``/``) is decoded
    with orjson and passed to ``fast_event(name, args)`` directly. Anything
    else of type EVENT or ACK, and anything orjson refuses (e.g. integers
    beyond 64 bits), goes through python-socketio's own decoding, still
    inline so that the order of arrival is kept.
    """

    def __init__(self, *, fast_event: EventCallback, own_read_loop: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_event = fast_event
        self._fast_names_excluded = frozenset(self.reserved_events)
        if isinstance(self.eio, FastEngineIOClient):
            self.eio.fast_event = self.fast_event
            self.eio.take_message = self.take_message
            self.eio.own_read_loop = own_read_loop

    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return FastEngineIOClient

    async def take_message(self, data: str) -> None:
        """Handle one Socket.IO EVENT or ACK packet (``data``) the stock way, inline."""
        try:
            await self._handle_eio_message(data)
        except Exception:
            # Inline, an exception would end Engine.IO's read loop (the
            # connection); the stock path only loses the one message.
            self.logger.exception("error handling a Socket.IO message")

    def fast_event(self, data: str) -> bool:
        """Decode and deliver ``2["name",...]``; ``False`` when it is not that simple."""
        if data[1:2] != "[" or data[:1] != "2":
            return False
        try:
            decoded = orjson.loads(data[1:])
        except orjson.JSONDecodeError:
            return False
        if type(decoded) is not list or not decoded:
            return False
        name = decoded[0]
        if type(name) is not str or name in self._fast_names_excluded:
            return False
        if name in self.handlers.get("/", ()):
            return False
        try:
            self._fast_event(name, tuple(decoded[1:]))
        except Exception:
            self.logger.exception("error handling a Socket.IO event")
        return True
