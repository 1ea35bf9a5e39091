"""Print every event the agent dashboard sees, as it arrives, one line each.

    python examples/dashboard_monitor.py --url http://127.0.0.1:3002 --agent-key KEY
    python examples/dashboard_monitor.py --json        # the raw wire payloads

The seed's "monitor all events" snippet, for every server event and with typed payloads:

    20:41:07.215 📨 new-message: conv-3f2a visitor: "Where is my teapot?"
    20:41:07.230 📨 customer-typing-status: conv-3f2a customer stopped typing

The monitor joins the dashboard as an agent (that is how the ``agents`` room works) and
then marks itself AFK so that the server hands it no conversations; ``--available``
keeps it online. ``--max-events N`` / ``--duration S`` bound the run.

A refused key or a server it cannot use ends it with one line (exit status 1); Ctrl-C,
the way to stop it, with one line (status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime

from vilnius_client import (
    AgentClient,
    AgentData,
    AgentMessageEvent,
    AuthError,
    ConnectionChange,
    Event,
    Message,
    NewMessageEvent,
    PersonalStatus,
    ServerEvent,
    VilniusError,
)
from vilnius_client.events import (
    SERVER_EVENT_MODELS,
    AgentSentMessageEvent,
    AgentTypingStatusEvent,
    ConnectedAgentsUpdateEvent,
    ConversationSeenUpdateEvent,
    CurrentStateEvent,
    CustomerTypingStatusEvent,
    ErrorEvent,
    HeartbeatAckEvent,
    NewConversationEvent,
    SystemModeUpdateEvent,
    TicketsReassignedEvent,
)

LISTED = 5
"""Agents or reassignments named on one line; the rest are counted."""


def shorten(text: str, width: int = 60) -> str:
    """``text`` on one line, quoted, cut to ``width`` characters."""
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= width else flat[: width - 1] + "…", ensure_ascii=False)


def listing(items: list[str]) -> str:
    """The first few ``items``, and how many more."""
    more = f", +{len(items) - LISTED} more" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more


def agents(data: list[AgentData]) -> str:
    """``2 agents: bot-1 online, ana afk``."""
    named = [f"{agent.id} {agent.personal_status.value}" for agent in data]
    count = f"{len(data)} agent" + ("" if len(data) == 1 else "s")
    return count + (f": {listing(named)}" if named else "")


def said(message: Message) -> str:
    """``conv-1 agent bot-1: "Hello"``."""
    who = message.sender.value + (f" {message.agent_id}" if message.agent_id else "")
    return f"{message.conversation_id} {who}: {shorten(message.content)}"


def typing_word(is_typing: bool) -> str:
    return "typing" if is_typing else "stopped typing"


def describe(model: ServerEvent) -> str:
    """One readable line for any server event: who, where, what (``--json`` for it all)."""
    match model:
        case NewConversationEvent(conversation=conversation):
            assigned = conversation.assigned_agent
            to = f", assigned to {assigned}" if assigned else ""
            return f"{conversation.id} opened by visitor {conversation.visitor_id}{to}"
        case NewMessageEvent(message=message, ai_suggestion=suggestion):
            return said(message) + (" (+ AI suggestion)" if suggestion else "")
        case AgentMessageEvent(message=message) | AgentSentMessageEvent(message=message):
            return said(message)
        case CustomerTypingStatusEvent(conversation_id=conversation, is_typing=is_typing):
            return f"{conversation} customer {typing_word(is_typing)}"
        case AgentTypingStatusEvent(is_typing=is_typing):
            return f"agent {typing_word(is_typing)}"
        case ConnectedAgentsUpdateEvent(agents=data):
            return agents(data)
        case SystemModeUpdateEvent(mode=mode):
            return f"mode {mode.value}"
        case TicketsReassignedEvent(reassignments=moves, reason=reason):
            named = [
                f"{move.conversation_id} {move.from_agent_id or 'nobody'}"
                f" -> {move.to_agent_id or 'nobody'}"
                for move in moves
            ]
            return f"{reason.value}: " + (listing(named) or "nothing moved")
        case HeartbeatAckEvent(agent_id=agent_id):
            return f"agent {agent_id}"
        case CurrentStateEvent(type=kind, data=list() as data):
            return f"{kind.value}: {agents(data)}"
        case CurrentStateEvent(type=kind, data=data):
            return f"{kind.value}: {data}"
        case ErrorEvent(code=code, message=message, event=event):
            return f"{code} for {event or 'an event'}: {shorten(message)}"
        case ConversationSeenUpdateEvent(conversation_id=conversation, agent_id=agent_id):
            return f"{conversation} seen by {agent_id or 'an agent'}"
        case _:  # categories and whatever a newer server sends
            return shorten(json.dumps(model.to_wire(), ensure_ascii=False), 100)


class Monitor:
    """Prints each event and counts them."""

    def __init__(self, *, as_json: bool, max_events: int | None) -> None:
        self.as_json = as_json
        self.max_events = max_events
        self.count = 0
        self.done = asyncio.Event()

    def handler(self, event: Event) -> Callable[[ServerEvent], None]:
        """A handler that prints ``event``."""

        def show(model: ServerEvent) -> None:
            if self.done.is_set():
                return
            self.count += 1
            clock = datetime.now().strftime("%H:%M:%S.%f")[:-3]  # local time
            replayed = " (replayed)" if model.replayed else ""
            if self.as_json:
                payload = json.dumps(model.to_wire(), ensure_ascii=False)
            else:
                payload = describe(model)
            print(f"{clock} 📨 {event.value}{replayed}: {payload}", flush=True)
            if self.max_events is not None and self.count >= self.max_events:
                self.done.set()

        return show

    def connection(self, change: ConnectionChange) -> None:
        """Print connection changes too."""
        print(f"-- connection {change.old.value} -> {change.new.value} ({change.reason})")


def agent(args: argparse.Namespace) -> AgentClient:
    """The agent user's login with ``--email`` (production), else the agent key."""
    if args.email:
        password = os.environ.get("VILNIUS_PASSWORD", "")
        return AgentClient(args.url, email=args.email, password=password)
    return AgentClient(args.url, agent_id=args.agent_id, agent_key=args.agent_key)


