"""Your first bot: answers every customer message. Stop it with Ctrl-C."""

import asyncio
import contextlib
import os
import sys

from vilnius_client import AgentClient, AuthError, Event, NewMessageEvent, Sender

URL = os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002")


async def main() -> None:
    async with AgentClient(
        URL, agent_id="first-bot", agent_key=os.environ.get("VILNIUS_AGENT_KEY")
    ) as bot:

        @bot.on(Event.NEW_MESSAGE)
        async def reply(event: NewMessageEvent) -> None:
            if event.message.sender is Sender.VISITOR:
                await bot.typing(event.conversation_id, True)
                try:
                    await bot.respond(event.conversation_id, f"You said: {event.message.content}")
                finally:
                    await bot.typing(event.conversation_id, False)

        print("first-bot is online; waiting for customers (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except AuthError as exc:  # a wrong or missing VILNIUS_AGENT_KEY
        sys.exit(f"first-bot: refused ($VILNIUS_AGENT_KEY): {exc}")
