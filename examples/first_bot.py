"""Your first bot: answers every customer message. Stop it with Ctrl-C.

On our server it connects with the agent key ($VILNIUS_AGENT_KEY); on production, where
agents are users, it logs in with $VILNIUS_EMAIL and $VILNIUS_PASSWORD instead. It keeps
its place in first-bot.json (or $VILNIUS_RESUME_FILE): restarted, it answers every message
that came while it was down, once. With $VILNIUS_FLEET=redis://... it runs as one replica
of a fleet (docs/guides/fleet.md): start it three times, each customer is answered once.
A refused key and a server it cannot use end it with one line and exit status 1; Ctrl-C,
the way to stop it, with one line and status 0.
"""

import asyncio
import os
import sys

from vilnius_client import AgentClient, AuthError, Event, NewMessageEvent, Sender, VilniusError
from vilnius_client.fleet import RedisFleet

URL = os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002")
RESUME_FILE = os.environ.get("VILNIUS_RESUME_FILE", "first-bot.json")


def agent() -> AgentClient:
    """An agent user's login when $VILNIUS_EMAIL is set, else the agent key."""
    fleet = RedisFleet.from_env()  # one replica of a fleet when $VILNIUS_FLEET is set
    email = os.environ.get("VILNIUS_EMAIL")
    if email:
        password = os.environ.get("VILNIUS_PASSWORD", "")
        return AgentClient(
            URL, email=email, password=password, resume_file=RESUME_FILE, fleet=fleet
        )
    key = os.environ.get("VILNIUS_AGENT_KEY")
    return AgentClient(
        URL, agent_id="first-bot", agent_key=key, resume_file=RESUME_FILE, fleet=fleet
    )


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
        await bot.run_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("first-bot: stopped (Ctrl-C)", file=sys.stderr)
    except AuthError as exc:  # a wrong or missing key (or login)
        sys.exit(f"first-bot: refused ($VILNIUS_AGENT_KEY, or $VILNIUS_EMAIL): {exc}")
    except VilniusError as exc:  # no server at $VILNIUS_URL, or it failed
        sys.exit(f"first-bot: cannot use the server at {URL}: {exc}")
