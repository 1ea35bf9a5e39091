"""pytest plugin: the reference server and connected clients as fixtures.

Installed with the package and registered as the pytest plugin ``vilnius``, so
a project that depends on ``vilnius-client`` can write::

    async def test_bot_answers(vilnius_server, agent_client, customer_client):
        bot = await agent_client("bot-1")
        customer = await customer_client()
        async with bot.stream("new-message") as messages:
            await customer.send_message("hello")
            event = await anext(messages)
        assert event.message.content == "hello"

Fixtures (all function-scoped, each test gets a fresh server and database):

* ``vilnius_server``: the reference server in-process on a free loopback port,
  ``auth="none"``, in-memory SQLite (a :class:`mock_server.RunningServer`:
  ``.url``, ``.faults``, ``.stop()``, ``.start()``), playing the profile
  ``vilnius_profile`` names.
* ``vilnius_profile``: ``"vilnius"`` (CONTRACT.md, the default) or ``"lizdeika"``
  (production's behaviour). Override it in a ``conftest.py``, or per test with
  ``@pytest.mark.parametrize("vilnius_profile", ["vilnius", "lizdeika"])``. A
  ``lizdeika`` server has the agent user :data:`TEST_AGENT_EMAIL` /
  :data:`TEST_AGENT_PASSWORD` and production's limit of 10 customer messages
  per minute (the SDK waits a refused message out: keep tests under it).
* ``vilnius_token_server``: the same with ``auth="token"`` and the agent key
  ``"test-key"`` (:data:`TEST_AGENT_KEY`).
* ``agent_client``: ``await agent_client(agent_id=None, **options)`` returns a
  connected :class:`~vilnius_client.AgentClient` on ``vilnius_server`` (pass
  ``url=`` for another server); closed after the test. Without an ``agent_id``
  or credentials it is ``"agent-1"`` on a ``vilnius`` server and the logged-in
  :data:`TEST_AGENT_EMAIL` on a ``lizdeika`` one, so one test runs on both.
* ``customer_client``: ``await customer_client(**options)`` returns a started
  :class:`~vilnius_client.CustomerClient` on ``vilnius_server``; closed after
  the test.

The async fixtures need pytest-asyncio (any mode); the clients use short
reconnection delays suited to tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from .agent import AgentClient
from .customer import CustomerClient

if TYPE_CHECKING:
    from mock_server import RunningServer

F = TypeVar("F", bound=Callable[..., Any])

try:
    import pytest_asyncio

    _fixture: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - without pytest-asyncio only the docs above apply
    _fixture = pytest.fixture


def _async_fixture(fn: F) -> F:
    """``pytest_asyncio.fixture`` (works in strict and auto mode), typed."""
    return cast(F, _fixture(fn))


__all__ = [
    "TEST_AGENT_EMAIL",
    "TEST_AGENT_KEY",
    "TEST_AGENT_PASSWORD",
    "AgentFactory",
    "CustomerFactory",
    "agent_client",
    "customer_client",
    "vilnius_profile",
    "vilnius_server",
    "vilnius_token_server",
]

TEST_AGENT_KEY = "test-key"
"""The agent key of ``vilnius_token_server``."""

TEST_AGENT_EMAIL = "agent@example.com"
"""The agent user of a ``lizdeika`` server (log in with :data:`TEST_AGENT_PASSWORD`)."""

TEST_AGENT_PASSWORD = "test-password"
"""The password of :data:`TEST_AGENT_EMAIL`."""

AgentFactory = Callable[..., Awaitable[AgentClient]]
"""``await factory(agent_id=None, *, url=None, **options) -> AgentClient``."""

CustomerFactory = Callable[..., Awaitable[CustomerClient]]
"""``await factory(*, url=None, **options) -> CustomerClient``."""

#: Fast reconnects: the server is local.
_TEST_OPTIONS: dict[str, Any] = {"reconnection_delay": 0.05, "max_reconnection_delay": 0.5}


@pytest.fixture
def vilnius_profile() -> str:
    """The profile ``vilnius_server`` plays: ``"vilnius"``; override it for ``"lizdeika"``."""
    return "vilnius"


@_async_fixture
async def vilnius_server(vilnius_profile: str) -> AsyncIterator[RunningServer]:
    """The reference server, ``auth="none"``, in-memory database, free loopback port."""
    from mock_server import AgentUser, serve  # imported late: loading the plugin stays cheap

    async with serve(
        host="127.0.0.1",
        port=0,
        db=":memory:",
        auth="none",
        profile=cast(Any, vilnius_profile),
        agent_users=[AgentUser(TEST_AGENT_EMAIL, TEST_AGENT_PASSWORD, "Test Agent")],
    ) as server:
        yield server


@_async_fixture
async def vilnius_token_server() -> AsyncIterator[RunningServer]:
    """The reference server, ``auth="token"``, agent key :data:`TEST_AGENT_KEY`."""
    from mock_server import serve

    async with serve(
        host="127.0.0.1", port=0, db=":memory:", auth="token", agent_key=TEST_AGENT_KEY
    ) as server:
        yield server


_CREDENTIALS = frozenset({"agent_key", "token", "email", "password", "credentials"})


@_async_fixture
async def agent_client(
    vilnius_server: RunningServer, vilnius_profile: str
) -> AsyncIterator[AgentFactory]:
    """A factory of connected :class:`AgentClient` objects, closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            agent_id: str | None = None, *, url: str | None = None, **options: Any
        ) -> AgentClient:
            who: dict[str, Any] = {"agent_id": agent_id}
            if agent_id is None and not _CREDENTIALS & options.keys():
                if url is None and vilnius_profile == "lizdeika":
                    who = {"email": TEST_AGENT_EMAIL, "password": TEST_AGENT_PASSWORD}
                else:
                    who = {"agent_id": "agent-1"}
            client = AgentClient(url or vilnius_server.url, **who, **{**_TEST_OPTIONS, **options})
            return await stack.enter_async_context(client)

        yield make


@_async_fixture
async def customer_client(vilnius_server: RunningServer) -> AsyncIterator[CustomerFactory]:
    """A factory of started :class:`CustomerClient` objects, closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(*, url: str | None = None, **options: Any) -> CustomerClient:
            client = CustomerClient(url or vilnius_server.url, **{**_TEST_OPTIONS, **options})
            return await stack.enter_async_context(client)

        yield make
