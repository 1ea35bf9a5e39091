"""What the tests of production's agent endpoints share: a seeded server, logins, a chat.

The server plays production (``profile="lizdeika"``) with an agent, a second agent, an
admin, and ``SETTINGS``: two categories and an archived one, three templates (one
inactive), one suggestion text, and a categoriser that needs no quiet time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mock_server import AgentUser, RunningServer, ServerConfig, serve
from mock_server.production_settings import CategorySeed, ProductionSettings, TemplateSeed
from tests.server.helpers import Api, Recorder

AGENT = AgentUser("ada@example.com", "ada-password", "Ada Lovelace")
OTHER = AgentUser("bob@example.com", "bob-password", "Bob Builder")
ADMIN = AgentUser("root@example.com", "root-password", "Root Admin", role="admin")

SUGGESTION = "Thanks! Let me look into that for you."

SETTINGS = ProductionSettings(
    suggestions=(SUGGESTION,),
    categories=(
        CategorySeed("Billing", "invoice payment refund", "#FF0000"),
        CategorySeed("Shipping", "delivery parcel courier", "#00FF00"),
        CategorySeed("Legacy", archived=True),
    ),
    templates=(
        TemplateSeed("Greeting", "Hello! How can I help?"),
        TemplateSeed("Closing", "Glad to help. Goodbye!"),
        TemplateSeed("Retired", "We no longer say this.", active=False),
    ),
    categorization_idle_minutes=0,
    categorization_min_messages=3,
)


def production_config(**changes: Any) -> ServerConfig:
    """An in-memory production server with the users and ``SETTINGS`` above."""
    settings: dict[str, Any] = {
        "port": 0,
        "db": ":memory:",
        "profile": "lizdeika",
        "agent_users": (AGENT, OTHER, ADMIN),
        "message_rate_limit": "off",
        "production": SETTINGS,
        **changes,
    }
    return ServerConfig(**settings)


@dataclass
class Login:
    """An agent user's login: its id (the user's UUID) and tokens."""

    id: str
    access: str
    refresh: str


async def login(api: Api, user: AgentUser = AGENT) -> Login:
    """Log ``user`` in."""
    reply = await api.post("/api/auth/login", {"email": user.email, "password": user.password})
    assert reply.status == 200, reply.body
    data = reply.body["data"]
    return Login(data["user"]["id"], data["tokens"]["accessToken"], data["tokens"]["refreshToken"])


def session_id() -> str:
    """A conversation id as production's widget makes them."""
    return "session-" + uuid.uuid4().hex[:12]


async def customer_says(api: Api, conversation_id: str, text: str) -> dict[str, Any]:
    """Post a customer message; return the answer."""
    reply = await api.post("/api/messages", {"conversationId": conversation_id, "message": text})
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body
    return body


@asynccontextmanager
async def production(**changes: Any) -> AsyncIterator[RunningServer]:
    """A running production server (``production_config``)."""
    async with serve(config=production_config(**changes)) as running:
        yield running


@asynccontextmanager
async def dashboard(url: str, agent_id: str) -> AsyncIterator[Recorder]:
    """A production dashboard socket joined as ``agent_id``."""
    rec = Recorder()
    await rec.connect(url)
    try:
        await rec.client.emit("join-agent-dashboard", agent_id)
        await rec.wait_for("connected-agents-update")
        yield rec
    finally:
        await rec.close()
