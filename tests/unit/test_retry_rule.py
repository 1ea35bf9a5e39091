"""One retry rule: `temporary`, `may_have_acted` and `is_retryable` agree, by status and code."""

from __future__ import annotations

import pytest

from vilnius_client import (
    AuthError,
    ConnectionLostError,
    ForbiddenError,
    InternalServerError,
    InvalidPayloadError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from vilnius_client._retry import full_jitter, is_retryable
from vilnius_client._transport import refusal_error
from vilnius_client.errors import error_from_code


@pytest.mark.parametrize(
    ("status", "temporary", "acted"),
    [
        (400, False, False),
        (401, False, False),
        (404, False, False),
        (408, True, False),
        (409, False, False),
        (429, True, False),
        (500, True, True),
        (501, False, True),
        (502, True, True),
        (503, True, True),
        (504, True, True),
        (505, False, True),
    ],
)
def test_an_http_answer_is_judged_by_its_status(status: int, temporary: bool, acted: bool) -> None:
    error = error_from_code(None, "whatever the words", status=status)
    assert error.temporary is temporary
    assert error.may_have_acted is acted
    assert is_retryable(error) is temporary  # a read, a keyed send
    assert is_retryable(error, idempotent=False) is (temporary and not acted)


def test_a_5xx_is_an_internal_server_error_whether_or_not_it_may_pass() -> None:
    assert isinstance(error_from_code(None, "x", status=500), InternalServerError)
    assert isinstance(error_from_code(None, "x", status=501), InternalServerError)
    assert not error_from_code(None, "x", status=501).temporary


def test_the_code_picks_the_class_and_the_status_the_verdict() -> None:
    error = error_from_code("rate_limited", "slow down", status=429, retry_after=2.0)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 2.0
    assert error.temporary


@pytest.mark.parametrize(
    ("code", "temporary"),
    [("rate_limited", True), ("internal", True), ("not_found", False), ("forbidden", False)],
)
def test_an_answer_without_status_is_judged_by_its_code(code: str, temporary: bool) -> None:
    error = error_from_code(code, "from a socket")
    assert error.status is None
    assert error.temporary is temporary
    assert error.may_have_acted is None


def test_transport_failures_are_temporary_and_retried_when_they_surely_did_not_act() -> None:
    lost = ConnectionLostError("dropped")
    assert lost.temporary
    assert is_retryable(lost)
    assert not is_retryable(lost, idempotent=False)  # may have acted: unknown
    unsent = TransportError("refused")
    unsent.may_have_acted = False
    assert is_retryable(unsent, idempotent=False)


def test_only_the_sdks_errors_are_retried() -> None:
    assert not is_retryable(TimeoutError())
    assert not is_retryable(ValueError("bug"))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"message": "no", "data": {"code": "unauthorized"}}, AuthError),
        ({"message": "no", "code": "forbidden"}, ForbiddenError),
        ({"message": "no", "data": {"code": "not_found"}}, NotFoundError),
        ({"message": "bad token"}, TransportError),  # words decide nothing
        ("Authentication error: invalid token", TransportError),
        ({"message": "x", "data": {"code": "invalid_payload"}}, InvalidPayloadError),
    ],
)
def test_a_connect_refusal_is_judged_by_its_code_only(payload: object, expected: type) -> None:
    error = refusal_error(payload)
    assert type(error) is expected
    assert "connection refused" in str(error)
    if isinstance(error, ServerError):
        assert error.status is None


def test_full_jitter_is_uniform_below_the_capped_exponential() -> None:
    assert full_jitter(0, 1.0, 30.0) == 0.0
    draws = [full_jitter(3, 0.5, 100.0) for _ in range(300)]
    assert all(0.0 <= d <= 2.0 for d in draws)
    assert min(draws) < 0.4 < 1.6 < max(draws)
    assert max(full_jitter(2000, 1.0, 5.0) for _ in range(50)) <= 5.0  # no overflow
