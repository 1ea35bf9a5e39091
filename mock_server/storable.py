"""Text the database can store: every string of a request, keys included, is Unicode text.

JSON lets a string hold a lone UTF-16 surrogate (``"x\\ud800y"``): Python reads it as a
string that no UTF-8 text (SQLite's, PostgreSQL's, the JSON we answer) can hold. Such a
string is refused where a request is read, on both profiles and for every field alike
(values and object keys, at any depth, and the ``Idempotency-Key`` header, which
aiohttp reads with ``surrogateescape``), so that text is stored exactly as sent or not
at all, and nothing can fail later, at the commit a request shares with others.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROBLEM", "printable", "unstorable_body", "unstorable_field"]

PROBLEM = "is not Unicode text (it holds a lone surrogate)"
"""What the refusal says of the field it names."""


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` with its lone surrogates written as ``\\udXXX`` (to name it in an answer)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unstorable_field(data: Any, path: str = "") -> str | None:
    """The path (``metadata.key``, ``items.0``) of a string that is not text, if any.

    Looks at every string of ``data`` (a decoded JSON value): object keys and values,
    at any depth. ``path`` is where ``data`` itself is (``""``: the body). Returns
    ``None`` when every string can be stored.
    """
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if not _storable(value):
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{where}.{printable(key)}" if where else printable(key)
                if not _storable(key):
                    return inner
                stack.append((inner, item))
        elif isinstance(value, list):
            stack.extend(
                (f"{where}.{index}" if where else str(index), item)
                for index, item in enumerate(value)
            )
    return None


def unstorable_body(raw: bytes, data: Any) -> str | None:
    """``unstorable_field`` of a body ``data`` decoded from the JSON ``raw``.

    Only a ``\\u`` escape can make a lone surrogate out of JSON: a body without one is
    not walked.
    """
    return unstorable_field(data) if b"\\u" in raw else None
