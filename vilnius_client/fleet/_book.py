"""Positions in one conversation, without I/O: what the fleet handled, what to store next.

A conversation's *position* is what the fleet stores in Redis for it: every message before
it, and those at it that it names, were handled by some replica. On a server with ``seq``
a place is a seq; without (production) the server's timestamp in epoch ms, so the position
also names the ids of the messages of its very millisecond that were handled (two messages
may share one).

A `Book` is kept by the replica that owns a conversation. It says whether a message was
handled already (covered by the position read from Redis when the conversation was claimed,
or handed over by this replica since), records what it hands over, and learns how each was
settled; the position it gives to store never passes a message handed over and not handled
(the rule of `vilnius_client._trackers`, per conversation, with its `Positions`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from .._trackers import Positions, epoch_ms
from ..events import Message

__all__ = ["RECENT_IDS", "Book", "Position", "just_before", "position_of"]

RECENT_IDS = 1_000
"""Ids of messages handed over that a book remembers (to tell a message met twice)."""


def position_of(message: Message) -> int:
    """A message's place in its conversation: its seq, or its timestamp in epoch ms."""
    return message.seq if message.seq is not None else epoch_ms(message.timestamp)


@dataclass(frozen=True)
class Position:
    """Every message before ``at``, and those at ``at`` whose id is in ``ids``, was handled.

    Attributes:
        at: A seq, or epoch milliseconds.
        ids: The ids of the messages handled at ``at`` exactly.
    """

    at: int
    ids: frozenset[str] = field(default_factory=frozenset)

    def covers(self, message: Message) -> bool:
        """Whether ``message`` counts as handled."""
        at = position_of(message)
        return at < self.at or (at == self.at and message.id in self.ids)

    def beyond(self, other: Position | None) -> bool:
        """Whether this position covers a message that ``other`` does not."""
        if other is None or self.at > other.at:
            return True
        return self.at == other.at and not self.ids <= other.ids

    def merge(self, other: Position | None) -> Position:
        """The further of two positions (the ids of both when they stand at one place)."""
        if other is None or other.at < self.at:
            return self
        if other.at > self.at:
            return other
        return Position(self.at, self.ids | other.ids)

    def lesser(self, other: Position | None) -> Position:
        """The nearer of two positions (where a catch-up finding both must start)."""
        if other is None or self.at < other.at:
            return self
        if other.at < self.at:
            return other
        return Position(self.at, self.ids & other.ids)


def just_before(message: Message) -> Position:
    """The position that covers everything before ``message`` and not ``message``."""
    return Position(position_of(message))


class Book:
    """An owned conversation's bookkeeping (see the module docstring).

    Args:
        floor: The position stored in Redis when the conversation was claimed (``None``:
            no replica handled any of it yet).
    """

    def __init__(self, floor: Position | None) -> None:
        self.floor = floor
        self._open = Positions()  # handed over and not handled yet, or dropped untaken
        self._recent: OrderedDict[str, None] = OrderedDict()  # handed over, not dropped
        self._high: int | None = None  # the furthest place handed over
        self._high_ids: set[str] = set()
        self._stored = floor

    def seen(self, message: Message) -> bool:
        """Whether ``message`` was handled, or handed over here, already."""
        if self.floor is not None and self.floor.covers(message):
            return True
        return message.id in self._recent

    def admit(self, message: Message) -> None:
        """``message`` is handed to the handlers now."""
        at = position_of(message)
        self._open.add(at)
        self._recent[message.id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        if self._high is None or at > self._high:
            self._high, self._high_ids = at, set()
        if at == self._high:
            self._high_ids.add(message.id)

    def settle(self, message: Message, handled: bool) -> Position | None:
        """``message`` was handled, or dropped untaken (to be handed over again).

        Returns:
            The position to store now, when it covers more than the one stored last.
        """
        at = position_of(message)
        self._open.settle(at, handled)
        if not handled:
            self._recent.pop(message.id, None)
            self._high_ids.discard(message.id)
        position = self.position
        if position is None or not position.beyond(self._stored):
            return None
        self._stored = position.merge(self._stored)
        return position

    def lift(self, floor: Position | None) -> None:
        """Redis says ``floor`` was handled (a claim read it): never go below it."""
        if floor is not None:
            self.floor = floor.merge(self.floor)
            self._stored = floor.merge(self._stored)

    @property
    def position(self) -> Position | None:
        """What may be stored: the furthest handled, capped before anything still open."""
        if self._high is None:
            return self.floor
        lowest = self._open.lowest
        if lowest is None:
            here = Position(self._high, frozenset(self._high_ids))
        else:
            here = Position(lowest)
        return here.merge(self.floor)

    @property
    def idle(self) -> bool:
        """Whether nothing handed over waits for its handlers (or was dropped untaken)."""
        return len(self._open) == 0
