"""Recovery on a server without ``seq`` (production): de-duplication by message id.

Production has no ``seq`` and no ``GET /api/messages?after=``; what a client
missed while disconnected is read back from what it does have:

* agents: ``GET /api/admin/conversations`` lists every conversation with its
  ``lastMessage``; each conversation whose last message is new to the client
  is read with ``GET /api/conversations/{id}/messages`` (`replay_listing`);
* customers: their conversation's ``GET /api/conversations/{id}/messages``
  (`replay_conversation_by_id`).

`MessageLedger` remembers, per conversation, the messages handed over:
a *floor* (the server timestamp at or before which a message counts as handed
over, or as history) plus the ids of those at the newest timestamp. Only the
messages a client is handed are recorded (an agent's: visitor messages; a
customer's: agents' replies); they come from one side of the conversation, one
after another, so a message older than the newest one handed over was either
handed over or never meant for the client. The floor therefore follows the
newest message (``overlap``, 1 ms by default, keeps the ids of messages stored
within the same millisecond apart), and memory is a few ids per conversation.

Decisions:

* Timestamps are the server's (epoch milliseconds): the client's clock is never
  compared with them.
* Agents get back what production would have sent them live: visitor
  messages written in ``hitl`` (``new-message`` goes out for nothing else).
  A visitor message the autopilot answered (its reply's metadata says
  ``isAutopilotResponse``) was never announced and is not replayed. One written
  in ``off`` mode leaves no trace of the mode in production's history: after
  an outage in ``off`` it is replayed.
* Customers get back agents' replies (``agent-message``); their own messages
  and the server's system messages are not handed to them.
* A client without a position starts at the end: an agent at the last message
  of every conversation listed when it first connects, a customer given an
  existing conversation at its last message. History is not replayed.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Literal

from .events import Conversation, Message, Sender

__all__ = [
    "DEFAULT_OVERLAP_MS",
    "ConversationRecovery",
    "ListingRecovery",
    "MessageLedger",
    "epoch_ms",
    "from_epoch_ms",
    "replay_conversation_by_id",
    "replay_listing",
]

DEFAULT_OVERLAP_MS = 1
"""How far (ms) the floor trails a conversation's newest message handed over."""


def epoch_ms(moment: datetime) -> int:
    """A timestamp as integer epoch milliseconds (what servers store)."""
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


class _Conversation:
    __slots__ = ("floor", "listed", "newest", "recent")

    def __init__(self, floor: int | None) -> None:
        self.floor = floor
        self.newest = floor
        self.recent: dict[str, int] = {}
        self.listed: str | None = None  # the last message id a listing showed, once read


