"""The bot under test: a tiny order-status assistant (your own bot goes here).

``attach(client)`` registers the bot's handlers on an `AgentClient`; the
tests in ``test_support_bot.py`` drive it against the reference server.
"""

from __future__ import annotations

import re

from vilnius_client import AgentClient, Event, NewMessageEvent, Sender

ORDER = re.compile(r"#(\d+)")
SHIPPED = {"1042": "shipped on Monday", "2077": "waiting for stock"}


def answer(text: str) -> str:
    """What the bot replies to a customer's ``text``."""
    match = ORDER.search(text)
    if match is None:
        return "Hi! Tell me your order number (like #1042) and I'll look it up."
    status = SHIPPED.get(match.group(1))
    if status is None:
        return f"I can't find order #{match.group(1)}; a human agent will help you."
    return f"Order #{match.group(1)} is {status}."


def attach(client: AgentClient) -> None:
    """Make ``client`` answer every customer message."""

    @client.on(Event.NEW_MESSAGE)
    async def on_message(event: NewMessageEvent) -> None:
        if event.message.sender is Sender.VISITOR:
            await client.typing(event.conversation_id, True)
            await client.respond(event.conversation_id, answer(event.message.content))
            await client.typing(event.conversation_id, False)
