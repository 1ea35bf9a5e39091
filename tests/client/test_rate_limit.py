"""Production's real message rate limit: the SDK waits out ``Retry-After``, never hammers.

The other suites switch the limit off (``tests/deployments.py``); this one keeps it on,
shortened to a window of a second so that the test does not take a minute.
"""

from __future__ import annotations

import asyncio

import pytest

from mock_server import RateLimit, serve
from tests.conftest import scaled
from tests.deployments import FAST, server_config
from vilnius_client import CustomerClient, RateLimitedError, RestClient, Sender


async def test_a_429_is_waited_out_and_every_message_stored_once() -> None:
    config = server_config("lizdeika", message_rate_limit=RateLimit(3, 1.0))
    async with serve(config=config) as production:
        waits: list[tuple[BaseException, float]] = []
        async with CustomerClient(production.url, **FAST) as customer:
            customer.rest.on_retry = lambda error, wait: waits.append((error, wait))
            for n in range(5):
                await asyncio.wait_for(customer.send_message(f"m{n}"), scaled(10))
            history = await customer.history()
    assert [m.content for m in history if m.sender is Sender.VISITOR] == [f"m{n}" for n in range(5)]
    assert waits, "the fourth message within a second was refused, then sent again"
    assert all(isinstance(error, RateLimitedError) for error, _ in waits)
    assert all(wait == 1.0 for _, wait in waits), "waited exactly what Retry-After said"
    assert len(waits) <= 2, "one wait per window, no hammering"


async def test_a_retry_after_longer_than_allowed_is_raised_at_once() -> None:
    config = server_config("lizdeika", message_rate_limit=RateLimit(1, 60.0))
    async with serve(config=config) as production:
        attempts: list[BaseException] = []
        async with RestClient(production.url, max_retry_after=5.0) as rest:
            rest.on_retry = lambda error, wait: attempts.append(error)
            await rest.post_message("session-limited1", "first")
            with pytest.raises(RateLimitedError) as caught:
                await asyncio.wait_for(rest.post_message("session-limited1", "second"), scaled(5))
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 5.0
    assert caught.value.may_have_acted is False, "refused before anything was stored"
    assert attempts == [], "not retried: the server asked for a minute"
