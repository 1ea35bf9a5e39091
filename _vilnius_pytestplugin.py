"""The pytest plugin ``vilnius``: the reference server and connected clients as fixtures.

pytest loads this module in every run of every project that installed
vilnius-client (the ``pytest11`` entry point), so it imports nothing of the
SDK or the server until a test asks for one of its fixtures: a test suite that
uses none pays nothing. It stands outside the ``vilnius_client`` package for
that reason (importing ``vilnius_client.testing`` would run the package's
``__init__``), as hypothesis's ``_hypothesis_pytestplugin`` does.

The fixtures are documented, and their helpers exported, in
`vilnius_client.testing`. A test that uses one without the ``testing`` extra
(pytest-asyncio and the reference server's modules) fails at setup with one line
that names the extra, as the command-line tools do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from mock_server import RunningServer
    from vilnius_client import AgentClient, CustomerClient
    from vilnius_client.testing import AgentFactory, CustomerFactory

F = TypeVar("F", bound=Callable[..., Any])

try:
    import pytest_asyncio

    _fixture: Any = pytest_asyncio.fixture
except ImportError:  # without pytest-asyncio the fixtures fail, naming the extra
    _fixture = pytest.fixture


def _async_fixture(fn: F) -> F:
    """``pytest_asyncio.fixture`` (works in strict and auto mode), typed."""
    return cast(F, _fixture(fn))


__all__ = [
    "vilnius_agent",
    "vilnius_customer",
    "vilnius_profile",
    "vilnius_server",
    "vilnius_token_server",
]

#: Fast reconnects: the server is local.
_TEST_OPTIONS: dict[str, Any] = {"reconnection_delay": 0.05, "max_reconnection_delay": 0.5}

_CREDENTIALS = frozenset({"agent_key", "token", "email", "password", "credentials"})

_FIXTURES = ("vilnius_server", "vilnius_token_server", "vilnius_agent", "vilnius_customer")

_SERVER_MODULES = ("aiosqlite", "jwt", "pyotp")
"""What the ``server`` extra brings that the fixtures' reference server imports."""


def _missing_testing_extra(config: pytest.Config) -> str | None:
    """What of the ``testing`` extra this run lacks, in words (``None``: nothing)."""
    import importlib

    if _fixture is pytest.fixture:
        return "pytest-asyncio is not installed"
    if not config.pluginmanager.hasplugin("asyncio"):
        return "pytest-asyncio is installed but not active (-p no:asyncio?)"
    for module in _SERVER_MODULES:
        try:
            importlib.import_module(module)  # the fixtures' server imports it anyway
        except ImportError:
            return f"no module named {module!r}"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test that uses the fixtures without the ``testing`` extra, in one line."""
    used = [name for name in _FIXTURES if name in getattr(item, "fixturenames", ())]
    if not used:
        return
    problem = _missing_testing_extra(item.config)
    if problem is not None:
        from vilnius_client._scripts import install_hint

        pytest.fail(
            f"{used[0]} needs the 'testing' extra ({problem}); install it with:"
            f" {install_hint('testing')}",
            pytrace=False,
        )


class _Servers:
    """The reference servers of one test, each started the first time it is asked for."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self._stack = contextlib.AsyncExitStack()
        self._open: RunningServer | None = None
        self._token: RunningServer | None = None

    async def open(self) -> RunningServer:
        """The server without auth, playing ``profile`` (``vilnius_server``)."""
        if self._open is None:
            from mock_server import AgentUser, serve
            from vilnius_client.testing import TEST_AGENT_EMAIL, TEST_AGENT_PASSWORD

            self._open = await self._stack.enter_async_context(
                serve(
                    host="127.0.0.1",
                    port=0,
                    db=":memory:",
                    auth="none",
                    profile=cast(Any, self.profile),
                    agent_users=[AgentUser(TEST_AGENT_EMAIL, TEST_AGENT_PASSWORD, "Test Agent")],
                )
            )
        return self._open

    async def token(self) -> RunningServer:
        """The server in token mode (``vilnius_token_server``)."""
        if self._token is None:
            from mock_server import serve
            from vilnius_client.testing import TEST_AGENT_KEY

            self._token = await self._stack.enter_async_context(
                serve(
                    host="127.0.0.1", port=0, db=":memory:", auth="token", agent_key=TEST_AGENT_KEY
                )
            )
        return self._token

    async def aclose(self) -> None:
        await self._stack.aclose()


@pytest.fixture
def vilnius_profile() -> str:
    """The profile ``vilnius_server`` plays: ``"vilnius"``; override it for ``"lizdeika"``."""
    return "vilnius"


@_async_fixture
async def _vilnius_servers(vilnius_profile: str) -> AsyncIterator[_Servers]:
    servers = _Servers(vilnius_profile)
    try:
        yield servers
    finally:
        await servers.aclose()


@_async_fixture
async def vilnius_server(_vilnius_servers: _Servers) -> RunningServer:
    """The reference server, ``auth="none"``, in-memory database, free loopback port."""
    return await _vilnius_servers.open()


@_async_fixture
async def vilnius_token_server(_vilnius_servers: _Servers) -> RunningServer:
    """The reference server, ``auth="token"``, agent key ``TEST_AGENT_KEY``."""
    return await _vilnius_servers.token()


@_async_fixture
async def vilnius_agent(_vilnius_servers: _Servers) -> AsyncIterator[AgentFactory]:
    """A factory of connected ``AgentClient`` objects, disconnected after the test."""
    from vilnius_client import AgentClient
    from vilnius_client.testing import TEST_AGENT_EMAIL, TEST_AGENT_KEY, TEST_AGENT_PASSWORD

    async with contextlib.AsyncExitStack() as stack:

        async def make(
            agent_id: str | None = None,
            *,
            url: str | None = None,
            auth: Literal["token"] | None = None,
            **options: Any,
        ) -> AgentClient:
            who: dict[str, Any] = {"agent_id": agent_id}
            if auth == "token":
                url = url or (await _vilnius_servers.token()).url
                who = {"agent_id": agent_id or "agent-1", "agent_key": TEST_AGENT_KEY}
            elif agent_id is None and not _CREDENTIALS & options.keys():
                if url is None and _vilnius_servers.profile == "lizdeika":
                    who = {"email": TEST_AGENT_EMAIL, "password": TEST_AGENT_PASSWORD}
                else:
                    who = {"agent_id": "agent-1"}
            url = url or (await _vilnius_servers.open()).url
            client = AgentClient(url, **who, **{**_TEST_OPTIONS, **options})
            return await stack.enter_async_context(client)

        yield make


@_async_fixture
async def vilnius_customer(_vilnius_servers: _Servers) -> AsyncIterator[CustomerFactory]:
    """A factory of started ``CustomerClient`` objects, disconnected after the test."""
    from vilnius_client import CustomerClient

    async with contextlib.AsyncExitStack() as stack:

        async def make(
            *, url: str | None = None, auth: Literal["token"] | None = None, **options: Any
        ) -> CustomerClient:
            if url is None:
                server = _vilnius_servers.token() if auth == "token" else _vilnius_servers.open()
                url = (await server).url
            client = CustomerClient(url, **{**_TEST_OPTIONS, **options})
            return await stack.enter_async_context(client)

        yield make
