"""The bot the fleet tests run as separate processes: ``vilnius-bot run tests.fleet.fleet_bot:bot``.

It answers every visitor message with ``re: <text>`` (keyed by the message's id, so that a
reply repeated after a takeover is stored once where the server de-duplicates), and
appends a JSON line per reply to ``$FLEET_LOG``: ``start`` before the reply is sent,
``done`` after. Configured by the environment: ``VILNIUS_URL``, ``VILNIUS_FLEET`` (Redis),
``FLEET_GROUP``, ``FLEET_TTL``, ``FLEET_PROFILE``, ``FLEET_NAME``, ``FLEET_LOG``, and
``FLEET_WORK_MS``: milliseconds of CPU each reply costs before it is sent (the benchmark's
CPU-bound handler; default none).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from tests.deployments import agent_arguments
from vilnius_client import AgentClient, Event, NewMessageEvent, Sender
from vilnius_client.fleet import RedisFleet


def bot() -> AgentClient:
    """The replica (a factory: the runner calls it)."""
    ttl = float(os.environ.get("FLEET_TTL", "2"))
    work = float(os.environ.get("FLEET_WORK_MS", "0")) / 1000
    name = os.environ.get("FLEET_NAME", "replica")
    log = open(os.environ["FLEET_LOG"], "a", buffering=1)  # noqa: SIM115 - lives as long as the bot
    client = AgentClient(
        os.environ["VILNIUS_URL"],
        **agent_arguments(os.environ.get("FLEET_PROFILE", "vilnius"), "bot"),
        fleet=RedisFleet.from_env(group=os.environ["FLEET_GROUP"], lease_ttl=ttl),
        reconnection_delay=0.05,
        max_reconnection_delay=0.5,
    )

    def write(phase: str, event: NewMessageEvent, **more: Any) -> None:
        line = {
            "t": time.time(),
            "phase": phase,
            "replica": name,
            "conversation": event.conversation_id,
            "message": event.message.id,
            "text": event.message.content,
            "replayed": event.replayed,
            **more,
        }
        log.write(json.dumps(line) + "\n")

    @client.on(Event.NEW_MESSAGE)
    async def reply(event: NewMessageEvent) -> None:
        if event.message.sender is not Sender.VISITOR:
            return
        write("start", event)
        if work:
            burn(work)
        await client.respond(
            event.conversation_id,
            f"re: {event.message.content}",
            idempotency_key=f"reply-{event.message.id}",
        )
        write("done", event)

    return client


def burn(seconds: float) -> None:
    """Keep the CPU busy (and the event loop blocked) for ``seconds``."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass
