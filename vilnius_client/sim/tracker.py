"""Delivery bookkeeping for the simulator: what was sent, to whom, and what arrived (no I/O).

Every tracked send names the recipients expected to receive it; every receipt names the
recipient. From that the tracker derives, per event type, what was delivered, lost and
duplicated, and the latency of each first delivery (counted in histograms: memory does not
grow with the number of deliveries).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from .histogram import LatencyHistogram

__all__ = ["GATING", "KINDS", "KindStats", "Tracker"]

#: Event types the simulator reports, in report order.
KINDS = ("new-message", "agent-message", "customer-typing-status", "agent-typing-status")

#: Event types whose loss or duplication fails a run. Typing indicators are volatile by
#: contract (at-most-once, dropped while disconnected), so they are reported, not gated.
GATING = frozenset({"new-message", "agent-message"})


@dataclass
class _Sent:
    at: float
    waiting: set[str]
    received: set[str] = field(default_factory=set)


@dataclass
class KindStats:
    """Counters of one event type.

    Attributes:
        sent: Tracked sends.
        expected: Deliveries expected (sends x their recipients).
        delivered: Distinct (send, recipient) pairs that arrived.
        duplicated: Receipts beyond the first of a (send, recipient) pair.
        unexpected: Receipts of unknown sends, or by recipients not expected.
        errors: Sends that failed.
        warmup: Deliveries of sends made during the ramp-up (``Tracker.warmup_until``):
            counted as delivered, kept out of ``latency``.
        latency: Seconds from send to first receipt of every other delivery.
        recent: Latencies of every delivery since the last `Tracker.take_recent` (warm-up
            included), for the time series.
    """

    sent: int = 0
    expected: int = 0
    delivered: int = 0
    duplicated: int = 0
    unexpected: int = 0
    errors: int = 0
    warmup: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    recent: LatencyHistogram = field(default_factory=lambda: LatencyHistogram(2))

    @property
    def lost(self) -> int:
        """Expected deliveries that never arrived."""
        return self.expected - self.delivered


class Tracker:
    """Matches receipts to sends.

    Attributes:
        warmup_until: Sends made before this clock value are warm-up: their deliveries are
            counted but their latencies kept out of the figures (``math.inf`` while the
            ramp-up lasts; ``-math.inf``, the default, when there is none).
    """

    def __init__(self) -> None:
        self.warmup_until = -math.inf
        self.stats: dict[str, KindStats] = {kind: KindStats() for kind in KINDS}
        self._sent: dict[tuple[str, str], _Sent] = {}
        self._ordinals: dict[tuple[str, str, str], int] = {}

    def expect(self, kind: str, key: str, recipients: Iterable[str], at: float) -> None:
        """Record a send of ``kind`` identified by ``key`` that ``recipients`` should get."""
        waiting = set(recipients)
        stats = self.stats[kind]
        stats.sent += 1
        stats.expected += len(waiting)
        self._sent[(kind, key)] = _Sent(at, waiting)

    def cancel(self, kind: str, key: str) -> None:
        """Count a failed send: it is no longer expected anywhere."""
        sent = self._sent.pop((kind, key), None)
        stats = self.stats[kind]
        stats.errors += 1
        if sent is not None:
            stats.sent -= 1
            stats.expected -= len(sent.waiting) + len(sent.received)
            stats.delivered -= len(sent.received)

    def received(self, kind: str, key: str, recipient: str, at: float) -> None:
        """Record that ``recipient`` got the send ``key`` of ``kind`` at time ``at``."""
        stats = self.stats[kind]
        sent = self._sent.get((kind, key))
        if sent is None:
            stats.unexpected += 1
        elif recipient in sent.waiting:
            sent.waiting.discard(recipient)
            sent.received.add(recipient)
            stats.delivered += 1
            latency = max(0.0, at - sent.at)
            stats.recent.record(latency)
            if sent.at < self.warmup_until:
                stats.warmup += 1
            else:
                stats.latency.record(latency)
        elif recipient in sent.received:
            stats.duplicated += 1
        else:
            stats.unexpected += 1

    def take_recent(self) -> dict[str, LatencyHistogram]:
        """The latencies recorded per event type since the last call (then start afresh)."""
        taken = {}
        for kind, stats in self.stats.items():
            taken[kind], stats.recent = stats.recent, stats.recent.copy_empty()
        return taken

    def next_ordinal(self, kind: str, party: str, stream: str) -> str:
        """Key for events without an id (typing): the n-th of ``stream`` seen by ``party``."""
        slot = (kind, party, stream)
        n = self._ordinals.get(slot, 0)
        self._ordinals[slot] = n + 1
        return f"{stream}#{n}"

    def resync(self, kind: str, party: str, stream: str) -> None:
        """Align ``party``'s ordinal of ``stream`` with the sender's (after ``party`` was away,
        so that what it missed does not shift the matching of what follows)."""
        self._ordinals[(kind, party, stream)] = self._ordinals.get((kind, "sender", stream), 0)

    def pending(self, kinds: Iterable[str] = GATING) -> int:
        """Deliveries of ``kinds`` still awaited."""
        wanted = set(kinds)
        return sum(len(s.waiting) for (kind, _), s in self._sent.items() if kind in wanted)

    @property
    def failed(self) -> bool:
        """True when a gating event type lost or duplicated a delivery."""
        return any(self.stats[k].lost > 0 or self.stats[k].duplicated > 0 for k in GATING)
