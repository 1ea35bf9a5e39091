"""Testing a bot with the fixtures of the ``vilnius`` pytest plugin.

The plugin comes with the package (``pip install "vilnius-client[testing]"``) and
gives every test fresh reference servers on free loopback ports:
``vilnius_server`` (no auth), ``vilnius_token_server`` (token auth, agent key
``"test-key"``), and the factories ``vilnius_agent`` / ``vilnius_customer`` of
connected clients, disconnected after the test. Run with
``pytest examples/pytest_example``; copied anywhere, it runs the same (its
``pytest.ini`` keeps pytest-asyncio in its default, strict mode, so each async
test carries ``@pytest.mark.asyncio``).
"""

from __future__ import annotations

import asyncio

import pytest
from support_bot import answer, attach

from mock_server import RunningServer
from vilnius_client import CustomerClient, Event
from vilnius_client.testing import AgentFactory, CustomerFactory

TIMEOUT = 5.0


async def ask(customer: CustomerClient, text: str) -> str:
    """Send ``text`` as the customer and return the first agent reply."""
    async with customer.stream(Event.AGENT_MESSAGE) as replies:  # subscribe, then send
        await customer.send_message(text)
        reply = await asyncio.wait_for(anext(replies), TIMEOUT)
    return reply.message.content


@pytest.mark.asyncio
async def test_bot_looks_up_an_order(
    vilnius_agent: AgentFactory, vilnius_customer: CustomerFactory
) -> None:
    attach(await vilnius_agent("support-bot"))
    customer = await vilnius_customer(visitor_id="alice")
    await customer.start_conversation()

    assert await ask(customer, "Where is my order #1042?") == "Order #1042 is shipped on Monday."
    assert "can't find order #9" in await ask(customer, "And #9?")


@pytest.mark.asyncio
async def test_bot_shows_a_typing_indicator(
    vilnius_agent: AgentFactory, vilnius_customer: CustomerFactory
) -> None:
    attach(await vilnius_agent("support-bot"))
    customer = await vilnius_customer()
    await customer.start_conversation()

    async with customer.stream(Event.AGENT_TYPING_STATUS) as typing:
        await customer.send_message("hello")
        first = await asyncio.wait_for(anext(typing), TIMEOUT)
    assert first.is_typing


@pytest.mark.asyncio
async def test_bot_answers_after_a_server_restart(
    vilnius_server: RunningServer, vilnius_agent: AgentFactory, vilnius_customer: CustomerFactory
) -> None:
    bot = await vilnius_agent("support-bot")
    attach(bot)
    customer = await vilnius_customer()
    await customer.start_conversation()

    await vilnius_server.stop()  # every socket drops, as in a crash; the database is kept
    await vilnius_server.start()

    # Sent before the bot has necessarily reconnected: it is caught up either way.
    assert await ask(customer, "#2077?") == "Order #2077 is waiting for stock."


@pytest.mark.asyncio
async def test_bot_in_token_mode(
    vilnius_agent: AgentFactory, vilnius_customer: CustomerFactory
) -> None:
    attach(await vilnius_agent("support-bot", auth="token"))  # the test agent key
    customer = await vilnius_customer(auth="token")
    await customer.start_conversation()
    assert await ask(customer, "#1042") == "Order #1042 is shipped on Monday."


@pytest.mark.parametrize("text", ["hi", "what about my parcel"])
def test_answer_without_an_order_number(text: str) -> None:
    assert "order number" in answer(text)
