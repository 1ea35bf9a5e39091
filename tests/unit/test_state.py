"""The connection state machine and the circuit breaker (pure, no I/O)."""

from __future__ import annotations

import pytest

from vilnius_client._retry import CircuitBreaker
from vilnius_client._state import TRANSITIONS, ConnectionChange, ConnectionState, StateMachine
from vilnius_client.errors import StateError

S = ConnectionState


def test_starts_disconnected_and_reports_changes_with_reasons() -> None:
    machine = StateMachine()
    assert machine.state is S.DISCONNECTED
    assert machine.transition(S.CONNECTING, "connect() called") == ConnectionChange(
        S.DISCONNECTED, S.CONNECTING, "connect() called"
    )
    assert machine.transition(S.CONNECTED, "connected") == ConnectionChange(
        S.CONNECTING, S.CONNECTED, "connected"
    )
    assert machine.state.value == "connected"


def test_same_state_is_not_a_change() -> None:
    machine = StateMachine(S.CONNECTING)
    assert machine.transition(S.CONNECTING, "retry") is None


@pytest.mark.parametrize(
    "path",
    [
        [S.CONNECTING, S.CONNECTED, S.RECONNECTING, S.CONNECTED, S.CLOSED],
        [S.CONNECTING, S.CIRCUIT_OPEN, S.CONNECTING, S.CONNECTED],
        [S.CONNECTING, S.CONNECTED, S.RECONNECTING, S.CIRCUIT_OPEN, S.RECONNECTING, S.CONNECTED],
        [S.CONNECTING, S.DISCONNECTED, S.CONNECTING, S.CONNECTED],
        [S.CONNECTING, S.CONNECTED, S.RECONNECTING, S.DISCONNECTED, S.CLOSED],
        [S.CLOSED],
    ],
)
def test_legal_paths(path: list[ConnectionState]) -> None:
    machine = StateMachine()
    for state in path:
        machine.transition(state, "test")
    assert machine.state is path[-1]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.DISCONNECTED, S.CONNECTED),
        (S.CONNECTED, S.CONNECTING),
        (S.CLOSED, S.CONNECTING),
        (S.CLOSED, S.DISCONNECTED),
        (S.CIRCUIT_OPEN, S.CONNECTED),
    ],
)
def test_illegal_transitions_raise(old: ConnectionState, new: ConnectionState) -> None:
    machine = StateMachine(old)
    with pytest.raises(StateError):
        machine.transition(new, "test")
    assert machine.state is old


def test_closed_is_terminal_and_reachable_from_everywhere() -> None:
    assert TRANSITIONS[S.CLOSED] == frozenset()
    for state in S:
        if state is not S.CLOSED:
            assert S.CLOSED in TRANSITIONS[state]


def test_breaker_opens_after_max_errors() -> None:
    breaker = CircuitBreaker(max_errors=3, cooldown=5.0)
    assert not breaker.record_failure()
    assert not breaker.record_failure()
    assert breaker.record_failure()
    assert breaker.is_open


def test_failed_half_open_trial_reopens_at_once() -> None:
    breaker = CircuitBreaker(max_errors=3, cooldown=5.0)
    for _ in range(3):
        breaker.record_failure()
    breaker.trial()
    assert not breaker.is_open
    assert breaker.half_open
    assert breaker.record_failure()


def test_success_closes_and_resets() -> None:
    breaker = CircuitBreaker(max_errors=2, cooldown=5.0)
    breaker.record_failure()
    breaker.record_failure()
    breaker.trial()
    breaker.record_success()
    assert not breaker.is_open
    assert breaker.failures == 0
    assert not breaker.record_failure()


def test_breaker_needs_a_positive_threshold() -> None:
    with pytest.raises(ValueError, match="max_errors"):
        CircuitBreaker(max_errors=0, cooldown=1.0)
