"""The console in a real browser: headless Chromium, the server and a bot as subprocesses.

What a newcomer does: start the server, start ``examples/first_bot.py``, open the console,
type a message as the customer, see the bot's reply in the chat and the events in the log.
``VILNIUS_CONSOLE_SCREENSHOT=docs/img/console.png`` makes the first test save a screenshot
of the console (the one in the docs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.console.page import ConsolePage, call
from tests.console.processes import Proc, free_port, start_bot, start_server
from tests.examples.helpers import EXAMPLES

pytestmark = pytest.mark.timeout(180)

HERE = Path(__file__).parent


def test_chat_with_first_bot(browser: Any, processes: list[Proc], tmp_path: Path) -> None:
    """The getting-started path: token auth, the agent key typed into the page."""
    port = free_port()
    key = "console-test-key"
    server = start_server(port, tmp_path / "vilnius.db", "--agent-key", key)
    processes.append(server)
    url = f"http://127.0.0.1:{port}"
    assert f"Console: {url}/console (type the agent key into the page)" in server.output
    processes.append(
        start_bot(EXAMPLES / "first_bot.py", "online", VILNIUS_URL=url, VILNIUS_AGENT_KEY=key)
    )
    page = ConsolePage(browser, url)
    page.open()
    assert page.find("#gate").is_displayed()
    page.find("#key-input").send_keys("wrong key")
    page.find("#key-submit").click()
    page.wait(lambda d: "Wrong agent key" in page.find("#key-error").text, "key refused")
    assert not page.find("#app").is_displayed()
    page.find("#key-input").clear()
    page.find("#key-input").send_keys(key)
    page.find("#key-submit").click()
    page.wait(lambda d: page.find("#app").is_displayed(), "the console")
    page.wait_state("#feed-status", "connected")
    page.wait(lambda d: page.find('#agents tr[data-id="first-bot"]'), "first-bot listed")

    conversation_id = page.start_conversation()
    page.say("Hello, bot!")
    page.wait_reply("You said: Hello, bot!")
    for name in ("new-message", "agent-typing-status", "agent-message", "customer-typing"):
        page.wait_entry(name, conversation=conversation_id)
    # the bot typed before answering and stopped after: on, then off, and the indicator goes
    page.wait(
        lambda d: len(page.entries("agent-typing-status", conversation=conversation_id)) >= 2,
        "agent typing on, then off",
    )
    page.wait(lambda d: not page.find("#agent-typing").is_displayed(), "typing indicator hidden")
    page.wait_entry("POST /api/messages", conversation=conversation_id)
    assert page.entries("customer-typing", dir="in")
    assert page.entries("agent-message", dir="out")
    page.wait_assigned(conversation_id, "first-bot")

    reply = page.entries("agent-message", conversation=conversation_id)[0]
    assert "You said: Hello, bot!" in page.expand(reply)
    page.find("#filter-event").send_keys("agent-")
    page.wait(
        lambda d: (
            all(
                not e.is_displayed() or "agent-" in str(e.get_attribute("data-event"))
                for e in page.find_all("#log .entry")
            )
            and page.entries("new-message")[0].is_displayed() is False
        ),
        "the log filtered by event name",
    )
    shot = os.environ.get("VILNIUS_CONSOLE_SCREENSHOT")
    if shot:
        save_screenshot(page, shot)


def save_screenshot(page: ConsolePage, path: str) -> None:
    """One more exchange, the bot's last reply opened in the log: the docs' picture."""
    box = page.find("#filter-event")
    box.clear()
    box.send_keys(" ")  # an input event: the filter is reapplied
    box.clear()
    page.driver.execute_script(
        "document.querySelectorAll('#log details[open]').forEach((d) => { d.open = false; })"
    )
    page.say("What can you do?")
    page.wait_reply("You said: What can you do?")
    page.wait_entry("agent-typing-status")
    last = page.entries("agent-message")[-1]
    page.expand(last)
    page.driver.execute_script(
        "const log = document.querySelector('#log');"
        "log.scrollTop = arguments[0].offsetTop - log.offsetTop - 150;"
        "document.activeElement.blur();",
        last,
    )
    page.driver.save_screenshot(path)


def test_restart_mode_and_reassignment(browser: Any, processes: list[Proc], tmp_path: Path) -> None:
    """Auth none: the widget and the feed come back after a crash; mode switch; reassign."""
    port = free_port()
    db = tmp_path / "vilnius.db"
    server = start_server(port, db, "--auth", "none")
    processes.append(server)
    url = f"http://127.0.0.1:{port}"
    processes.append(start_bot(EXAMPLES / "first_bot.py", "online", VILNIUS_URL=url))
    page = ConsolePage(browser, url)
    page.open()
    assert page.find("#app").is_displayed()  # no key asked for without token auth
    conversation_id = page.start_conversation()
    page.say("one")
    page.wait_reply("You said: one")

    server.kill()  # a crash: the page's sockets drop
    page.wait_state("#widget-status", "disconnected")
    page.wait_state("#feed-status", "disconnected")
    since = len(server.lines)
    server.start()
    server.wait_for_line("Press Ctrl+C to stop.", since=since)
    page.wait_state("#widget-status", "connected", timeout=30)
    page.wait_state("#feed-status", "connected", timeout=30)
    page.wait(lambda d: page.find(".entry.marker"), "the feed's reconnection marker")
    page.wait(lambda d: page.find('#agents tr[data-id="first-bot"]'), "the bot back", 30)
    page.say("two")
    page.wait_reply("You said: two")
    assert [m.text for m in page.find_all("#chat .msg.visitor")] == ["one", "two"]

    page.find("#mode-autopilot").click()
    page.wait(
        lambda d: page.find("#mode-autopilot").get_attribute("aria-pressed") == "true",
        "autopilot pressed",
    )
    update = page.wait_entry("system-mode-update", room="agents")
    assert '"autopilot"' in page.expand(update)
    page.say("three")
    page.wait(
        lambda d: any(m.text.startswith("autopilot") for m in page.find_all("#chat .msg.agent")),
        "the autopilot's canned reply",
    )
    page.find("#mode-hitl").click()
    page.wait(
        lambda d: page.find("#mode-hitl").get_attribute("aria-pressed") == "true",
        "hitl pressed",
    )

    call(
        f"{url}/api/agent/personal-status",
        "POST",
        {"agentId": "agent-2", "personalStatus": "online"},
    )
    page.wait(
        lambda d: page.conversation_row(conversation_id).find_element(
            "css selector", 'option[value="agent-2"]'
        ),
        "agent-2 offered",
    )
    page.reassign(conversation_id, "agent-2")
    page.wait_assigned(conversation_id, "agent-2")
    page.wait_entry("tickets-reassigned")
    page.wait_entry(f"POST /api/conversations/{conversation_id}/assign")


def test_a_forgotten_conversation_asks_for_a_new_one(
    browser: Any, processes: list[Proc], tmp_path: Path
) -> None:
    """A server restarted without its database: the widget says so and starts afresh."""
    port = free_port()
    server = start_server(port, Path(":memory:"), "--auth", "none")
    processes.append(server)
    page = ConsolePage(browser, f"http://127.0.0.1:{port}")
    page.open()
    first = page.start_conversation()
    page.say("Anyone there?")
    server.kill()
    page.wait_state("#widget-status", "disconnected")
    since = len(server.lines)
    server.start()
    server.wait_for_line("Press Ctrl+C to stop.", since=since)
    page.wait(
        lambda d: "does not know this conversation" in page.find("#widget-error").text,
        "the widget's advice",
        timeout=30,
    )
    assert page.state("#widget-status") == "refused"
    second = page.start_conversation()
    assert second != first
    assert page.find("#widget-error").text == ""
    assert page.find_all("#chat .msg") == []
    page.say("Hello again")


def test_production_profile(browser: Any, processes: list[Proc], tmp_path: Path) -> None:
    """Profile lizdeika: a session id, no acks, a user login to reassign."""
    port = free_port()
    server = start_server(
        port,
        tmp_path / "production.db",
        "--profile",
        "lizdeika",
        "--agent-user",
        "bot@example.com:bot-pass:Bot",
        "--agent-user",
        "lead@example.com:lead-pass:Lead",
    )
    processes.append(server)
    url = f"http://127.0.0.1:{port}"
    bot = start_bot(
        HERE / "production_bot.py",
        "online",
        VILNIUS_URL=url,
        BOT_EMAIL="bot@example.com",
        BOT_PASSWORD="bot-pass",
    )
    processes.append(bot)
    bot_id = bot.output.split("online as ")[1].split()[0]
    page = ConsolePage(browser, url)
    page.open()
    assert "production" in page.find("#profile").text
    page.wait(lambda d: page.find(f'#agents tr[data-id="{bot_id}"]'), "the bot listed")
    conversation_id = page.start_conversation()
    assert conversation_id.startswith("session-")
    page.say("Labas!")
    page.wait_reply("You said: Labas!")
    for name in ("new-message", "agent-typing-status", "agent-message", "agent-sent-message"):
        page.wait_entry(name, conversation=conversation_id)
    page.wait_assigned(conversation_id, bot_id)

    lead_id = next(
        str(option.get_attribute("value"))
        for option in page.conversation_row(conversation_id).find_elements("css selector", "option")
        if option.text == "lead@example.com"
    )
    page.reassign(conversation_id, lead_id)
    page.wait(lambda d: page.find("#login-form").is_displayed(), "the login form")
    page.find("#login-email").send_keys("lead@example.com")
    page.find("#login-password").send_keys("lead-pass")
    page.find("#login-submit").click()
    page.wait(lambda d: "logged in" in page.find("#panel-error").text, "logged in")
    page.reassign(conversation_id, lead_id)
    page.wait_assigned(conversation_id, lead_id)
    page.wait_entry(f"POST /api/conversations/{conversation_id}/assign")
