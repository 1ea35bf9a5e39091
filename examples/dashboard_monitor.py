"""Print every event the agent dashboard sees, as it arrives.

    python examples/dashboard_monitor.py --url http://127.0.0.1:3002 --agent-key KEY
    python examples/dashboard_monitor.py --json        # the raw wire payloads

The seed's "monitor all events" snippet, for every server event and with typed payloads.
The monitor joins the dashboard as an agent (that is how the ``agents`` room works) and
then marks itself AFK so that the server hands it no conversations; ``--available``
keeps it online. ``--max-events N`` / ``--duration S`` bound the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable

from vilnius_client import AgentClient, ConnectionChange, Event, PersonalStatus, ServerEvent
from vilnius_client.events import SERVER_EVENT_MODELS, utcnow


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
            clock = utcnow().strftime("%H:%M:%S.%f")[:-3]
            replayed = " (replayed)" if model.replayed else ""
            if self.as_json:
                payload = json.dumps(model.to_wire(), ensure_ascii=False)
            else:
                payload = repr(model)
            print(f"{clock} 📨 {event.value}{replayed}: {payload}", flush=True)
            if self.max_events is not None and self.count >= self.max_events:
                self.done.set()

        return show

    def connection(self, change: ConnectionChange) -> None:
        """Print connection changes too."""
        print(f"-- connection {change.old.value} -> {change.new.value} ({change.reason})")


async def run(args: argparse.Namespace) -> int:
    """Monitor until Ctrl-C, ``--max-events`` or ``--duration``."""
    monitor = Monitor(as_json=args.json, max_events=args.max_events)
    client = AgentClient(args.url, agent_id=args.agent_id, agent_key=args.agent_key)
    for event in SERVER_EVENT_MODELS:
        client.on(event, monitor.handler(event))
    client.on_connection_change(monitor.connection)
    async with client:
        if not args.available:
            await client.set_personal_status(PersonalStatus.AFK)
        print(f"-- monitoring {args.url} as {args.agent_id}", flush=True)
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
    parser.add_argument("--json", action="store_true", help="print the camelCase wire payload")
    parser.add_argument("--available", action="store_true", help="do not go AFK")
    parser.add_argument("--max-events", type=int, help="stop after this many events")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    return parser.parse_args(argv)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(run(parse_args())))
