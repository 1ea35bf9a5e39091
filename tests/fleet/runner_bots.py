"""Bots for the runner's tests (``vilnius-bot run tests.fleet.runner_bots:<name>``).

Configured by the environment: ``VILNIUS_URL`` and ``BOT_KEY`` (the agent key).
"""

from __future__ import annotations

import os

from vilnius_client import AgentClient, Event, NewMessageEvent, Sender


def keyed() -> AgentClient:
    """An agent bot with the key in ``$BOT_KEY`` that answers ``re: <text>``."""
    bot = AgentClient(
        os.environ["VILNIUS_URL"], agent_id="runner-bot", agent_key=os.environ.get("BOT_KEY")
    )

    @bot.on(Event.NEW_MESSAGE)
    async def reply(event: NewMessageEvent) -> None:
        if event.message.sender is Sender.VISITOR:
            await bot.respond(event.conversation_id, f"re: {event.message.content}")

    return bot


async def made_async() -> AgentClient:
    """The same bot from an async factory."""
    return keyed()


not_a_client = 42
