"""JavaScript's text rules, for the ``lizdeika`` profile: production is Node.js.

Where production trims, measures or matches text, a client can tell Python's rules from
JavaScript's, so the profile follows JavaScript's:

- ``trim``: ``String.prototype.trim`` removes JavaScript's white space and line
  terminators (``WHITESPACE``: U+FEFF included; U+001C-U+001F and U+0085 not), where
  Python's ``str.strip`` removes ``str.isspace`` characters.
- ``length``: ``String.prototype.length`` counts UTF-16 code units: a character outside
  the Basic Multilingual Plane (an emoji) counts 2, where Python's ``len`` counts 1.
- ``regex``: a JavaScript pattern ``/^...$/`` (``i``) to use with ``fullmatch``. JavaScript's
  ``$`` (without ``m``) matches at the very end only, Python's also before a final
  newline (``"session-abc\\n"`` would pass); ``[a-z]`` with ``i`` folds ASCII letters only
  (Python's would also take the Kelvin sign and the long s).
"""

from __future__ import annotations

import re

__all__ = ["SPACES", "WHITESPACE", "length", "regex", "trim"]

WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""JavaScript's WhiteSpace and LineTerminator characters (ECMA-262): what ``trim`` removes
and what ``\\s`` matches."""

SPACES = re.escape(WHITESPACE)
"""JavaScript's ``\\s`` inside a character class: ``f"[^@{SPACES}]"``, for ``regex``."""


def trim(text: str) -> str:
    """``text.trim()``: ``text`` without JavaScript white space at either end."""
    return text.strip(WHITESPACE)


def length(text: str) -> int:
    """``text.length``: how many UTF-16 code units ``text`` takes."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def regex(source: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """The JavaScript pattern ``/^source$/`` (flag ``i`` if ``ignore_case``).

    Use it with ``fullmatch`` only (the anchors are implied). Write ``\\s`` with
    ``SPACES``: Python's ASCII ``\\s`` is narrower than JavaScript's.
    """
    return re.compile(source, re.ASCII | (re.IGNORECASE if ignore_case else 0))
