"""A scripted message history for the recovery tests (test_recovery, test_connection):
``GET /api/messages`` over a list a test grows, its messages and events, and a
`Recovery` of ``new-message`` over it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from vilnius_client._dispatch import Dispatcher
from vilnius_client._recovery import Path, Recovery, replay_all
from vilnius_client._trackers import SeqTracker
from vilnius_client.errors import InternalServerError
from vilnius_client.events import AllMessagesResponse, Event, Message, NewMessageEvent, Sender

__all__ = ["LOG", "T0", "History", "live", "message_recovery", "msg", "replayed"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LOG = logging.getLogger("test.recovery")


def msg(seq: int, *, sender: Sender = Sender.VISITOR, conversation: str = "c1") -> Message:
    return Message(
        id=f"m{seq}",
        conversation_id=conversation,
        content=f"text {seq}",
        sender=sender,
        timestamp=T0 + timedelta(milliseconds=seq),
        seq=seq,
    )


def live(seq: int, conversation: str = "c1") -> NewMessageEvent:
    m = msg(seq, conversation=conversation)
    return NewMessageEvent(conversation_id=conversation, message=m, timestamp=m.timestamp)


def replayed(m: Message) -> NewMessageEvent:
    return NewMessageEvent(
        conversation_id=m.conversation_id, message=m, timestamp=m.timestamp, replayed=True
    )


class History:
    """``GET /api/messages`` over a list a test grows; can fail its next calls."""

    def __init__(self, seqs: list[int] | None = None) -> None:
        self.messages = [msg(seq) for seq in seqs or []]
        self.calls: list[tuple[int, int]] = []
        self.failures = 0

    def store(self, *seqs: int, conversation: str = "c1") -> None:
        self.messages += [msg(seq, conversation=conversation) for seq in seqs]

    async def __call__(self, after: int, limit: int) -> AllMessagesResponse:
        self.calls.append((after, limit))
        if self.failures:
            self.failures -= 1
            raise InternalServerError("unavailable", status=503)
        page = sorted((m for m in self.messages if (m.seq or 0) > after), key=lambda m: m.seq)
        head = max((m.seq or 0 for m in self.messages), default=0)
        return AllMessagesResponse(messages=page[:limit], last_seq=head)


def message_recovery(
    dispatcher: Dispatcher,
    history: History,
    tracker: SeqTracker,
    report: Callable[[BaseException], None],
) -> Recovery[NewMessageEvent]:
    """A Recovery of ``new-message`` over ``history`` from ``tracker``'s position, its
    errors to ``report``."""
    recovery: Recovery[NewMessageEvent] = Recovery(
        dispatcher,
        Event.NEW_MESSAGE,
        replayed=replayed,
        applies=lambda event: True,
        report=report,
        set_mode=lambda mode: None,
        fallback_after=None,
        poll_interval=0.01,
        logger=LOG,
    )
    recovery.path = Path(tracker, lambda starting: replay_all(tracker, history))
    return recovery
