"""A bot under test that answers every customer message after a delay (``slow_bot.py 0.5``).

Run as a subprocess by the tests of ``vilnius-sim --bot external``: it is examples/first_bot.py
made slow, so that a reply-latency threshold has something to fail on. The server is
$VILNIUS_URL (auth none).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from vilnius_client import AgentClient, Event, NewMessageEvent, Sender


async def main(delay: float) -> None:
    tasks: set[asyncio.Task[None]] = set()
    async with AgentClient(os.environ["VILNIUS_URL"], agent_id="slow-bot") as bot:

        async def answer(event: NewMessageEvent) -> None:
            await asyncio.sleep(delay)
            await bot.respond(event.conversation_id, f"You said: {event.message.content}")

        @bot.on(Event.NEW_MESSAGE)
        def on_message(event: NewMessageEvent) -> None:
            if event.message.sender is Sender.VISITOR:
                task = asyncio.ensure_future(answer(event))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        # The test waits for this line: the bot is connected.
        print(f"slow-bot is online, answering after {delay:g} s", flush=True)  # noqa: T201
        await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(float(sys.argv[1])))
