"""Fixtures of the fault tests: a subprocess server that can be killed, a proxy that can cut."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mock_server import RunningServer
from tests.deployments import Deployment
from tests.faults.proxy import TcpProxy
from tests.faults.server_process import ServerProcess


@pytest.fixture
async def server_process(tmp_path: Path, profile: str) -> AsyncIterator[ServerProcess]:
    """A started ``python -m mock_server`` of ``profile`` on a fixed free port and a file db
    in ``tmp_path`` (with the agent users of :mod:`tests.deployments`, no rate limit)."""
    async with ServerProcess.of_profile(tmp_path, profile) as process:
        yield process


@pytest.fixture
async def proxy(server: RunningServer) -> AsyncIterator[TcpProxy]:
    """A :class:`TcpProxy` in front of the in-process ``server`` fixture."""
    async with TcpProxy("127.0.0.1", server.port) as running:
        yield running


@pytest.fixture
async def deployment_proxy(deployment: Deployment) -> AsyncIterator[TcpProxy]:
    """A :class:`TcpProxy` in front of the ``deployment`` fixture's server (either profile)."""
    async with TcpProxy("127.0.0.1", deployment.server.port) as running:
        yield running
