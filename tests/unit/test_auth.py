"""UserSession and RefreshBudget without a server: when to refresh, when to log in again."""

from __future__ import annotations

from typing import Any, cast

import pytest

from vilnius_client import AuthError, Credentials, RateLimitedError, RestClient
from vilnius_client._auth import RefreshBudget, UserSession
from vilnius_client.events import LoginResponse, RefreshResponse


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeRest:
    """Answers login and refresh as production does; counts them; can refuse refreshes."""

    def __init__(self, expires_in: int = 900) -> None:
        self.expires_in = expires_in
        self.logins: list[str | None] = []
        self.refreshes: list[str] = []
        self.refuse_refresh: BaseException | None = None
        self._issued = 0

    def _pair(self) -> dict[str, Any]:
        self._issued += 1
        return {
            "accessToken": f"access-{self._issued}",
            "refreshToken": f"refresh-{self._issued}",
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
        }

    async def login(self, email: str, password: str, *, totp_code: str | None = None) -> Any:
        self.logins.append(totp_code)
        user = {"id": "3f1c6a64-6c1e-4d2a-9a57-5b2d6f0c9a11", "email": email}
        return LoginResponse.model_validate(
            {"success": True, "data": {"user": user, "tokens": self._pair()}}
        )

    async def refresh(self, refresh_token: str) -> Any:
        self.refreshes.append(refresh_token)
        if self.refuse_refresh is not None:
            raise self.refuse_refresh
        return RefreshResponse.model_validate({"success": True, "data": self._pair()})


def session(rest: FakeRest, clock: Clock, **kwargs: Any) -> UserSession:
    codes = iter(f"{n:06d}" for n in range(1, 100))
    credentials = Credentials("bot@example.com", "secret", totp=lambda: next(codes))
    return UserSession(cast(RestClient, rest), credentials, clock=clock, **kwargs)


async def test_logs_in_once_then_refreshes_shortly_before_expiry() -> None:
    rest, clock = FakeRest(expires_in=900), Clock()
    user = session(rest, clock)
    assert await user.login() == "3f1c6a64-6c1e-4d2a-9a57-5b2d6f0c9a11"
    assert await user.token() == "access-1"
    clock.now = 839.0  # a minute before expiry: still the same token
    assert await user.token() == "access-1"
    clock.now = 841.0
    assert await user.token() == "access-2"
    assert rest.refreshes == ["refresh-1"], "refreshed with the refresh token answered last"
    clock.now = 1700.0
    assert await user.token() == "access-3"
    assert rest.refreshes == ["refresh-1", "refresh-2"]
    assert rest.logins == ["000001"], "one login, with a fresh TOTP code"


async def test_a_refused_token_is_renewed_on_the_next_request() -> None:
    rest, clock = FakeRest(), Clock()
    user = session(rest, clock)
    await user.token()
    await user.invalidate()  # what a 401 does
    assert await user.token() == "access-2"
    assert len(rest.refreshes) == 1


@pytest.mark.parametrize(
    "refusal",
    [
        AuthError("Refresh token not found or revoked", status=401),
        RateLimitedError("Too many requests", retry_after=900, status=429),
    ],
)
async def test_a_refused_refresh_logs_in_again(refusal: BaseException) -> None:
    rest, clock = FakeRest(), Clock()
    user = session(rest, clock)
    await user.token()
    rest.refuse_refresh = refusal
    clock.now = 900.0
    assert await user.token() == "access-2"
    assert len(rest.logins) == 2
    assert rest.logins[1] == "000002", "a new login asks for a new TOTP code"
    rest.refuse_refresh = None
    clock.now = 1800.0
    await user.token()
    assert rest.refreshes[-1] == "refresh-2"


async def test_never_more_than_ten_refreshes_in_fifteen_minutes() -> None:
    """Short-lived tokens: past the budget the session logs in instead of refreshing."""
    rest, clock = FakeRest(expires_in=10), Clock()
    user = session(rest, clock)
    await user.token()
    for _ in range(30):  # 30 renewals within 5 minutes
        clock.now += 10.0
        await user.token()
    assert len(rest.refreshes) == 10
    assert len(rest.logins) == 1 + 20
    clock.now = 15 * 60 + 10.0  # the first refreshes have left the window
    rest.logins.clear()
    await user.token()
    assert len(rest.refreshes) == 11
    assert rest.logins == []


def test_refresh_budget_slides() -> None:
    clock = Clock()
    budget = RefreshBudget(limit=2, window=60.0, clock=clock)
    budget.spend()
    clock.now = 30.0
    budget.spend()
    assert not budget.available()
    clock.now = 60.0
    assert budget.available(), "the first refresh left the window"
    with pytest.raises(ValueError, match="limit"):
        RefreshBudget(limit=0)
