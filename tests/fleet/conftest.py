"""Fixtures of the fleet tests: a real redis-server per session (skipped, with the reason,
when it is not installed; CI sets VILNIUS_REQUIRE_REDIS=1, and then a missing one fails)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fleet.redis_process import RedisProcess, redis_server_path

REQUIRED = os.environ.get("VILNIUS_REQUIRE_REDIS") == "1"


def _redis(directory: Path) -> Iterator[RedisProcess]:
    """A started redis-server in ``directory``, killed at exit (skipped, or failed under
    VILNIUS_REQUIRE_REDIS=1, when redis-server is not installed)."""
    if redis_server_path() is None:
        reason = "redis-server is not installed (Debian: apt-get install redis-server)"
        if REQUIRED:
            pytest.fail(f"VILNIUS_REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    process = RedisProcess(directory)
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One redis-server for the session (tests keep apart by their group name)."""
    yield from _redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of the test's own (to kill or restart)."""
    yield from _redis(tmp_path)


@pytest.fixture
def group() -> str:
    """A fleet name no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


FIGURES: list[str] = []


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Note a measured figure; every figure is printed at the end of the run."""

    def note(text: str) -> None:
        FIGURES.append(f"{request.node.name}: {text}")

    return note


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fleet figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
