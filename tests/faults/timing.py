"""Time and waiting helpers for the fault tests (no sleeps as synchronisation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tests.conftest import TIMEOUT_SCALE, scaled

__all__ = ["TIMEOUT_SCALE", "scaled", "wait_until"]


# The timeout is the point of this helper (it polls a plain predicate), hence ASYNC109.
async def wait_until(
    predicate: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109
    *,
    what: str = "condition",
    every: float = 0.01,
) -> float:
    """Poll ``predicate`` every ``every`` seconds until it holds; return the seconds waited.

    Meant for conditions over many clients (counts), where one event per
    client would be clumsy, or over other processes' logs. ``timeout`` is scaled here.

    Raises:
        TimeoutError: ``predicate`` still false after ``scaled(timeout)`` seconds.
    """
    start = time.monotonic()
    deadline = start + scaled(timeout)
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {scaled(timeout):.2f} s")
        await asyncio.sleep(every)
    return time.monotonic() - start
