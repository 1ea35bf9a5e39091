"""Shared fixtures: the real reference server, in-process on a free loopback port."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from mock_server import RunningServer, serve
from mock_server.__main__ import environment_variables

#: Multiply every timeout in the tests by this (slow CI machines).
TIMEOUT_SCALE = float(os.environ.get("VILNIUS_TEST_TIMEOUT_SCALE", "1"))

# Hermetic: a developer's exported VILNIUS_AGENT_KEY or VILNIUS_URL (as the docs suggest), or
# any other option of the server, must not reach the servers and clients the tests start.
for _variable in (*environment_variables(), "VILNIUS_URL"):
    os.environ.pop(_variable, None)


def scaled(seconds: float) -> float:
    """Return ``seconds`` scaled by ``VILNIUS_TEST_TIMEOUT_SCALE``."""
    return seconds * TIMEOUT_SCALE


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    """A reference server with ``auth="none"`` and an in-memory database."""
    async with serve(host="127.0.0.1", port=0, db=":memory:", auth="none") as running:
        yield running


@pytest.fixture
async def token_server() -> AsyncIterator[RunningServer]:
    """A reference server with ``auth="token"`` and the agent key ``"test-key"``."""
    async with serve(
        host="127.0.0.1", port=0, db=":memory:", auth="token", agent_key="test-key"
    ) as running:
        yield running
