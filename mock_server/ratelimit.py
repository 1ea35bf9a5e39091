"""Fixed-window rate limits per client, as express-rate-limit's memory store counts them.

Each key (a client IP, or IP and e-mail) gets a window that starts with its first hit and
lasts ``window`` seconds; the first ``limit`` hits of a window pass, the rest are refused
until it ends. ``FixedWindow.hit`` returns what the ``RateLimit-*`` and
``Retry-After`` headers say.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FixedWindow", "Hit", "RateLimit"]


@dataclass(frozen=True)
class RateLimit:
    """``limit`` requests per ``window`` seconds and client.

    Attributes:
        limit: Requests allowed per window.
        window: Length of a window, in seconds.
    """

    limit: int
    window: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse ``"N/SECONDS"`` (e.g. ``"10/60"``).

        Raises:
            ValueError: ``text`` is not of that form.
        """
        count, _, seconds = text.partition("/")
        limit, window = int(count), float(seconds)
        if limit < 1 or not window > 0:
            raise ValueError(f"expected N/SECONDS with N >= 1 and SECONDS > 0, got {text!r}")
        return cls(limit, window)


@dataclass(frozen=True)
class Hit:
    """The outcome of one request against a limit."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    """Seconds until the client's window ends (rounded up)."""

    def headers(self, policy: RateLimit) -> dict[str, str]:
        """The draft-6 ``RateLimit-*`` headers (plus ``Retry-After`` when refused)."""
        headers = {
            "RateLimit-Policy": f"{policy.limit};w={math.ceil(policy.window)}",
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


class FixedWindow:
    """Counts the hits of each key in its current window.

    Args:
        policy: The limit.
        clock: Monotonic seconds (for tests).
    """

    def __init__(self, policy: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (ends at, hits)

    def hit(self, key: str) -> Hit:
        """Count a request of ``key``; say whether it may go on."""
        now = self._clock()
        if len(self._windows) > 10_000:  # forget finished windows now and then
            self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
        ends, hits = self._windows.get(key, (0.0, 0))
        if ends <= now:
            ends, hits = now + self.policy.window, 0
        hits += 1
        self._windows[key] = (ends, hits)
        return Hit(
            allowed=hits <= self.policy.limit,
            limit=self.policy.limit,
            remaining=max(0, self.policy.limit - hits),
            reset=max(1, math.ceil(ends - now)),
        )

    def blocked(self, key: str) -> Hit | None:
        """The refusal ``key`` would get now without counting a hit, or ``None``."""
        now = self._clock()
        ends, hits = self._windows.get(key, (0.0, 0))
        if ends <= now or hits < self.policy.limit:
            return None
        return Hit(False, self.policy.limit, 0, max(1, math.ceil(ends - now)))

    def count(self, key: str) -> None:
        """Count a hit of ``key`` without asking (e.g. a failure counted after the fact)."""
        self.hit(key)
