"""Production's own web clients, unmodified, in headless Chromium against ``--static``.

Opt-in: set ``VILNIUS_LIZDEIKA_CHECKOUT`` to a Lizdeika checkout (or an export of its
``custom-widget/``); without it the test skips (this repository ships no file of
production's, its licence forbids it). The server runs as a user starts it:
``python -m mock_server --profile lizdeika --static <checkout>``.

The pages load the Socket.IO client, Tailwind and Font Awesome from public CDNs. Offline,
the test hands the browser the Socket.IO client of ``tests/interop/node_modules`` before any
page script runs (DevTools' ``Page.addScriptToEvaluateOnNewDocument``); the CDN's own copy,
where it loads, replaces it. Without Tailwind the pages are unstyled, which changes nothing
they do.

The flow is the one of docs/guides/production.md: log in, "Later" on the 2FA setup page, the
dashboard's token and role checks, its socket, a widget customer's first message live in the
queue, a follow-up in the open chat, the agent's reply in the widget, the system mode and the
connected agents, and the response templates (seeded with ``--production-settings``).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.browser import chromium, require_browser, wait_until
from tests.console.processes import Proc, free_port, start_server

pytestmark = pytest.mark.timeout(180)

CHECKOUT = os.environ.get("VILNIUS_LIZDEIKA_CHECKOUT", "")
SOCKET_IO = (
    Path(__file__).parents[1] / "interop/node_modules/socket.io-client/dist/socket.io.min.js"
)
EMAIL, PASSWORD = "agent@example.com", "agent-pass"
TEMPLATE = "Pasisveikinimas"
LIVE = 5.0
"""Seconds within which an event must show (the pages' own polls come every 15 s or more)."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    if not CHECKOUT:
        pytest.skip("set VILNIUS_LIZDEIKA_CHECKOUT to a Lizdeika checkout to run this test")
    if not SOCKET_IO.is_file():
        pytest.skip("socket.io-client is not installed: run `npm ci` in tests/interop")
    require_browser()
    port = free_port()
    settings = tmp_path / "production-settings.json"
    settings.write_text(json.dumps({"templates": [{"title": TEMPLATE, "content": "Sveiki!"}]}))
    process: Proc = start_server(
        port,
        tmp_path / "production.db",
        *("--profile", "lizdeika", "--agent-user", f"{EMAIL}:{PASSWORD}:Agent Smith"),
        *("--static", CHECKOUT, "--production-settings", str(settings)),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def _with_socket_io(driver: Any) -> None:
    """Give the current window's pages the Socket.IO client the CDN would (each window)."""
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": SOCKET_IO.read_text()}
    )


class Page:
    """One window of the browser, as a user works it."""

    def __init__(self, driver: Any, handle: str) -> None:
        self.driver = driver
        self.handle = handle

    def focus(self) -> Page:
        self.driver.switch_to.window(self.handle)
        return self

    def find(self, selector: str) -> Any:
        return self.focus().driver.find_element("css selector", selector)

    def script(self, source: str, *args: Any) -> Any:
        return self.focus().driver.execute_script(source, *args)

    def wait(self, condition: Any, what: str, timeout: float = 20) -> Any:
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )

        def safe(driver: Any) -> Any:
            try:
                return condition(self)
            except (NoSuchElementException, StaleElementReferenceException):
                return None

        self.focus()
        return wait_until(self.driver, safe, what, timeout)

    def click(self, selector: str, what: str) -> None:
        """Click the element, again if the page re-rendered it under the click."""
        self.wait(lambda p: p.find(selector).click() or True, what)

    def text(self, selector: str) -> str:
        """The element's text, shown or not (unstyled, the pages show what they would hide)."""
        return str(self.find(selector).get_attribute("textContent")).strip()


