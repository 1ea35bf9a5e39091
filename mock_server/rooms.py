"""The server's Socket.IO rooms and how they are named.

``agents`` holds every agent dashboard socket; each conversation has a room of its own,
``conversation:`` and its id; with profile ``lizdeika`` dashboards also join
``settings``. Every socket is also alone in a room named by its id (python-socketio's).
"""

from __future__ import annotations

__all__ = [
    "AGENTS_ROOM",
    "CONVERSATION_ROOM_PREFIX",
    "RESERVED_CONVERSATION_IDS",
    "SETTINGS_ROOM",
    "conversation_room",
]

AGENTS_ROOM = "agents"
"""The room of every agent dashboard socket."""

SETTINGS_ROOM = "settings"
"""Profile ``lizdeika``: the room of production's settings page (dashboards join it too)."""

CONVERSATION_ROOM_PREFIX = "conversation:"
"""Prefix of every conversation's room name.

Conversation ids are chosen by clients (a customer's first message may name any id), so
they must never be used as room names as they are: a conversation called ``agents`` would
be the agents room, one called like a socket id that socket's own room. Every
conversation's room is this prefix plus its id. No server room (``agents``, each socket's
id: base64url characters, no ``:``) starts with it, so a conversation room can be no
other room, whatever the id.
"""

RESERVED_CONVERSATION_IDS = frozenset({AGENTS_ROOM, SETTINGS_ROOM})
"""Ids no new conversation may take (the names of the server's own rooms).

Rooms are already apart (``conversation_room``); refusing these names as well keeps
logs, the dashboard and other servers that use ids as room names unambiguous.
"""


def conversation_room(conversation_id: str) -> str:
    """Return the name of the room of a conversation (never a server room; see above)."""
    return CONVERSATION_ROOM_PREFIX + conversation_id
