"""Recovery on a server without ``seq`` (production): de-duplication by message id.

Production has no ``seq`` and no ``GET /api/messages?after=``; what a client
missed while disconnected is read back from what it does have:

* agents: ``GET /api/admin/conversations`` lists every conversation with its
  ``lastMessage``; each conversation whose last message is new to the client
  is read with ``GET /api/conversations/{id}/messages`` (:func:`replay_listing`);
* customers: their conversation's ``GET /api/conversations/{id}/messages``
  (:func:`replay_conversation_by_id`).

:class:`MessageLedger` remembers, per conversation, what was handed over: a
*floor* (the server timestamp at or before which everything counts as
delivered, or as history) plus the ids of the messages above it. The floor
trails the newest message by ``overlap`` (a minute), so that a message the
server stored out of timestamp order is still recognised by its id, and
memory stays bounded by the messages of the last minute of each conversation.

Decisions:

* Timestamps are the server's (epoch milliseconds): the client's clock is never
  compared with them.
* Agents get back what production would have sent them live: visitor
  messages (``new-message`` goes out for nothing else there). Customers get
  back agents' replies (``agent-message``); their own messages and the
  server's system messages only move the position.
* A client without a position starts at the end: an agent at the last message
  of every conversation listed when it first connects, a customer given an
  existing conversation at its last message. History is not replayed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import UTC, datetime

from .events import Conversation, Message, Sender

__all__ = [
    "DEFAULT_OVERLAP_MS",
    "MessageLedger",
    "epoch_ms",
    "from_epoch_ms",
    "replay_conversation_by_id",
    "replay_listing",
]

DEFAULT_OVERLAP_MS = 60_000
"""How far (ms) the floor trails a conversation's newest message."""


def epoch_ms(moment: datetime) -> int:
    """A timestamp as integer epoch milliseconds (what servers store)."""
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


class _Conversation:
    __slots__ = ("floor", "newest", "recent")

    def __init__(self, floor: int | None) -> None:
        self.floor = floor
        self.newest = floor
        self.recent: dict[str, int] = {}


class MessageLedger:
    """Which seq-less messages were handed over, per conversation.

    Args:
        floor: The floor of conversations the ledger meets for the first time:
            ``None`` (everything in them is new), or epoch ms (a resume position).
        overlap_ms: How far the floor trails each conversation's newest message.
    """

    def __init__(self, *, floor: int | None = None, overlap_ms: int = DEFAULT_OVERLAP_MS) -> None:
        if overlap_ms < 0:
            raise ValueError("overlap_ms must not be negative")
        self.default_floor = floor
        self.overlap_ms = overlap_ms
        self._conversations: dict[str, _Conversation] = {}

    def __len__(self) -> int:
        return len(self._conversations)

    def knows(self, conversation_id: str) -> bool:
        """Whether the conversation has a floor or a message here."""
        return conversation_id in self._conversations

    def start_at(self, conversation_id: str, floor: int | None) -> None:
        """Count everything up to ``floor`` as history, for a conversation met now.

        A conversation the ledger already knows keeps its own floor.
        """
        if conversation_id not in self._conversations:
            self._conversations[conversation_id] = _Conversation(floor)

    def newest(self, conversation_id: str) -> int | None:
        """The newest timestamp handed over (or the floor) in a conversation."""
        known = self._conversations.get(conversation_id)
        return known.newest if known is not None else None

    def is_new(self, message: Message) -> bool:
        """Whether ``message`` has not been handed over (nor is history)."""
        return self.is_new_id(message.conversation_id, message.id, epoch_ms(message.timestamp))

    def is_new_id(self, conversation_id: str, message_id: str, stamp: int) -> bool:
        """:meth:`is_new` for a message known by its id and timestamp (epoch ms)."""
        known = self._conversations.get(conversation_id)
        floor = known.floor if known is not None else self.default_floor
        if floor is not None and stamp <= floor:
            return False
        return known is None or message_id not in known.recent

    def accept(self, message: Message) -> bool:
        """Record ``message``; return whether it was new (hand it over then)."""
        if not self.is_new(message):
            return False
        conversation = self._conversations.get(message.conversation_id)
        if conversation is None:
            conversation = self._conversations[message.conversation_id] = _Conversation(
                self.default_floor
            )
        stamp = epoch_ms(message.timestamp)
        conversation.recent[message.id] = stamp
        if conversation.newest is None or stamp > conversation.newest:
            conversation.newest = stamp
            limit = stamp - self.overlap_ms
            if conversation.floor is None or limit > conversation.floor:
                conversation.floor = limit
                conversation.recent = {
                    key: value for key, value in conversation.recent.items() if value > limit
                }
        return True

    def forget_except(self, conversation_ids: Iterable[str]) -> None:
        """Forget every conversation not in ``conversation_ids`` (gone from the server)."""
        keep = set(conversation_ids)
        for conversation_id in [c for c in self._conversations if c not in keep]:
            del self._conversations[conversation_id]


