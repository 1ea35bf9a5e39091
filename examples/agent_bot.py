"""An auto-responder bot: shows a typing indicator, then answers every customer message.

    python examples/agent_bot.py --url http://127.0.0.1:3002 --agent-key KEY
    VILNIUS_PASSWORD=... python examples/agent_bot.py --url URL --email bot@example.com

It stays up through server restarts and network drops: the SDK reconnects with backoff,
re-joins the dashboard, and replays the messages stored while it was away (marked
``replayed``), so every customer message is answered exactly once. It answers only in
``hitl`` mode (in ``autopilot`` the server answers by itself, in ``off`` nobody does).

``--max-messages N`` stops after N replies and ``--duration S`` after S seconds (both
bounded runs print a summary line and exit 0). In production, run it with the runner (it
drains on SIGTERM), as many replicas as you like, each customer answered once:

    VILNIUS_AGENT_KEY=KEY vilnius-bot run examples.agent_bot:bot --fleet redis://HOST:6379/0

A refused key or a server it cannot use ends it with one line (exit status 1); Ctrl-C,
the way to stop it, with one line (status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time

from vilnius_client import (
    AgentClient,
    AuthError,
    ConnectionChange,
    Event,
    NewMessageEvent,
    Sender,
    SystemMode,
    VilniusError,
)
from vilnius_client.events import SystemModeUpdateEvent


# --8<-- [start:bot]
def make_reply(text: str) -> str:
    """The bot's whole intelligence: what to answer to ``text``."""
    if "?" in text:
        return f"Good question! An agent will look into: {text!r}"
    return f"Thanks for your message: {text!r}. We're on it."


class AutoResponder:
    """Answers customer messages on one `AgentClient`."""

    def __init__(self, client: AgentClient, *, typing_delay: float, max_messages: int | None):
        self.client = client
        self.typing_delay = typing_delay
        self.max_messages = max_messages
        self.mode = SystemMode.HITL
        self.replies = 0
        self.done = asyncio.Event()
        client.on(Event.SYSTEM_MODE_UPDATE, self.on_mode)
        client.on(Event.NEW_MESSAGE, self.on_message)
        client.on_connection_change(self.on_connection)

    def on_mode(self, event: SystemModeUpdateEvent) -> None:
        """Remember the system mode: the bot answers only in ``hitl``."""
        self.mode = event.mode
        print(f"[bot] system mode: {event.mode.value}", flush=True)

    def on_connection(self, change: ConnectionChange) -> None:
        """Say when the link goes down and comes back."""
        print(f"[bot] connection: {change.old.value} -> {change.new.value} ({change.reason})")

    async def on_message(self, event: NewMessageEvent) -> None:
        """Typing indicator, a short pause, the reply, typing off."""
        message = event.message
        if message.sender is not Sender.VISITOR or self.mode is not SystemMode.HITL:
            return
        if self.done.is_set():
            return
        conversation = event.conversation_id
        tag = " (replayed after a reconnect)" if event.replayed else ""
        print(f"[bot] <- {conversation}: {message.content!r}{tag}", flush=True)
        await self.client.typing(conversation, True)
        await asyncio.sleep(self.typing_delay)  # look human: this is behaviour, not synchronisation
        reply = make_reply(message.content)
        await self.client.respond(conversation, reply)
        await self.client.typing(conversation, False)
        self.replies += 1
        print(f"[bot] -> {conversation}: {reply!r}", flush=True)
        if self.max_messages is not None and self.replies >= self.max_messages:
            self.done.set()


# --8<-- [end:bot]


def agent(args: argparse.Namespace) -> AgentClient:
    """The agent user's login with ``--email`` (production), else the agent key; its place
    kept in ``--resume-file`` across restarts."""
    if args.email:
        password = os.environ.get("VILNIUS_PASSWORD", "")
        return AgentClient(
            args.url, email=args.email, password=password, resume_file=args.resume_file
        )
    return AgentClient(
        args.url, agent_id=args.agent_id, agent_key=args.agent_key, resume_file=args.resume_file
    )


def bot() -> AgentClient:
    """The bot for the runner, configured by the environment as the options' defaults:
    ``vilnius-bot run examples.agent_bot:bot``, and as one replica of a fleet
    ``vilnius-bot run examples.agent_bot:bot --fleet redis://127.0.0.1:6379/0``."""
    client = agent(parse_args([]))
    AutoResponder(client, typing_delay=0.5, max_messages=None)
    return client


async def run(args: argparse.Namespace) -> int:
    """Run the bot until Ctrl-C, ``--max-messages`` or ``--duration``."""
    started = time.monotonic()
    client = agent(args)
    bot = AutoResponder(client, typing_delay=args.typing_delay, max_messages=args.max_messages)
    async with client:
        print(f"[bot] {client.agent_id} online at {args.url}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bot.done.wait(), args.duration)
    print(f"[bot] done: {bot.replies} replies in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="An auto-responder agent bot.")
    parser.add_argument("--url", default=os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002"))
    parser.add_argument("--agent-id", default="auto-responder")
    parser.add_argument(
        "--agent-key",
        default=os.environ.get("VILNIUS_AGENT_KEY"),
        help="the server's agent key in token mode (default: $VILNIUS_AGENT_KEY)",
    )
    parser.add_argument(
        "--email",
        default=os.environ.get("VILNIUS_EMAIL") or None,
        help="production: log in as this agent user instead (default: $VILNIUS_EMAIL; "
        "the password only from $VILNIUS_PASSWORD)",
    )
    parser.add_argument(
        "--resume-file",
        default=os.environ.get("VILNIUS_RESUME_FILE", "auto-responder.json"),
        help="where the bot keeps its place across restarts (default: $VILNIUS_RESUME_FILE, "
        "else auto-responder.json)",
    )
    parser.add_argument("--typing-delay", type=float, default=0.5, metavar="SECONDS")
    parser.add_argument("--max-messages", type=int, help="stop after this many replies")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    try:
        sys.exit(asyncio.run(run(arguments)))
    except KeyboardInterrupt:  # the way to stop it
        print("agent_bot: stopped (Ctrl-C)", file=sys.stderr)
    except AuthError as exc:  # a wrong or missing agent key: one line, not a traceback
        sys.exit(f"agent_bot: refused (--agent-key, or --email and $VILNIUS_PASSWORD): {exc}")
    except VilniusError as exc:  # no server at --url, or it failed
        sys.exit(f"agent_bot: cannot use the server at {arguments.url}: {exc}")
