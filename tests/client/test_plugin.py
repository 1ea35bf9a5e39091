"""The pytest plugin's fixtures (vilnius_client.testing), used as a project would use them."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from vilnius_client.testing import (  # noqa: F401 - fixtures, found by pytest by name
    TEST_AGENT_KEY,
    AgentFactory,
    CustomerFactory,
    agent_client,
    customer_client,
    vilnius_profile,
    vilnius_server,
    vilnius_token_server,
)


@pytest.mark.parametrize("vilnius_profile", ["vilnius", "lizdeika"])
async def test_clients_meet_on_the_reference_server(
    vilnius_server: RunningServer,  # noqa: F811
    agent_client: AgentFactory,  # noqa: F811
    customer_client: CustomerFactory,  # noqa: F811
) -> None:
    bot = await agent_client()
    customer = await customer_client(visitor_id="v-1")
    assert bot.get_connection_status().connected
    async with bot.stream("new-message") as messages:
        await customer.send_message("hello")
        event = await asyncio.wait_for(anext(messages), scaled(5))
    assert event.message.content == "hello"
    assert customer.conversation_id == event.conversation_id


async def test_token_server_fixture(
    vilnius_token_server: RunningServer,  # noqa: F811
    agent_client: AgentFactory,  # noqa: F811
) -> None:
    bot = await agent_client("bot-1", url=vilnius_token_server.url, agent_key=TEST_AGENT_KEY)
    assert bot.get_connection_status().connected
    assert vilnius_token_server.agent_key == TEST_AGENT_KEY


@pytest.mark.parametrize("vilnius_profile", ["lizdeika"])
async def test_plugin_server_plays_production(vilnius_server: RunningServer) -> None:  # noqa: F811
    """``vilnius_profile`` switches the fixture server to production's behaviour."""
    from vilnius_client.testing import TEST_AGENT_EMAIL, TEST_AGENT_PASSWORD

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{vilnius_server.url}/health") as reply:
            assert "contract" not in await reply.json()
        credentials = {"email": TEST_AGENT_EMAIL, "password": TEST_AGENT_PASSWORD}
        async with http.post(f"{vilnius_server.url}/api/auth/login", json=credentials) as reply:
            assert reply.status == 200
