"""pytest plugin: the reference server and connected clients as fixtures.

Installed with the package and registered as the pytest plugin ``vilnius``
(the module ``_vilnius_pytestplugin``, which imports nothing of the SDK until
a fixture is used), so a project that depends on ``vilnius-client[testing]``
can write:

```python
@pytest.mark.asyncio  # not needed with pytest-asyncio's asyncio_mode = "auto"
async def test_bot_answers(vilnius_agent, vilnius_customer):
    bot = await vilnius_agent("bot-1")
    customer = await vilnius_customer()
    async with bot.stream(Event.NEW_MESSAGE) as messages:
        await customer.send_message("hello")
        event = await anext(messages)
    assert event.message.content == "hello"
```

Fixtures (all function-scoped: each test gets fresh servers and databases; a
server is started only when a test uses it):

* ``vilnius_server``: the reference server in-process on a free loopback port,
  ``auth="none"``, in-memory SQLite (a ``mock_server.RunningServer``:
  ``.url``, ``.faults``, ``.stop()``, ``.start()``), playing the profile
  ``vilnius_profile`` names.
* ``vilnius_profile``: ``"vilnius"`` (our contract, the default) or
  ``"lizdeika"`` (production's behaviour). Override it in a ``conftest.py``,
  or per test with ``@pytest.mark.parametrize("vilnius_profile", ["vilnius", "lizdeika"])``.
  A ``lizdeika`` server has the agent user
  [`TEST_AGENT_EMAIL`][vilnius_client.testing.TEST_AGENT_EMAIL] /
  [`TEST_AGENT_PASSWORD`][vilnius_client.testing.TEST_AGENT_PASSWORD] and
  production's limit of 10 customer messages per minute (the SDK waits a
  refused message out: keep tests under it).
* ``vilnius_token_server``: the same with ``auth="token"`` and the agent key
  [`TEST_AGENT_KEY`][vilnius_client.testing.TEST_AGENT_KEY].
* ``vilnius_agent``: ``await vilnius_agent(agent_id=None, *, url=None, auth=None, **options)``
  returns a connected [`AgentClient`][vilnius_client.AgentClient], disconnected
  after the test (an [`AgentFactory`][vilnius_client.testing.AgentFactory]).
  Without ``url`` it connects to ``vilnius_server``; ``auth="token"`` targets
  ``vilnius_token_server`` with the test key; ``url=`` any other server (and
  starts none). Without an ``agent_id`` or credentials it is ``"agent-1"``,
  or on a ``lizdeika`` server the logged-in test agent, so one test runs on both.
* ``vilnius_customer``: ``await vilnius_customer(*, url=None, auth=None, **options)``
  returns a started [`CustomerClient`][vilnius_client.CustomerClient],
  disconnected after the test (a [`CustomerFactory`][vilnius_client.testing.CustomerFactory]),
  on the same servers as ``vilnius_agent``.

The async fixtures need pytest-asyncio, in either mode: in ``strict`` mode (its
default) mark each async test with ``@pytest.mark.asyncio``, in ``auto`` mode
nothing is needed. The clients use short reconnection delays suited to tests.

For a bot's reply latency under load, [`measure_replies`][vilnius_client.testing.measure_replies]
runs ``vilnius-sim --bot external`` from a test (it needs the ``sim`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

from _vilnius_pytestplugin import (
    vilnius_agent,
    vilnius_customer,
    vilnius_profile,
    vilnius_server,
    vilnius_token_server,
)

if TYPE_CHECKING:
    from .agent import AgentClient
    from .customer import CustomerClient
    from .sim import Conversation, Report

__all__ = [
    "TEST_AGENT_EMAIL",
    "TEST_AGENT_KEY",
    "TEST_AGENT_PASSWORD",
    "AgentFactory",
    "CustomerFactory",
    "measure_replies",
    "vilnius_agent",
    "vilnius_customer",
    "vilnius_profile",
    "vilnius_server",
    "vilnius_token_server",
]

TEST_AGENT_KEY = "test-key"
"""The agent key of ``vilnius_token_server``."""

TEST_AGENT_EMAIL = "agent@example.com"
"""The agent user of a ``lizdeika`` server (log in with ``TEST_AGENT_PASSWORD``)."""

TEST_AGENT_PASSWORD = "test-password"
"""The password of ``TEST_AGENT_EMAIL``."""


class AgentFactory(Protocol):
    """The ``vilnius_agent`` fixture: makes connected agent clients."""

    async def __call__(
        self,
        agent_id: str | None = None,
        *,
        url: str | None = None,
        auth: Literal["token"] | None = None,
        **options: Any,
    ) -> AgentClient:
        """A connected client (see the module docstring for the defaults)."""
        ...


class CustomerFactory(Protocol):
    """The ``vilnius_customer`` fixture: makes started customer clients."""

    async def __call__(
        self, *, url: str | None = None, auth: Literal["token"] | None = None, **options: Any
    ) -> CustomerClient:
        """A started client."""
        ...


async def measure_replies(
    url: str,
    *,
    customers: int = 5,
    messages: int | None = None,
    rate: float = 10.0,
    reply_deadline: float = 5.0,
    conversation: Conversation | None = None,
    **settings: Any,
) -> Report:
    """Load the bot that answers at ``url`` with customers, and measure its replies.

    What ``vilnius-sim --bot external`` does, from a test: no simulated agents; each customer
    writes, waits for the first agent reply in its conversation (or ``reply_deadline``),
    and writes again. The report's ``replies`` has the time to the first reply (p50, p95,
    p99, max), the messages unanswered and those answered twice; thresholds given in
    ``settings`` (``max_reply_p95_ms``, ``max_unanswered``, 0 by default) make
    ``report.ok`` false and ``report.failures`` say why.

    Example:
        ```python
        report = await measure_replies(vilnius_server.url, customers=10, max_reply_p95_ms=500)
        assert report.ok, report.table()
        ```

    Args:
        url: The server the bot under test answers on.
        customers: Customers talking at once (each with its own conversation).
        messages: Messages in all, spread over the customers (default: 20, unless a
            ``duration``, ``stages`` or ``arrivals`` setting says how long to go on).
        rate: Messages per second, all customers together (a customer still waits for the
            answer to its last message before writing again).
        reply_deadline: Seconds a reply may take before its message counts as unanswered.
        conversation: What each customer does instead (``async def f(customer)``), with
            ``stages`` or ``arrivals``; see the simulator guide.
        **settings: Any other [SimConfig][vilnius_client.sim.SimConfig] field
            (``stages``, ``think_time``, ``max_reply_p95_ms``...).

    Returns:
        The [Report][vilnius_client.sim.Report]; ``report.replies`` holds the figures.

    Raises:
        ModuleNotFoundError: The ``sim`` extra is not installed.
    """
    try:
        from .sim import SimConfig, Simulation
    except ModuleNotFoundError as exc:  # hdrh, the simulator's histograms
        from ._scripts import install_hint

        raise ModuleNotFoundError(
            f"measure_replies needs the simulator ({exc}); install it with: {install_hint('sim')}"
        ) from exc
    if messages is None and not settings.keys() & {"duration", "stages", "arrivals"}:
        messages = 20
    config = SimConfig(
        bot="external",
        customers=customers,
        messages=messages,
        rate=rate,
        reply_deadline=reply_deadline,
        **settings,
    )
    return await Simulation(url, config, conversation=conversation).run()
