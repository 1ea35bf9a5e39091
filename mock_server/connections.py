"""The HTTP connections: what a client may send before its request is read, and how long.

aiohttp reads every connection; this module sets its limits and fills two gaps:

- **Headers** past a limit are refused while they are read (aiohttp's parser limits):
  a request line of more than ``MAX_LINE`` bytes, a header (name and value) of more
  than ``MAX_FIELD`` bytes, more than ``MAX_HEADERS`` headers. The answer is 400 and
  the connection reads nothing more: the rest of an 8 MB header is never read into
  memory (uvloop would otherwise read it all, 256 KiB at a time, before the 400 goes out).
- **Header timeout**: a connection must bring its request's headers within
  ``header_timeout`` seconds of opening, or of the answer to its previous request;
  else it is closed without an answer (slowloris). aiohttp's keep-alive timer does it:
  it runs from the connection's start and from each answer, and closes only a connection
  that waits for a request, never one whose request is being handled (a long poll,
  a WebSocket).
- **Half-close**: a client that shuts its sending side after its requests
  (``shutdown(SHUT_WR)``, ``nc -N``) still gets the answer to the request being
  handled; the pipelined requests behind it are not run (nothing stored, nothing owed),
  then the connection closes. aiohttp would close at once and drop that answer, after
  having stored what it said.

Requests that cannot be parsed (garbage after pipelined requests) are aiohttp's: the
requests read before the garbage are answered, then a 400; requests that came in one
read with the garbage are dropped unrun, and the 400 answers them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from . import _internals

__all__ = [
    "HEADER_TIMEOUT",
    "MAX_FIELD",
    "MAX_HEADERS",
    "MAX_LINE",
    "GuardedHandler",
    "GuardedSite",
    "handler_options",
]

MAX_LINE = 8190
"""Longest request line (method, path and query, version), in bytes."""

MAX_FIELD = 8190
"""Longest header (name and value), in bytes."""

MAX_HEADERS = 64
"""Most headers in one request."""

HEADER_TIMEOUT = 30.0
"""Seconds a connection has to send a request's headers (and an idle one stays open)."""


def handler_options(header_timeout: float) -> dict[str, Any]:
    """The options of every connection handler (also given to ``web.AppRunner``)."""
    return {
        "keepalive_timeout": header_timeout,
        "max_line_size": MAX_LINE,
        "max_field_size": MAX_FIELD,
        "max_headers": MAX_HEADERS,
    }


class GuardedHandler(web.RequestHandler):
    """aiohttp's connection handler, which stops reading after a refused request and
    answers a client that half-closed (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False

    def data_received(self, data: bytes) -> None:
        """Read ``data``, unless a request of this connection was refused."""
        if self._refused:
            return
        super().data_received(data)
        if _internals.refusal_queued(self):
            self._refused = True
            if self.transport is not None:
                self.transport.pause_reading()

    # asyncio.Protocol's is ``bool | None`` (true: keep the sending side open)
    def eof_received(self) -> bool:  # type: ignore[override]
        """The client sent all it will: answer the request being handled, then close."""
        if not _internals.handler_busy(self):
            return False  # the transport closes itself
        self.close()  # no request behind the current one is run
        return True


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are ``GuardedHandler``s.

    Args:
        runner: The set-up runner (its server manages the connections).
        host: Interface to listen on.
        port: TCP port (0: any free one).
        options: ``handler_options`` (the same the runner was given).
    """

    __slots__ = ("_host", "_options", "_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, options: dict[str, Any]
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._options = options

    @property
    def name(self) -> str:
        """``http://host:port``."""
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen; each connection gets a ``GuardedHandler`` (aiohttp's if it cannot)."""
        await super().start()
        loop = asyncio.get_running_loop()
        manager = self._runner.server
        assert manager is not None
        missing = _internals.handler_missing()
        if missing:
            _internals.warn_handler_once(missing)
            factory: Any = manager
        else:

            def factory() -> GuardedHandler:
                return GuardedHandler(manager, loop=loop, **self._options)

        self._server = await loop.create_server(factory, self._host, self._port, reuse_address=True)
