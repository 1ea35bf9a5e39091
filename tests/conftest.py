"""Shared fixtures: the real reference server, in-process on a free loopback port."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from mock_server import RunningServer, serve
from mock_server.options import environment_variables
from tests.deployments import PROFILES, TIMEOUT_SCALE, Deployment, scaled, server_config

__all__ = ["TIMEOUT_SCALE", "scaled"]  # used by the test modules

# Hermetic: a developer's exported VILNIUS_AGENT_KEY or VILNIUS_URL (as the docs suggest), or
# any other option of the server, must not reach the servers and clients the tests start.
for _variable in (*environment_variables(), "VILNIUS_URL"):
    os.environ.pop(_variable, None)


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


@pytest.fixture
def nothing_listens() -> Iterator[str]:
    """The URL of a loopback port held by a socket that never listens: connections are
    refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    """Each kind of server in turn: ``vilnius`` (the contract), ``lizdeika`` (production)."""
    return str(request.param)


@pytest.fixture
async def deployment(profile: str) -> AsyncIterator[Deployment]:
    """A server of ``profile`` with the agent users of :mod:`tests.deployments`."""
    async with serve(config=server_config(profile)) as running:
        yield Deployment(profile, running)