class MessageLedger:
    """Which seq-less messages were handed over, per conversation.

    Args:
        floor: The floor of conversations the ledger meets for the first time:
            ``None`` (everything in them is new), or epoch ms (a resume position).
        overlap_ms: How far the floor trails each conversation's newest message.
    """

    def __init__(self, *, floor: int | None = None, overlap_ms: int = DEFAULT_OVERLAP_MS) -> None:
        if overlap_ms < 1:
            raise ValueError("overlap_ms must be at least 1")
        self.default_floor = floor
        self.overlap_ms = overlap_ms
        self._conversations: dict[str, _Conversation] = {}

    def __len__(self) -> int:
        return len(self._conversations)

    def _get(self, conversation_id: str) -> _Conversation:
        known = self._conversations.get(conversation_id)
        if known is None:
            known = self._conversations[conversation_id] = _Conversation(self.default_floor)
        return known

    def start_at(self, conversation_id: str, floor: int | None) -> None:
        """Count everything up to ``floor`` as history, for a conversation met now.

        A conversation the ledger already knows keeps its own floor.
        """
        if conversation_id not in self._conversations:
            self._conversations[conversation_id] = _Conversation(floor)

    def newest(self, conversation_id: str) -> int | None:
        """The newest timestamp handed over (or the floor) in a conversation."""
        known = self._conversations.get(conversation_id)
        return known.newest if known is not None else self.default_floor

    def is_new(self, message: Message) -> bool:
        """Whether ``message`` has not been handed over (nor is history)."""
        return self.is_new_id(message.conversation_id, message.id, epoch_ms(message.timestamp))

    def is_new_id(self, conversation_id: str, message_id: str, stamp: int) -> bool:
        """`is_new` for a message known by its id and timestamp (epoch ms)."""
        known = self._conversations.get(conversation_id)
        floor = known.floor if known is not None else self.default_floor
        if floor is not None and stamp <= floor:
            return False
        return known is None or message_id not in known.recent

    def accept(self, message: Message) -> bool:
        """Record ``message``; return whether it was new (hand it over then)."""
        if not self.is_new(message):
            return False
        conversation = self._get(message.conversation_id)
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

    def listed_last(self, conversation_id: str) -> str | None:
        """The last message id a listing showed for the conversation when it was last read."""
        known = self._conversations.get(conversation_id)
        return known.listed if known is not None else None

    def read_up_to(self, conversation_id: str, message_id: str | None) -> None:
        """Note that the conversation was read while a listing showed ``message_id`` last."""
        self._get(conversation_id).listed = message_id

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


def _lists_last_message(conversation: Conversation) -> bool:
    """Whether the listing says what the last message is (production's does, even ``null``)."""
    return "last_message" in conversation.model_fields_set


def _needs_reading(
    ledger: MessageLedger, conversation: Conversation, senders: frozenset[Sender]
) -> bool:
    if not _lists_last_message(conversation):
        return True  # a listing without lastMessage (a contract server): read it to know
    preview = conversation.last_message
    if preview is None or preview.id == ledger.listed_last(conversation.id):
        return False
    if preview.sender in senders:
        return ledger.is_new_id(conversation.id, preview.id, epoch_ms(preview.timestamp))
    return True  # someone else wrote last: read to see what came before it


def _is_autopilot_reply(message: Message) -> bool:
    return message.sender is Sender.AGENT and bool(
        (message.metadata or {}).get("isAutopilotResponse")
    )


def _unannounced(messages: list[Message]) -> set[str]:
    """Ids of the visitor messages the autopilot answered (production announced none)."""
    return {
        message.id
        for message, following in itertools.pairwise(messages)
        if message.sender is Sender.VISITOR and _is_autopilot_reply(following)
    }


