"""What production's limit on customer messages does to a run, and would do.

Production allows 10 ``POST /api/messages`` per minute per client address
(PRODUCTION.md), and every simulated customer of one ``vilnius-sim`` shares the
machine's address. `Throttling` counts, for the report:

* ``would_refuse``: the customer messages production's limit would refuse at
  this run's pace (a fixed window, as production's limiter counts), whatever
  server the run talks to: the cost of pointing this load at production;
* ``waits`` / ``waited_seconds``: 429 answers the SDK waited out (their
  ``Retry-After``) before sending again, on a server that does limit;
* ``refused``: customer messages refused in the end (a ``Retry-After`` longer
  than the SDK waits, or retries used up). They are reported here, not as
  client errors or lost messages: the server said no, and said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PRODUCTION_MESSAGE_LIMIT", "PRODUCTION_MESSAGE_WINDOW", "Throttling"]

PRODUCTION_MESSAGE_LIMIT = 10
"""Customer messages production accepts per window and client address."""

PRODUCTION_MESSAGE_WINDOW = 60.0
"""Seconds of production's message rate limit window."""


@dataclass
class Throttling:
    """Production's message limit, as the run met it and would meet it (see the module)."""

    limit: int = PRODUCTION_MESSAGE_LIMIT
    window: float = PRODUCTION_MESSAGE_WINDOW
    messages: int = 0
    would_refuse: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    refused: int = 0
    _window_start: float | None = field(default=None, repr=False)
    _in_window: int = field(default=0, repr=False)

    def sent(self, now: float) -> None:
        """A customer message was sent at ``now`` (monotonic seconds)."""
        self.messages += 1
        if self._window_start is None or now - self._window_start >= self.window:
            self._window_start, self._in_window = now, 0
        self._in_window += 1
        if self._in_window > self.limit:
            self.would_refuse += 1

    def waited(self, seconds: float) -> None:
        """The SDK waits ``seconds`` (a 429's ``Retry-After``) before sending again."""
        self.waits += 1
        self.waited_seconds += seconds

    def line(self) -> str:
        """One line for the report."""
        text = (
            f"production's limit ({self.limit} customer messages per {self.window:g} s per"
            f" address) would refuse {self.would_refuse} of {self.messages}"
        )
        if self.waits or self.refused:
            text += (
                f"; this server refused {self.waits + self.refused} times: {self.waits} waited out"
                f" ({self.waited_seconds:.1f} s), {self.refused} messages not sent"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "limit": self.limit,
            "windowSeconds": self.window,
            "customerMessages": self.messages,
            "productionWouldRefuse": self.would_refuse,
            "waitedOut": self.waits,
            "waitedSeconds": round(self.waited_seconds, 3),
            "refused": self.refused,
        }
