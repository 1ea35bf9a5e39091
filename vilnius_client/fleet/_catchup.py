"""What a conversation holds after a stored position: the catch-up of a claimed conversation.

When a replica claims a conversation that some replica handled before, it asks the server
for the messages after the position stored in Redis (one conversation, over REST: the
client's own history reading, by ``seq`` with ``GET /api/conversations/{id}/messages?after=``
or, on production, all of the conversation's messages in time order) and hands those not
covered by the position over as replayed events before the live ones. Only the messages the
client's live stream carries count (`Stream`): on production the visitor's messages, less
those its autopilot answered (never announced), as the client's own recovery does
(`vilnius_client._recovery.replay_listing`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._recovery import _unannounced
from ..events import Message, Sender
from ._book import Position

__all__ = ["Stream", "missed_in"]


@dataclass(frozen=True)
class Stream:
    """Which of a conversation's messages the client's live stream carries.

    Attributes:
        senders: Whose messages (``None``: everyone's).
        listing: Whether the client recovers by listing (production): messages its
            autopilot answered were never announced, and are not replayed.
    """

    senders: frozenset[Sender] | None
    listing: bool


def missed_in(messages: list[Message], stream: Stream, after: Position) -> list[Message]:
    """Those of a conversation's ``messages`` (in order) that the stream carries and
    ``after`` does not cover."""
    skipped = _unannounced(messages) if stream.listing else set()
    return [
        message
        for message in messages
        if (stream.senders is None or message.sender in stream.senders)
        and message.id not in skipped
        and not after.covers(message)
    ]
