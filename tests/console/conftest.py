"""Fixtures of the console's browser tests: one headless Chromium per module, and the
processes (server, bots) a test started, stopped at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.browser import chromium, require_browser
from tests.console.processes import Proc


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module (each test opens its own server's page)."""
    require_browser()
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture
def processes() -> Iterator[list[Proc]]:
    """Processes a test started; stopped at teardown."""
    started: list[Proc] = []
    yield started
    for process in reversed(started):
        process.stop()
