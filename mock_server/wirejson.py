"""Compact JSON encoding for what the server sends: event packets (``dumps``), REST answers
(``json_response``).

orjson is several times faster than the stdlib encoder. Its output is the same JSON
value; it differs only in spelling (non-ASCII characters as UTF-8 instead of ``\\u``
escapes, no spaces). It refuses integers beyond 64 bits, which a client may put in
free-form ``metadata``; those values are encoded by the stdlib instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

__all__ = ["dumps", "json_response"]


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """``value`` as compact UTF-8 JSON (``default`` converts what JSON has no type for)."""
    try:
        return orjson.dumps(value, default=default)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=default).encode()


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A REST answer as ``web.json_response`` makes it (``application/json``), by ``dumps``."""
    return web.Response(
        text=dumps(body).decode(), status=status, content_type="application/json", headers=headers
    )
