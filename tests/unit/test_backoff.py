"""The reconnection schedule: exponential backoff with full jitter, capped."""

from __future__ import annotations

import statistics

import pytest

from vilnius_client._retry import Backoff


def draws(backoff: Backoff, failures: int, n: int = 400) -> list[float]:
    backoff.failures = failures
    return [backoff.next_delay() for _ in range(n)]


def test_no_failure_means_no_wait() -> None:
    assert Backoff(1.0, 30.0).next_delay() == 0.0


@pytest.mark.parametrize("failures", [1, 2, 3, 4, 5])
def test_each_delay_is_within_the_exponential_bound(failures: int) -> None:
    bound = 0.5 * 2 ** (failures - 1)
    delays = draws(Backoff(0.5, 100.0), failures)
    assert all(0.0 <= d <= bound for d in delays)
    # Full jitter: the draws use the whole range, not only its top.
    assert min(delays) < 0.2 * bound
    assert max(delays) > 0.8 * bound


def test_delays_are_capped() -> None:
    delays = draws(Backoff(1.0, 5.0), failures=30)
    assert max(delays) <= 5.0
    assert max(delays) > 4.0


def test_jitter_spreads_a_crowd() -> None:
    delays = draws(Backoff(1.0, 30.0), failures=4, n=1000)  # U(0, 8)
    assert statistics.mean(delays) == pytest.approx(4.0, abs=0.5)
    assert statistics.pstdev(delays) == pytest.approx(8 / 12**0.5, abs=0.4)
    assert len({round(d, 3) for d in delays}) > 900


def test_schedule_grows_then_saturates_and_restores_the_counter() -> None:
    backoff = Backoff(1.0, 8.0)
    backoff.failures = 2
    samples = [list(backoff.schedule(8)) for _ in range(200)]
    assert backoff.failures == 2
    bounds = [1, 2, 4, 8, 8, 8, 8, 8]
    for n, bound in enumerate(bounds):
        column = [s[n] for s in samples]
        assert max(column) <= bound
        assert max(column) > 0.7 * bound


def test_failures_reset_and_limit() -> None:
    backoff = Backoff(1.0, 8.0, limit=2)
    for _ in range(2):
        backoff.fail()
        assert not backoff.exhausted
    backoff.fail()
    assert backoff.exhausted
    backoff.reset()
    assert backoff.failures == 0
    assert not backoff.exhausted
    assert not Backoff(1.0, 8.0, limit=None).exhausted
