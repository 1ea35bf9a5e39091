"""Credentials that may change: one alias and one resolver for every secret the SDK sends.

A bearer token (the sockets' ``auth``, REST's ``Authorization``) and a TOTP code
are each given as a value or as a function, plain or async, asked again every
time one is needed, so that a refreshed token (or the current TOTP code) is
picked up without the client being rebuilt.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

__all__ = ["TokenSource", "resolve_token"]

TokenSource = str | Callable[[], str | Awaitable[str | None] | None] | None
"""A bearer token, or a function (plain or async) returning the current one; ``None``: none."""


async def resolve_token(source: TokenSource) -> str | None:
    """The value ``source`` currently stands for (calling, and awaiting, a function)."""
    if source is None or isinstance(source, str):
        return source
    value = source()
    if inspect.isawaitable(value):
        value = await value
    return value