async def replay_listing(
    ledger: MessageLedger,
    list_conversations: ListConversations,
    fetch: FetchMessages,
    *,
    starting: bool,
    senders: frozenset[Sender] = frozenset({Sender.VISITOR}),
) -> AsyncGenerator[Message, None]:
    """Yield the messages by ``senders`` the ledger has not seen, conversation by conversation.

    One listing, then one read per conversation whose last message is new (a
    conversation that lists none is not read; one listed without saying, as a
    contract server lists them, always is). ``starting``: the client has no
    position yet; every listed conversation starts at its last message and
    nothing is yielded. Conversations no longer listed are forgotten.
    """
    conversations = await list_conversations()
    if starting:
        for conversation in conversations:
            if _lists_last_message(conversation):
                last = conversation.last_message
                ledger.start_at(conversation.id, epoch_ms(last.timestamp) if last else None)
                ledger.read_up_to(conversation.id, last.id if last else None)
            else:
                messages = await fetch(conversation.id)
                floor = max((epoch_ms(m.timestamp) for m in messages), default=None)
                ledger.start_at(conversation.id, floor)
        return
    for conversation in conversations:
        if not _needs_reading(ledger, conversation, senders):
            continue
        messages = _in_order(await fetch(conversation.id))
        skipped = _unannounced(messages)
        for message in messages:
            if message.sender in senders and ledger.accept(message) and message.id not in skipped:
                yield message
        last = conversation.last_message
        ledger.read_up_to(conversation.id, last.id if last else None)
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

    ``starting``: no position yet; the conversation starts at its last message
    and nothing is yielded.
    """
    messages = _in_order(await fetch(conversation_id))
    if starting:
        ledger.start_at(conversation_id, epoch_ms(messages[-1].timestamp) if messages else None)
        return
    for message in messages:
        if message.sender in senders and ledger.accept(message):
            yield message


class _RecoveryById:
    """What both clients' recovery without seq share: the ledger, and the catch-up's start.

    A subclass sets ``ledger``, ``senders`` and ``_started`` and says how to
    replay (`_replay`).
    """

    ledger: MessageLedger
    senders: frozenset[Sender]
    _started: bool

    def admit(self, message: Message) -> Literal["new", "seen"]:
        """A live message: ``new`` (recorded: hand it over) or ``seen``.

        Messages by others than ``senders`` are not tracked: always ``new``.
        """
        new = message.sender not in self.senders or self.ledger.accept(message)
        return "new" if new else "seen"

    def key(self, message: Message) -> int | None:
        """A message's position: its server timestamp, in epoch ms."""
        return epoch_ms(message.timestamp)

    async def missed(self) -> AsyncGenerator[Message, None]:
        """The messages missed since the last call (none the first time without a position)."""
        async with contextlib.aclosing(self._replay(starting=not self._started)) as replay:
            async for message in replay:
                yield message
        self._started = True

    def _replay(self, *, starting: bool) -> AsyncGenerator[Message, None]:
        raise NotImplementedError


class ListingRecovery(_RecoveryById):
    """An agent's recovery without seq: what it was handed, and what it missed.

    Args:
        list_conversations: ``GET /api/admin/conversations``.
        fetch: ``GET /api/conversations/{id}/messages``.
        senders: Whose messages the agent is handed (production: visitors').
    """

    def __init__(
        self,
        list_conversations: ListConversations,
        fetch: FetchMessages,
        *,
        senders: frozenset[Sender] = frozenset({Sender.VISITOR}),
    ) -> None:
        self.ledger = MessageLedger()
        self.senders = senders
        self._list = list_conversations
        self._fetch = fetch
        self._started = False

    @property
    def position(self) -> int | None:
        """None: across every conversation, there is no one position to resume from."""
        return None

    def _replay(self, *, starting: bool) -> AsyncGenerator[Message, None]:
        return replay_listing(
            self.ledger, self._list, self._fetch, starting=starting, senders=self.senders
        )


class ConversationRecovery(_RecoveryById):
    """A customer's recovery without seq, in its one conversation.

    Args:
        conversation_id: The conversation.
        fetch: ``GET /api/conversations/{id}/messages``.
        position: Where to resume (epoch ms of the newest reply handed over, or
            just before the conversation began for one the client created), or
            ``None``: at the end of the conversation.
        senders: Whose messages the customer is handed (agents').
    """

    def __init__(
        self,
        conversation_id: str,
        fetch: FetchMessages,
        *,
        position: int | None,
        senders: frozenset[Sender] = frozenset({Sender.AGENT}),
    ) -> None:
        self.conversation_id = conversation_id
        self.ledger = MessageLedger(floor=position)
        self.senders = senders
        self._fetch = fetch
        self._started = position is not None

    def took(self, reply: Message) -> bool:
        """A reply that came in a REST answer: whether to hand it over (recorded if so)."""
        return reply.sender in self.senders and self.ledger.accept(reply)

    @property
    def position(self) -> int | None:
        """The server timestamp (epoch ms) of the newest reply handed over."""
        return self.ledger.newest(self.conversation_id)

    def _replay(self, *, starting: bool) -> AsyncGenerator[Message, None]:
        return replay_conversation_by_id(
            self.ledger, self.conversation_id, self._fetch, starting=starting, senders=self.senders
        )