def _in_order(messages: Iterable[Message]) -> list[Message]:
    return sorted(messages, key=lambda message: epoch_ms(message.timestamp))


ListConversations = Callable[[], Awaitable[list[Conversation]]]
"""``GET /api/admin/conversations``."""

FetchMessages = Callable[[str], Awaitable[list[Message]]]
"""``GET /api/conversations/{id}/messages``: every message of one conversation."""


def last_message(conversation: Conversation) -> tuple[str, int] | None:
    """The id and timestamp (epoch ms) of production's ``lastMessage``, if listed."""
    preview = conversation.last_message
    if preview is None:
        return None
    return preview.id, epoch_ms(preview.timestamp)


def _lists_last_message(conversation: Conversation) -> bool:
    """Whether the listing says what the last message is (production's does, even ``null``)."""
    return "last_message" in conversation.model_fields_set


def _is_unseen(ledger: MessageLedger, conversation: Conversation) -> bool:
    if not _lists_last_message(conversation):
        return True  # a listing without lastMessage (a contract server): read it to know
    last = last_message(conversation)
    return last is not None and ledger.is_new_id(conversation.id, *last)


async def replay_listing(
    ledger: MessageLedger,
    list_conversations: ListConversations,
    fetch: FetchMessages,
    *,
    starting: bool,
    senders: frozenset[Sender] = frozenset({Sender.VISITOR}),
) -> AsyncGenerator[Message, None]:
    """Yield the messages by ``senders`` the ledger has not seen, conversation by conversation.

    One listing, then one read per conversation whose last message is new
    (a conversation that lists none is not read; one listed without saying,
    as a contract server lists them, always is). ``starting``: the client has
    no position yet; every listed conversation starts at its last message and
    nothing is yielded. Conversations no longer listed are forgotten.
    """
    conversations = await list_conversations()
    if starting:
        for conversation in conversations:
            if _lists_last_message(conversation):
                last = last_message(conversation)
                floor = last[1] if last is not None else None
            else:
                messages = await fetch(conversation.id)
                floor = max((epoch_ms(m.timestamp) for m in messages), default=None)
            ledger.start_at(conversation.id, floor)
        return
    for conversation in conversations:
        if not _is_unseen(ledger, conversation):
            continue
        for message in _in_order(await fetch(conversation.id)):
            if ledger.accept(message) and message.sender in senders:
                yield message
    ledger.forget_except(c.id for c in conversations)


async def replay_conversation_by_id(
    ledger: MessageLedger,
    conversation_id: str,
    fetch: FetchMessages,
    *,
    starting: bool,
    senders: frozenset[Sender] = frozenset({Sender.AGENT}),
) -> AsyncGenerator[Message, None]:
    """Yield one conversation's messages by ``senders`` the ledger has not seen, in time order.

    Every fetched message is recorded (the customer's own too). ``starting``:
    no position yet; the conversation starts at its last message and nothing
    is yielded.
    """
    messages = _in_order(await fetch(conversation_id))
    if starting:
        ledger.start_at(conversation_id, epoch_ms(messages[-1].timestamp) if messages else None)
        return
    for message in messages:
        if ledger.accept(message) and message.sender in senders:
            yield message
