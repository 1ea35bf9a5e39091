"""Fixtures and helpers shared by the AgentClient / CustomerClient / REST tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from tests.deployments import FAST
from vilnius_client import _fastpath
from vilnius_client.agent import AgentClient
from vilnius_client.rest import RestClient

__all__ = ["FAST", "next_event"]  # used by the test modules


async def next_event(events: Any, seconds: float = 5.0) -> Any:
    """The next item of an event stream, bounded by a (scaled) timeout."""
    return await asyncio.wait_for(anext(events), scaled(seconds))


@pytest.fixture
async def agent(server: RunningServer) -> AsyncIterator[AgentClient]:
    """An AgentClient ``a1`` connected to the ``server`` fixture."""
    async with AgentClient(server.url, agent_id="a1", **FAST) as client:
        yield client


@pytest.fixture
async def rest(server: RunningServer) -> AsyncIterator[RestClient]:
    """A RestClient for the ``server`` fixture (no token: ``auth="none"``)."""
    async with RestClient(server.url, retry_base=0.01) as client:
        yield client


@pytest.fixture(params=["fast", "stock"])
def fast_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the transport's fast paths, then with the stock paths only.

    ``"stock"`` sets ``VILNIUS_FAST_PATHS=0``; either way the check is redone for
    the test and forgotten after it.
    """
    if request.param == "stock":
        monkeypatch.setenv(_fastpath.ENVIRONMENT_VARIABLE, "0")
    else:
        monkeypatch.delenv(_fastpath.ENVIRONMENT_VARIABLE, raising=False)
    _fastpath.reset()
    expected = _fastpath.FastPaths(inline_events=True, read_loop=True)
    assert (_fastpath.fast_paths() == expected) is (request.param == "fast")
    yield str(request.param)
    _fastpath.reset()
