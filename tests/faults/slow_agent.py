"""A peer of ``test_slow_reader``: an ``AgentClient`` (python-socketio) in its own process.

``python -m tests.faults.slow_agent URL`` joins the dashboard and prints one JSON line per
event: ``{"state": ...}`` on every connection change and ``{"seq": n, "replayed": b}`` per
``new-message``. The test pauses the process with SIGSTOP (so it stops reading its socket)
and resumes it with SIGCONT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from vilnius_client import AgentClient, ConnectionChange, NewMessageEvent


def _line(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def main(url: str) -> None:
    """Run until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = AgentClient(url, agent_id="slow-agent", reconnection_delay=0.1)

    def on_change(change: ConnectionChange) -> None:
        _line({"state": change.new.value})

    def on_message(event: NewMessageEvent) -> None:
        _line({"seq": event.message.seq, "replayed": event.replayed})

    client.on_connection_change(on_change)
    client.on("new-message", on_message)
    async with client:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
