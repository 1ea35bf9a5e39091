"""Reply bookkeeping for a bot under test (``--bot external``): no I/O.

The bot is not ours, so its answers carry no tag to match: a customer message is answered by
the first agent reply in its conversation that arrives after it. A reply answers every
message of its conversation still waiting (a bot may answer two quick messages at once); a
further reply before the customer's next message makes that message *answered twice*. A
message whose first reply comes after the deadline is *unanswered* (and counted *late* when
the reply does come). The simulated customers wait for the answer (or the deadline) before
writing again, so replies never have to be guessed between two messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .histogram import LatencyHistogram

__all__ = ["ReplyCounts", "ReplyTracker"]


@dataclass
class ReplyCounts:
    """What the bot did with the customers' messages.

    Attributes:
        sent: Customer messages sent (and not refused).
        answered: Messages answered within the deadline.
        unanswered: Messages without a reply within the deadline (``late`` among them).
        late: Unanswered messages whose reply came after the deadline.
        twice: Messages answered by more than one reply.
        duplicates: Replies delivered more than once (the same message id again).
        unsolicited: Replies in a conversation before its first message (a greeting).
        latency: Seconds from each answered message to its first reply.
        recent: The same, since the last `ReplyTracker.take_recent` (the time series).
    """

    sent: int = 0
    answered: int = 0
    unanswered: int = 0
    late: int = 0
    twice: int = 0
    duplicates: int = 0
    unsolicited: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    recent: LatencyHistogram = field(default_factory=lambda: LatencyHistogram(2))


@dataclass
class _Conversation:
    waiting: list[float] = field(default_factory=list)  # send times of unanswered messages
    answered: bool = False  # its latest message has had a reply
    counted_twice: bool = False  # ... and was already counted as answered twice
    reply_ids: set[str] = field(default_factory=set)


class ReplyTracker:
    """Matches agent replies to customer messages, per conversation.

    Args:
        deadline: Seconds a reply may take for its message to count as answered.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.counts = ReplyCounts()
        self._conversations: dict[str, _Conversation] = {}

    def sent(self, conversation: str, at: float) -> None:
        """A customer message was sent in ``conversation`` at ``at`` (call it before the
        send, since the reply may overtake the send's own answer)."""
        talk = self._conversations.setdefault(conversation, _Conversation())
        talk.waiting.append(at)
        talk.answered = talk.counted_twice = False
        self.counts.sent += 1

    def withdraw(self, conversation: str, at: float) -> None:
        """The send made at ``at`` failed: it expects no reply."""
        talk = self._conversations.get(conversation)
        if talk is not None and at in talk.waiting:
            talk.waiting.remove(at)
            self.counts.sent -= 1

    def replied(self, conversation: str, message_id: str, at: float) -> bool:
        """An agent reply ``message_id`` arrived in ``conversation`` at ``at``.

        Returns:
            True when it answered at least one waiting message (within the deadline or late).
        """
        counts = self.counts
        talk = self._conversations.setdefault(conversation, _Conversation())
        if message_id in talk.reply_ids:
            counts.duplicates += 1
            return False
        talk.reply_ids.add(message_id)
        if not talk.waiting:
            if talk.answered and not talk.counted_twice:
                counts.twice += 1
                talk.counted_twice = True
            elif not talk.answered:
                counts.unsolicited += 1
            return False
        for sent_at in talk.waiting:
            took = max(0.0, at - sent_at)
            if took <= self.deadline:
                counts.answered += 1
                counts.latency.record(took)
                counts.recent.record(took)
            else:
                counts.unanswered += 1
                counts.late += 1
        talk.waiting.clear()
        talk.answered = True
        return True

    def take_recent(self) -> LatencyHistogram:
        """The latencies recorded since the last call (then start afresh)."""
        taken, self.counts.recent = self.counts.recent, self.counts.recent.copy_empty()
        return taken

    def outstanding(self, now: float) -> int:
        """Messages still waiting for a reply whose deadline has not passed."""
        return sum(
            1
            for talk in self._conversations.values()
            for sent_at in talk.waiting
            if now - sent_at <= self.deadline
        )

    def waiting(self) -> int:
        """Messages still waiting for a reply, deadline passed or not."""
        return sum(len(talk.waiting) for talk in self._conversations.values())

    def close(self) -> ReplyCounts:
        """End of the run: every message still waiting is unanswered. Returns the counts."""
        for talk in self._conversations.values():
            self.counts.unanswered += len(talk.waiting)
            talk.waiting.clear()
        return self.counts
