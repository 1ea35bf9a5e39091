"""The simulator's delivery bookkeeping, without sockets."""

from __future__ import annotations

import math

import pytest

from vilnius_client.sim.histogram import LatencyHistogram
from vilnius_client.sim.tracker import Tracker


def test_counts_delivered_lost_and_duplicated() -> None:
    tracker = Tracker()
    tracker.expect("new-message", "a", ["agent-1", "agent-2"], at=1.0)
    tracker.received("new-message", "a", "agent-1", at=1.25)
    tracker.received("new-message", "a", "agent-1", at=1.5)
    tracker.received("new-message", "zzz", "agent-1", at=1.5)

    stats = tracker.stats["new-message"]
    assert (stats.sent, stats.expected, stats.delivered) == (1, 2, 1)
    assert (stats.lost, stats.duplicated, stats.unexpected) == (1, 1, 1)
    assert stats.latency.count == 1
    assert stats.latency.percentile(50) == pytest.approx(0.25, rel=1e-3)
    assert tracker.pending() == 1
    assert tracker.failed


def test_cancelled_send_is_an_error_not_a_loss() -> None:
    tracker = Tracker()
    tracker.expect("agent-message", "a", ["customer"], at=0.0)
    tracker.cancel("agent-message", "a")

    stats = tracker.stats["agent-message"]
    assert (stats.sent, stats.expected, stats.lost, stats.errors) == (0, 0, 0, 1)
    assert not tracker.failed


def test_typing_loss_does_not_fail_the_run() -> None:
    tracker = Tracker()
    key = tracker.next_ordinal("customer-typing-status", "sender", "c1")
    tracker.expect("customer-typing-status", key, ["agent-1"], at=0.0)

    assert tracker.stats["customer-typing-status"].lost == 1
    assert not tracker.failed


def test_ordinals_match_nth_send_to_nth_receipt_and_resync_after_absence() -> None:
    tracker = Tracker()
    for at in (0.0, 1.0, 2.0):
        key = tracker.next_ordinal("agent-typing-status", "sender", "c1")
        tracker.expect("agent-typing-status", key, ["customer"], at=at)
    # The customer gets the first, misses the second while away, then resyncs.
    tracker.received(
        "agent-typing-status",
        tracker.next_ordinal("agent-typing-status", "customer", "c1"),
        "customer",
        at=0.1,
    )
    tracker.resync("agent-typing-status", "customer", "c1")
    key = tracker.next_ordinal("agent-typing-status", "sender", "c1")
    tracker.expect("agent-typing-status", key, ["customer"], at=3.0)
    tracker.received(
        "agent-typing-status",
        tracker.next_ordinal("agent-typing-status", "customer", "c1"),
        "customer",
        at=3.2,
    )

    stats = tracker.stats["agent-typing-status"]
    assert stats.delivered == 2
    assert stats.latency.count == 2
    assert stats.latency.min == pytest.approx(0.1, rel=1e-3)
    assert stats.latency.max == pytest.approx(0.2, rel=1e-3)


def test_warmup_deliveries_count_but_stay_out_of_the_latency() -> None:
    tracker = Tracker()
    tracker.warmup_until = math.inf  # ramping up
    tracker.expect("new-message", "early", ["agent-1"], at=0.0)
    tracker.warmup_until = 1.0  # the ramp-up ended at 1.0
    tracker.expect("new-message", "late", ["agent-1"], at=1.5)
    tracker.received("new-message", "early", "agent-1", at=2.0)  # 2 s, sent while ramping
    tracker.received("new-message", "late", "agent-1", at=1.6)

    stats = tracker.stats["new-message"]
    assert (stats.delivered, stats.warmup, stats.latency.count) == (2, 1, 1)
    assert stats.latency.max == pytest.approx(0.1, rel=1e-3)
    # The time series sees both, then starts afresh.
    recent = tracker.take_recent()["new-message"]
    assert recent.count == 2
    assert recent.max == pytest.approx(2.0, rel=1e-2)
    assert tracker.take_recent()["new-message"].count == 0


def test_histogram_memory_does_not_grow_with_samples() -> None:
    histogram = LatencyHistogram()
    size = len(histogram._h.counts)
    for i in range(1, 20_001):
        histogram.record(i / 10_000)  # 0.1 ms .. 2 s

    assert histogram.count == 20_000
    assert len(histogram._h.counts) == size
    assert histogram.percentile(50) == pytest.approx(1.0, rel=1e-3)
    assert histogram.percentile(99) == pytest.approx(1.98, rel=1e-3)
    assert math.isnan(LatencyHistogram().percentile(99))
