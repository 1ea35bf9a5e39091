"""Production's own web clients, served from a Lizdeika checkout (``--static DIR``).

Production's Express app serves its pages from the site root ahead of its API
(``express.static`` before the routes), so ``/login.html``, ``/agent-dashboard.html``,
``/js/agent-dashboard.js`` and ``/widget.js`` come from the same origin as ``/api/...`` and
Socket.IO. ``middleware`` does the same for a checkout the user points at: what production's
image copies into its public directory (``custom-widget/*.html``, ``custom-widget/*.js``,
``custom-widget/js/**``), and nothing else of the checkout (not ``backend/``, nor any
dot-file). ``/`` is ``index.html``. Scripts are sent with ``Cache-Control: no-store``, as
production's development server sends them, so an edited client shows on the next reload.

A path that names no such file goes on to the API, as ``express.static`` lets it.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from .config import ServerConfig
from .profile import PROFILES

__all__ = ["CLIENT_FILES", "clients_dir", "locate", "middleware"]

CLIENT_FILES = ("login.html", "agent-dashboard.html", "widget.js")
"""Files a directory must hold to be taken for production's web clients."""

_SCRIPTS = "js"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_NO_STORE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, private",
    "Pragma": "no-cache",
    "Expires": "0",
}


def clients_dir(config: ServerConfig) -> Path | None:
    """The directory of the web clients ``config.static_dir`` names, or ``None`` (no option).

    Raises:
        ValueError: The profile is not one production's clients can log in to (``vilnius``),
            or the directory holds no web clients; the message is one line.
    """
    if config.static_dir is None:
        return None
    if not PROFILES[config.profile].user_login:
        raise ValueError(
            f"--static serves production's web clients, which log in as users: "
            f"use it with --profile lizdeika, not {config.profile}"
        )
    return locate(config.static_dir)


def locate(directory: str | Path) -> Path:
    """The directory of the web clients in ``directory``: a checkout or its ``custom-widget``.

    Raises:
        ValueError: Neither holds production's web clients; the message is one line.
    """
    given = Path(directory).expanduser()
    for candidate in (given / "custom-widget", given):
        if all((candidate / name).is_file() for name in CLIENT_FILES):
            return candidate.resolve()
    if not given.is_dir():
        raise ValueError(f"--static {directory}: no such directory")
    names = ", ".join(CLIENT_FILES)
    raise ValueError(
        f"--static {directory}: not a Lizdeika checkout (no custom-widget/ with {names})"
    )


def _file(root: Path, path: str) -> Path | None:
    """The client file ``path`` (a request path) names under ``root``, or ``None``."""
    parts = path.split("/")[1:] if path != "/" else ["index.html"]
    if any(not part or part.startswith(".") or "\\" in part for part in parts):
        return None
    if len(parts) == 1:
        if not parts[0].endswith((".html", ".js")):
            return None
    elif parts[0] != _SCRIPTS:
        return None
    found = root.joinpath(*parts)
    try:
        resolved = found.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_file() or not resolved.is_relative_to(root):
        return None
    return resolved


def _content_type(path: Path) -> str:
    """The type Express would send: JavaScript and HTML in UTF-8."""
    if path.suffix == ".js":
        return "application/javascript; charset=UTF-8"
    guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{guessed}; charset=UTF-8" if guessed.startswith("text/") else guessed


def middleware(root: Path) -> Callable[[web.Request, _Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware that answers ``GET``/``HEAD`` of the client files under ``root``.

    ``root`` is what ``locate`` returned. Every other request reaches its handler untouched.
    """

    @web.middleware
    def serve(request: web.Request, handler: _Handler) -> Awaitable[web.StreamResponse]:
        # Not a coroutine function: other requests (Socket.IO's above all) are handed on
        # without a frame of their own.
        if request.method in ("GET", "HEAD"):
            found = _file(root, request.path)
            if found is not None:
                return _send(found)
        return handler(request)

    async def _send(path: Path) -> web.StreamResponse:
        headers = {"Content-Type": _content_type(path)}
        if path.suffix == ".js":
            headers.update(_NO_STORE)
        return web.FileResponse(path, headers=headers)

    return serve