def test_production_clients_complete_the_flow(server: str, browser: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    agent = Page(browser, browser.current_window_handle)
    _with_socket_io(browser)

    # login.html: e-mail and password, then setup-2fa.html (no 2FA yet), "Later"
    browser.get(server + "/login.html")
    agent.find("#email").send_keys(EMAIL)
    agent.find("#password").send_keys(PASSWORD)
    agent.find("#loginButton").click()
    agent.wait(lambda p: p.driver.current_url.endswith("/setup-2fa.html"), "the 2FA setup page")
    agent.wait(lambda p: len(p.text("#secretText")) == 32, "the initiated secret")
    assert agent.find("#qrCodeContainer img").get_attribute("src").startswith("data:image/png")
    agent.find("#skipOption button").click()
    browser.switch_to.alert.accept()  # "Continue without 2FA?"

    # agent-dashboard.html: token check, role check, socket, system mode, connected agents
    agent.wait(lambda p: "/agent-dashboard.html" in p.driver.current_url, "the dashboard")
    agent.wait(
        lambda p: p.script("return !!(window.dashboard && dashboard.socketManager.isConnected)"),
        "the dashboard's socket",
    )
    # the page at 0dec8e5 has no element for the mode: the dashboard keeps what
    # system-mode-update says and lets it decide whether AI suggestions are shown
    agent.wait(lambda p: _mode(p) == "hitl", "the system mode")
    agent.wait(lambda p: p.text("#total-agents-compact") == "1", "one connected agent")
    assert agent.text("#agents-tooltip-content").startswith("Online (1):")
    assert agent.script("return dashboard.authManager.isAdmin") is False  # profile answered
    agent.wait(lambda p: TEMPLATE in p.text("#template-list"), "the response templates")
    agent.find("#filter-all").click()

    # the widget on production's embed page (which calls VilniusChat.init, a name widget.js
    # does not define at 0dec8e5: the page's own init is done here with LizdeikaChat.init)
    browser.switch_to.new_window("window")
    customer = Page(browser, browser.current_window_handle)
    _with_socket_io(browser)
    browser.get(server + "/embed-widget.html")
    customer.script("LizdeikaChat.init({apiUrl: window.location.origin})")
    customer.wait(lambda p: p.find("#lizdeika-chat-bubble"), "the chat bubble")
    customer.wait(
        lambda p: "Privacy Policy" in p.text("#lizdeika-privacy-text"), "the branding's text"
    )
    customer.find("#lizdeika-chat-bubble").click()
    customer.find("#lizdeika-privacy-checkbox").click()
    customer.find("#lizdeika-start-chat-btn").click()
    customer.wait(
        lambda p: p.script("return !!(LizdeikaChat.socket && LizdeikaChat.socket.connected)"),
        "the widget's socket",
    )
    customer.find("#lizdeika-chat-input").send_keys("Labas, reikia pagalbos", Keys.ENTER)
    conversation = customer.wait(
        lambda p: p.script("return localStorage.getItem('lizdeika_conversation_id')"),
        "the widget's session id",
    )

    # the dashboard: the conversation appears in the queue live, then opens
    item = f'[data-conversation-id="{conversation}"]'
    # (within LIVE: the dashboard's own refresh of the queue comes every 15 s)
    agent.wait(lambda p: "Labas, reikia pagalbos" in p.text(item), "the message", LIVE)
    agent.click(item, "the conversation opened")
    agent.wait(lambda p: "Labas, reikia pagalbos" in p.text("#chat-messages"), "the open chat")

    # a follow-up appears in the open chat
    customer.find("#lizdeika-chat-input").send_keys("Ar kas nors čia?", Keys.ENTER)
    agent.wait(lambda p: "Ar kas nors čia?" in p.text("#chat-messages"), "the follow-up", LIVE)

    # the agent's reply, begun with a template and typed on, appears in the widget
    agent.click("#template-button", "the templates' menu")
    agent.click("#template-list .template-item", "a template")
    agent.wait(lambda p: p.find("#message-input").get_attribute("value") == "Sveiki!", "inserted")
    box = agent.find("#message-input")
    box.send_keys(" Kuo galiu padėti?")
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    agent.wait(lambda p: "Kuo galiu padėti?" in p.text("#chat-messages"), "the reply sent")
    customer.wait(
        lambda p: "Sveiki! Kuo galiu padėti?" in p.text("#lizdeika-messages"), "the reply"
    )

    # a mode change reaches the open dashboard live
    _post(server + "/api/system/mode", {"mode": "autopilot"})
    agent.wait(lambda p: _mode(p) == "autopilot", "the autopilot mode")
    _post(server + "/api/system/mode", {"mode": "hitl"})
    agent.wait(lambda p: _mode(p) == "hitl", "the hitl mode again")


def _mode(page: Page) -> str:
    return str(page.script("return dashboard.systemModeManager.getCurrentMode()"))


def _post(url: str, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
