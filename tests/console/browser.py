"""Headless Chromium for the console's browser tests, driven by Selenium.

Chromium and its driver come from Debian (``chromium``, ``chromium-driver``; ``.ci/run``
installs them). Selenium is pointed at both, so it never runs Selenium Manager (which would
try to download a browser). Without them the browser tests skip, except where
``VILNIUS_REQUIRE_BROWSER`` or ``CI`` is set: there a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import scaled

T = TypeVar("T")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1440,900",
)


def browser_paths() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` when both are installed."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        return None
    return chromium, driver


def browser_required() -> bool:
    """Whether a missing browser fails the tests instead of skipping them (CI)."""
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes")
        for name in ("CI", "VILNIUS_REQUIRE_BROWSER")
    )


def require_browser() -> tuple[str, str]:
    """The browser's paths; skip (or fail in CI) when it is not installed."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        if browser_required():
            pytest.fail("selenium is not installed (pip install -e '.[dev]')")
        pytest.skip("selenium is not installed")
    paths = browser_paths()
    if paths is None:
        message = "chromium and chromedriver not found (apt-get install chromium chromium-driver)"
        if browser_required():
            pytest.fail(message)
        pytest.skip(message)
    return paths


@contextmanager
def chromium(profile_dir: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile in ``profile_dir``; quit at exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = require_browser()
    options = Options()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(scaled(30))
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, condition: Callable[[Any], T], what: str, timeout: float = 15) -> T:
    """Wait for ``condition(driver)`` to be truthy; fail with ``what`` and the page's console."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        result: T = WebDriverWait(driver, scaled(timeout), poll_frequency=0.1).until(condition)
    except TimeoutException:
        logs = "\n".join(str(line) for line in browser_log(driver))
        raise AssertionError(f"timed out waiting for {what}\nbrowser console:\n{logs}") from None
    return result


def browser_log(driver: Any) -> list[Any]:
    """What the page wrote to its console (errors included)."""
    try:
        return list(driver.get_log("browser"))
    except Exception:  # not every driver keeps it
        return []