async def run(args: argparse.Namespace) -> int:
    """Monitor until Ctrl-C, ``--max-events`` or ``--duration``."""
    monitor = Monitor(as_json=args.json, max_events=args.max_events)
    client = agent(args)
    for event in SERVER_EVENT_MODELS:
        client.on(event, monitor.handler(event))
    client.on_connection_change(monitor.connection)
    async with client:
        if not args.available:
            await client.set_personal_status(PersonalStatus.AFK)
        print(f"-- monitoring {args.url} as {client.agent_id}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(monitor.done.wait(), args.duration)
    print(f"-- {monitor.count} events", flush=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Print every event the dashboard sees.")
    parser.add_argument("--url", default=os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002"))
    parser.add_argument("--agent-id", default="dashboard-monitor")
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
        "--json", action="store_true", help="print the whole camelCase wire payload"
    )
    parser.add_argument("--available", action="store_true", help="do not go AFK")
    parser.add_argument("--max-events", type=int, help="stop after this many events")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    try:
        sys.exit(asyncio.run(run(arguments)))
    except KeyboardInterrupt:  # the way to stop it
        print("dashboard_monitor: stopped (Ctrl-C)", file=sys.stderr)
    except AuthError as exc:  # a wrong or missing agent key: one line, not a traceback
        sys.exit(
            f"dashboard_monitor: refused (--agent-key, or --email and $VILNIUS_PASSWORD): {exc}"
        )
    except VilniusError as exc:  # no server at --url, or it failed
        sys.exit(f"dashboard_monitor: cannot use the server at {arguments.url}: {exc}")
