"""What a conversation holds after a stored position: the catch-up of a claimed conversation.

When a replica claims a conversation that some replica handled before, it asks the server
for the messages after the position stored in Redis (one conversation, over REST) and hands
them over as replayed events before the live ones: by ``seq`` with
``GET /api/conversations/{id}/messages?after=``, or, on production, all of the
conversation's messages in time order, of which those not covered by the position. Only the
messages the client's live stream carries count (`Stream`): on production the visitor's
messages, less those its autopilot answered (never announced), as the client's own recovery
does (`vilnius_client._recovery.replay_listing`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._capabilities import ServerCapabilities
from .._recovery import _unannounced, seq_of
from ..events import Message, Sender
from ..rest import RestClient
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


async def missed_in(
    rest: RestClient,
    capabilities: ServerCapabilities,
    stream: Stream,
    conversation_id: str,
    after: Position,
    *,
    page_size: int,
) -> list[Message]:
    """The messages of the stream in ``conversation_id`` not covered by ``after``, in order.

    Raises:
        VilniusError: The server could not be asked, or refused (the conversation is gone:
            `NotFoundError`).
    """
    if capabilities.seq:
        messages: list[Message] = []
        cursor = max(after.at - 1, 0)  # the messages at ``after.at`` may be missed too
        while True:
            answer = await rest.conversation_messages(
                conversation_id, after=cursor, limit=page_size
            )
            page = sorted(answer.messages, key=seq_of)
            if not page:
                break
            messages.extend(page)
            cursor = seq_of(page[-1])
    else:
        answer = await rest.conversation_messages(conversation_id)
        messages = sorted(answer.messages, key=lambda message: message.timestamp)
    skipped = _unannounced(messages) if stream.listing else set()
    return [
        message
        for message in messages
        if (stream.senders is None or message.sender in stream.senders)
        and message.id not in skipped
        and not after.covers(message)
    ]
