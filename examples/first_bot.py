"""Your first bot: answers every customer message. Stop it with Ctrl-C.

On our server it connects with the agent key ($VILNIUS_AGENT_KEY); on production, where
agents are users, it logs in with $VILNIUS_EMAIL and $VILNIUS_PASSWORD instead. A refused
key and a server it cannot use end it with one line and exit status 1; Ctrl-C, the way to
stop it, with one line and status 0.
"""

import asyncio
import os
import sys

from vilnius_client import AgentClient, AuthError, Event, NewMessageEvent, Sender, VilniusError

URL = os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002")


def agent() -> AgentClient:
    """An agent user's login when $VILNIUS_EMAIL is set, else the agent key."""
    email = os.environ.get("VILNIUS_EMAIL")
    if email:
        return AgentClient(URL, email=email, password=os.environ.get("VILNIUS_PASSWORD", ""))
    return AgentClient(URL, agent_id="first-bot", agent_key=os.environ.get("VILNIUS_AGENT_KEY"))


async def main() -> None:
    async with agent() as bot:

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
        asyncio.run(main())
    except KeyboardInterrupt:
        print("first-bot: stopped (Ctrl-C)", file=sys.stderr)
    except AuthError as exc:  # a wrong or missing key (or login)
        sys.exit(f"first-bot: refused ($VILNIUS_AGENT_KEY, or $VILNIUS_EMAIL): {exc}")
    except VilniusError as exc:  # no server at $VILNIUS_URL, or it failed
        sys.exit(f"first-bot: cannot use the server at {URL}: {exc}")
