"""One reference server per profile, and the SDK clients a bot author would make for it.

The client tests that run against both kinds of server (``vilnius``: our contract;
``lizdeika``: production's behaviour) take the ``deployment`` fixture
(``tests/conftest.py``): it is parametrised over :data:`PROFILES`, and its
:meth:`Deployment.agent` makes an :class:`~vilnius_client.AgentClient` the way a bot
author would on that server: an agent id on ours, an agent user's e-mail and password
on production. Everything else goes through the SDK's public API.

The production server's message rate limit (10 per minute per address) is off here,
so that the suites can send freely; ``test_rate_limit.py`` checks the real one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mock_server import AgentUser, RunningServer, ServerConfig
from vilnius_client import (
    AgentClient,
    ConnectionChange,
    ConnectionState,
    CustomerClient,
    Message,
    Sender,
    VilniusError,
)

#: Multiply every timeout in the tests by this (slow CI machines).
TIMEOUT_SCALE = float(os.environ.get("VILNIUS_TEST_TIMEOUT_SCALE", "1"))


def scaled(seconds: float) -> float:
    """Return ``seconds`` scaled by ``VILNIUS_TEST_TIMEOUT_SCALE``."""
    return seconds * TIMEOUT_SCALE


PROFILES = ("vilnius", "lizdeika")

AGENTS = ("ada", "bob", "bot")
"""The agents every deployment has (agent users on production)."""

USERS = {
    name: AgentUser(f"{name}@example.com", f"{name}-password", name.title()) for name in AGENTS
}

#: Quick reconnects: the server is local.
FAST: dict[str, Any] = {"reconnection_delay": 0.05, "max_reconnection_delay": 0.5}


def server_config(profile: str, **changes: Any) -> ServerConfig:
    """An in-memory, loopback, ``auth="none"`` server of ``profile`` with the agent users."""
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "db": ":memory:",
        "auth": "none",
        "profile": profile,
        "agent_users": tuple(USERS.values()),
        "message_rate_limit": "off",
        **changes,
    }
    return ServerConfig(**settings)


def agent_arguments(profile: str, name: str) -> dict[str, Any]:
    """How a bot names itself on ``profile``: an agent id, or an agent user's login."""
    if profile == "lizdeika":
        user = USERS[name]
        return {"email": user.email, "password": user.password}
    return {"agent_id": name}


@dataclass
class Deployment:
    """A running server of one profile.

    Attributes:
        profile: ``"vilnius"`` or ``"lizdeika"``.
        server: The server (``stop()``/``start()`` to restart it, ``faults``).
    """

    profile: str
    server: RunningServer

    @property
    def url(self) -> str:
        """The server's URL."""
        return self.server.url

    def agent(self, name: str = "ada", *, url: str | None = None, **options: Any) -> AgentClient:
        """An (unconnected) agent client named ``name`` (see :data:`AGENTS`)."""
        return AgentClient(
            url or self.url, **agent_arguments(self.profile, name), **{**FAST, **options}
        )

    def customer(self, *, url: str | None = None, **options: Any) -> CustomerClient:
        """An (unstarted) customer client."""
        return CustomerClient(url or self.url, **{**FAST, **options})


class Inbox:
    """Collects what one event delivers to a handler; waits (bounded) for more."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, model: Any) -> None:
        self.items.append(model)
        self._changed.set()

    async def until(self, count: int, seconds: float = 10.0) -> list[Any]:
        """Wait until ``count`` items arrived; return them all."""
        await self.first(lambda _: len(self.items) >= count, seconds)
        return self.items

    async def first(self, predicate: Callable[[Any], bool], seconds: float = 10.0) -> Any:
        """Wait for the first item matching ``predicate`` (already there, or arriving)."""
        async with asyncio.timeout(scaled(seconds)):
            while True:
                for item in self.items:
                    if predicate(item):
                        return item
                self._changed.clear()
                await self._changed.wait()


class Lost:
    """Waits for a client to lose its connection, then to get it back."""

    def __init__(self, client: AgentClient | CustomerClient) -> None:
        self.lost = asyncio.Event()
        self.back = asyncio.Event()
        client.on_connection_change(self._seen)

    def _seen(self, change: ConnectionChange) -> None:
        if change.new is ConnectionState.RECONNECTING:
            self.lost.set()
        elif change.new is ConnectionState.CONNECTED and self.lost.is_set():
            self.back.set()

    async def wait_lost(self) -> None:
        await asyncio.wait_for(self.lost.wait(), scaled(10))

    async def wait_back(self) -> None:
        await asyncio.wait_for(self.back.wait(), scaled(10))


async def first_of(*waits: Awaitable[Any], seconds: float = 5.0) -> Any:
    """The result of whichever of ``waits`` finishes first (the others are cancelled)."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        done, _ = await asyncio.wait(
            tasks, timeout=scaled(seconds), return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            raise TimeoutError(f"none of {len(tasks)} waits finished within {seconds} s")
        return next(iter(done)).result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def send_once(customer: CustomerClient, text: str) -> Message | None:
    """What a careful script does: send; on a failure that may have acted without the
    SDK retrying it, look before sending again. ``None``: it was stored after all."""
    while True:
        try:
            return await customer.send_message(text)
        except VilniusError as exc:
            if not exc.temporary:
                raise
            if exc.may_have_acted:
                history = await _history_once_back(customer)
                if text in [m.content for m in history if m.sender is Sender.VISITOR]:
                    return None


async def _history_once_back(customer: CustomerClient) -> list[Message]:
    """``history()``, asked again while the server is away (a temporary failure: it is
    being restarted); the look must not be skipped, or the send is repeated blind."""
    while True:
        try:
            return await customer.history()
        except VilniusError as exc:
            if not exc.temporary:
                raise
            await asyncio.sleep(0.1)  # pacing the looks, not waiting for an event
