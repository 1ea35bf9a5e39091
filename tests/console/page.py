"""The console page as a user works it (Selenium), and the plain HTTP calls the browser
tests make beside it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.console.browser import wait_until

__all__ = ["ConsolePage", "call"]


def call(url: str, method: str, body: Any = None, token: str | None = None) -> Any:
    """One JSON request (``body``, a bearer ``token``); the JSON answer."""
    request = urllib.request.Request(
        url, None if body is None else json.dumps(body).encode(), method=method
    )
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class ConsolePage:
    """The console page, as a user works it."""

    def __init__(self, driver: Any, url: str) -> None:
        self.driver = driver
        self.url = url

    def find(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def wait(self, condition: Any, what: str, timeout: float = 15) -> Any:
        def safe(driver: Any) -> Any:
            from selenium.common.exceptions import (
                NoSuchElementException,
                StaleElementReferenceException,
            )

            try:
                return condition(driver)
            except (NoSuchElementException, StaleElementReferenceException):
                return None

        return wait_until(self.driver, safe, what, timeout)

    def open(self) -> None:
        self.driver.get(self.url + "/console")
        self.wait(
            lambda d: self.find("#app").is_displayed() or self.find("#gate").is_displayed(),
            "the console or its key prompt",
        )

    def state(self, selector: str) -> str:
        return str(self.find(selector).get_attribute("data-state"))

    def wait_state(self, selector: str, state: str, timeout: float = 15) -> None:
        self.wait(lambda d: self.state(selector) == state, f"{selector} {state}", timeout)

    def start_conversation(self) -> str:
        self.find("#start").click()
        self.wait_state("#widget-status", "connected")
        return str(self.find("#conversation-id").text)

    def say(self, text: str) -> None:
        box = self.find("#message")
        box.send_keys(text)  # key by key: customer-typing goes out
        self.find("#send").click()
        self.wait(
            lambda d: any(text == m.text for m in self.find_all("#chat .msg.visitor")),
            f"own message {text!r} in the chat",
        )

    def wait_reply(self, text: str, timeout: float = 15) -> Any:
        return self.wait(
            lambda d: next(
                (m for m in self.find_all("#chat .msg.agent, #chat .msg.ai") if text in m.text),
                None,
            ),
            f"a reply containing {text!r} in the chat",
            timeout,
        )

    def entries(self, name: str, **data: str) -> list[Any]:
        selector = f'#log .entry[data-name="{name}"]'
        selector += "".join(f'[data-{key}="{value}"]' for key, value in data.items())
        return self.find_all(selector)

    def wait_entry(self, name: str, **data: str) -> Any:
        return self.wait(lambda d: next(iter(self.entries(name, **data)), None), f"log {name}")

    def conversation_row(self, conversation_id: str) -> Any:
        return self.find(f'#conversations tr[data-id="{conversation_id}"]')

    def reassign(self, conversation_id: str, agent_id: str) -> None:
        from selenium.webdriver.support.ui import Select

        row = self.conversation_row(conversation_id)
        Select(row.find_element("css selector", "select.assignee")).select_by_value(agent_id)
        self.conversation_row(conversation_id).find_element(
            "css selector", "button.assign-button"
        ).click()

    def wait_assigned(self, conversation_id: str, agent_id: str) -> None:
        self.wait(
            lambda d: (
                self.conversation_row(conversation_id).get_attribute("data-assigned") == agent_id
            ),
            f"{conversation_id} assigned to {agent_id}",
        )

    def expand(self, entry: Any) -> str:
        entry.find_element("css selector", "summary").click()
        return str(self.wait(lambda d: entry.find_element("css selector", "pre").text, "JSON"))
