"""Follow who holds which conversation: ``tickets-reassigned`` and ``connected-agents-update``.

    python examples/reassignment_watcher.py --url http://127.0.0.1:3002 --agent-key KEY

Starts from the server's current view (``GET /api/admin/conversations`` and
``GET /api/agents/connected``), then applies every reassignment and agent update as it
arrives and prints what changed: conversations moving between agents (with the reason:
an agent joined, went AFK, came back, a manual or bulk assignment) and agents coming,
going or changing status. Like the dashboard monitor it joins as an agent and goes AFK
so that it takes no tickets itself. ``--max-events N`` / ``--duration S`` bound the run.

A refused key or a server it cannot use ends it with one line (exit status 1); Ctrl-C,
the way to stop it, with one line (status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from vilnius_client import AgentClient, AgentData, AuthError, Event, PersonalStatus, VilniusError
from vilnius_client.events import (
    ConnectedAgentsUpdateEvent,
    ConversationStatus,
    TicketsReassignedEvent,
)


def agent_state(agent: AgentData) -> str:
    """One word for an agent's availability."""
    if not agent.connected:
        return "disconnected"
    return f"{agent.personal_status.value}/{agent.status.value}"


class Watcher:
    """Keeps the assignment table and the agents list up to date."""

    def __init__(self, *, me: str, max_events: int | None) -> None:
        self.me = me
        self.max_events = max_events
        self.holder: dict[str, str | None] = {}
        self.agents: dict[str, AgentData] = {}
        self.events = 0
        self.done = asyncio.Event()

    def _count(self) -> None:
        self.events += 1
        if self.max_events is not None and self.events >= self.max_events:
            self.done.set()

    def on_reassigned(self, event: TicketsReassignedEvent) -> None:
        """Apply and print a batch of reassignments."""
        print(f"🔀 tickets-reassigned ({event.reason.value}): {len(event.reassignments)} moved")
        for move in event.reassignments:
            self.holder[move.conversation_id] = move.to_agent_id
            print(
                f"   {move.conversation_id}: {move.from_agent_id or 'nobody'} "
                f"-> {move.to_agent_id or 'nobody'}"
            )
        self.print_load()
        self._count()

    def on_agents(self, event: ConnectedAgentsUpdateEvent) -> None:
        """Print what changed in the agents list."""
        fresh = {agent.id: agent for agent in event.agents if agent.id != self.me}
        for agent_id, agent in fresh.items():
            before = self.agents.get(agent_id)
            if before is None or agent_state(before) != agent_state(agent):
                was = "new" if before is None else agent_state(before)
                print(f"👤 {agent_id}: {was} -> {agent_state(agent)} ({agent.active_chats} chats)")
        for agent_id in self.agents.keys() - fresh.keys():
            print(f"👤 {agent_id}: gone from the list")
        self.agents = fresh
        self._count()

    def print_load(self) -> None:
        """How many conversations each agent holds, as far as this watcher knows."""
        load: dict[str, int] = {}
        for agent_id in self.holder.values():
            load[agent_id or "unassigned"] = load.get(agent_id or "unassigned", 0) + 1
        print("   load: " + (", ".join(f"{k}={v}" for k, v in sorted(load.items())) or "-"))


def agent(args: argparse.Namespace) -> AgentClient:
    """The agent user's login with ``--email`` (production), else the agent key."""
    if args.email:
        password = os.environ.get("VILNIUS_PASSWORD", "")
        return AgentClient(args.url, email=args.email, password=password)
    return AgentClient(args.url, agent_id=args.agent_id, agent_key=args.agent_key)


async def run(args: argparse.Namespace) -> int:
    """Watch until Ctrl-C, ``--max-events`` or ``--duration``."""
    client = agent(args)
    watcher = Watcher(me=args.agent_id, max_events=args.max_events)
    client.on(Event.TICKETS_REASSIGNED, watcher.on_reassigned)
    client.on(Event.CONNECTED_AGENTS_UPDATE, watcher.on_agents)
    async with client:
        watcher.me = client.agent_id or args.agent_id  # a login's agent id is the user's
        await client.set_personal_status(PersonalStatus.AFK)
        listing = await client.conversations(status=ConversationStatus.ACTIVE)
        for conversation in listing:
            watcher.holder[conversation.id] = conversation.assigned_agent
        print(f"-- watching {args.url}: {len(watcher.holder)} active conversations")
        watcher.print_load()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watcher.done.wait(), args.duration)
    print(f"-- {watcher.events} events", flush=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Follow ticket reassignments and agents.")
    parser.add_argument("--url", default=os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002"))
    parser.add_argument("--agent-id", default="reassignment-watcher")
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
    parser.add_argument("--max-events", type=int, help="stop after this many events")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    try:
        sys.exit(asyncio.run(run(arguments)))
    except KeyboardInterrupt:  # the way to stop it
        print("reassignment_watcher: stopped (Ctrl-C)", file=sys.stderr)
    except AuthError as exc:  # a wrong or missing agent key: one line, not a traceback
        sys.exit(
            f"reassignment_watcher: refused (--agent-key, or --email and $VILNIUS_PASSWORD): {exc}"
        )
    except VilniusError as exc:  # no server at --url, or it failed
        sys.exit(f"reassignment_watcher: cannot use the server at {arguments.url}: {exc}")
