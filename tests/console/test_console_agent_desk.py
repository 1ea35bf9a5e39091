"""The console's agent desk in a real browser: a conversation's whole history, replies as an agent.

Against ``--profile lizdeika`` (production, ``hitl``): a conversation started before the page
was opened shows its history; after an agent user's login the pending AI suggestion shows,
and the desk sends it edited, then (after the customer's next message) as it is; the
statistics production keeps count one of each. Against our contract: a reply from scratch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.console.page import ConsolePage, call
from tests.console.processes import Proc, free_port, start_server

pytestmark = pytest.mark.timeout(180)

SUGGESTION = "Thanks! Let me check that for you."


class Desk(ConsolePage):
    """The console page's agent desk."""

    def history(self) -> list[str]:
        # read in one script: the desk re-renders whenever the feed says something happened
        script = "return [...document.querySelectorAll('#desk-history .msg')].map(m => m.innerText)"
        return [str(text) for text in self.driver.execute_script(script)]

    def wait_history(self, text: str) -> None:
        self.wait(lambda d: any(text in line for line in self.history()), f"{text!r} in the desk")

    def open_conversation(self, conversation_id: str) -> None:
        self.wait(lambda d: self.conversation_row(conversation_id), "the conversation listed")
        self.conversation_row(conversation_id).find_element(
            "css selector", "button.open-button"
        ).click()
        self.wait(
            lambda d: self.find("#desk-conversation").text == conversation_id, "the desk opened"
        )

    def suggestion(self) -> str:
        box = self.find("#suggestion")
        return str(self.find("#suggestion-text").text) if box.is_displayed() else ""


def test_production_history_suggestions_and_replies(
    browser: Any, processes: list[Proc], tmp_path: Path
) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"suggestions": [SUGGESTION]}), encoding="utf-8")
    port = free_port()
    server = start_server(
        port,
        tmp_path / "production.db",
        "--profile",
        "lizdeika",
        "--agent-user",
        "lead@example.com:lead-pass:Lead",
        "--production-settings",
        str(settings),
    )
    processes.append(server)
    url = f"http://127.0.0.1:{port}"
    conversation = "session-before1"
    call(f"{url}/api/messages", "POST", {"conversationId": conversation, "message": "Hi there"})
    page = Desk(browser, url)
    page.open()
    page.open_conversation(conversation)
    page.wait_history("Hi there")  # written before the page was opened
    page.wait(lambda d: page.find("#login-form").is_displayed(), "the login form")
    page.find("#login-email").send_keys("lead@example.com")
    page.find("#login-password").send_keys("lead-pass")
    page.find("#login-submit").click()
    page.wait(lambda d: page.suggestion() == SUGGESTION, "the pending suggestion")
    page.find("#suggestion-edit").click()
    box = page.find("#desk-message")
    assert box.get_attribute("value") == SUGGESTION
    box.send_keys(" Today.")
    page.find("#desk-send").click()
    page.wait_history("edited")
    page.wait(lambda d: page.suggestion() == "", "the suggestion gone with the reply")
    call(f"{url}/api/messages", "POST", {"conversationId": conversation, "message": "Thanks!"})
    page.wait_history("Thanks!")  # the feed told the desk
    page.wait(lambda d: page.suggestion() == SUGGESTION, "the next suggestion")
    page.find("#suggestion-accept").click()
    page.wait(
        lambda d: sum("as-is" in line for line in page.history()) == 1, "the reply sent as is"
    )
    replies = [line for line in page.history() if line.startswith("Lead")]
    assert len(replies) == 2, page.history()
    assert replies[0].endswith(f"{SUGGESTION} Today.")
    login = call(
        f"{url}/api/auth/login", "POST", {"email": "lead@example.com", "password": "lead-pass"}
    )
    token = login["data"]["tokens"]["accessToken"]
    usage = call(f"{url}/api/statistics/ai-suggestions", "GET", token=token)["data"]
    assert (usage["totalSuggestions"], usage["sentAsIs"], usage["edited"]) == (2, 1, 1)


def test_contract_reply_from_scratch(browser: Any, processes: list[Proc], tmp_path: Path) -> None:
    port = free_port()
    processes.append(start_server(port, tmp_path / "vilnius.db", "--auth", "none"))
    url = f"http://127.0.0.1:{port}"
    created = call(f"{url}/api/conversations", "POST", {"visitorId": "v-desk"})
    conversation = created["conversationId"]
    call(f"{url}/api/messages", "POST", {"conversationId": conversation, "message": "Hello?"})
    page = Desk(browser, url)
    page.open()
    page.open_conversation(conversation)
    page.wait_history("Hello?")
    assert not page.find("#suggestion").is_displayed()  # our contract has no suggestions
    page.find("#desk-message").send_keys("Hello from the console")
    page.find("#desk-send").click()
    page.wait_history("Hello from the console")
    history = call(f"{url}/api/conversations/{conversation}/messages", "GET")["messages"]
    reply = history[-1]
    assert (reply["sender"], reply["agentId"], reply["content"]) == (
        "agent",
        "console",
        "Hello from the console",
    )
