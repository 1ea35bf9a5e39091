"""What the reference server logs, and how ``vilnius-mock-server`` sets logging up.

Four loggers, all under ``mock_server`` (INFO unless said otherwise):

- ``mock_server``: start, stop, and what went wrong (WARNING and ERROR).
- ``mock_server.access``: one line per REST request, written by ``AccessLogger``:
  client address, method, path with query, status, time. Never a body or a header.
  Socket.IO's own HTTP requests (``/socket.io/``) are left out: the socket lines say more.
- ``mock_server.socket``: a socket connected (with who it is), disconnected (with why), an
  agent joined the dashboard.
- ``mock_server.frontend``: what production's own pages report to ``POST /api/logs/frontend``
  (profile ``lizdeika``, ``mock_server.rest.production_web``).

Libraries (aiosqlite, python-socketio, python-engineio, aiohttp) log warnings and errors
only, whatever the level: their DEBUG lines are about their internals, not about the chat.
In-process (``serve()``) nothing is configured: the lines go wherever the application's
logging sends the ``mock_server`` loggers.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

__all__ = ["FORMAT", "AccessLogger", "access_logger", "configure", "socket_logger"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The line format of ``vilnius-mock-server``'s log (on standard error)."""

access_logger = logging.getLogger("mock_server.access")
"""One line per REST request (see ``AccessLogger``)."""

socket_logger = logging.getLogger("mock_server.socket")
"""Socket connects, disconnects and dashboard joins."""

_SOCKET_IO = "/socket.io/"


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access logger for the REST API: ``127.0.0.1 "GET /health" 200 1 ms``.

    The path is logged as the client sent it (percent-encoded, so no line breaks get in),
    with its query string. The time is in whole milliseconds: aiohttp measures it with the
    event loop's clock, which under uvloop advances in steps of one millisecond.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        """Write the line of one answered request."""
        if request.path.startswith(_SOCKET_IO):
            return
        self.logger.info(
            '%s "%s %s" %d %.0f ms',
            request.remote,
            request.method,
            request.raw_path,
            response.status,
            time * 1000,
        )

    @property
    def enabled(self) -> bool:
        """Whether the lines are wanted at all (aiohttp skips the timing when not)."""
        return self.logger.isEnabledFor(logging.INFO)


def configure(level: str | int, *, access_log: bool = True, stream: TextIO | None = None) -> None:
    """Set up logging for the command line: ours at ``level``, libraries' at WARNING.

    Args:
        level: The level of the ``mock_server`` loggers (``"DEBUG"``, ``"INFO"``, ...).
        access_log: Whether to write the per-request lines of ``mock_server.access``.
        stream: Where the lines go (default: standard error).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("mock_server").setLevel(level)
    if not access_log:
        access_logger.setLevel(logging.WARNING)
