"""The pytest plugin's fixtures (vilnius_client.testing), used as a project would use them."""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from vilnius_client import Event
from vilnius_client.testing import (
    TEST_AGENT_EMAIL,
    TEST_AGENT_KEY,
    TEST_AGENT_PASSWORD,
    AgentFactory,
    CustomerFactory,
)


@pytest.mark.parametrize("vilnius_profile", ["vilnius", "lizdeika"])
async def test_clients_meet_on_the_reference_server(
    vilnius_server: RunningServer,
    vilnius_agent: AgentFactory,
    vilnius_customer: CustomerFactory,
) -> None:
    bot = await vilnius_agent()
    customer = await vilnius_customer(visitor_id="v-1")
    assert bot.get_connection_status().connected
    assert bot.manager.url == vilnius_server.url
    async with bot.stream(Event.NEW_MESSAGE) as messages:
        await customer.send_message("hello")
        event = await asyncio.wait_for(anext(messages), scaled(5))
    assert event.message.content == "hello"
    assert customer.conversation_id == event.conversation_id


async def test_the_factories_reach_the_token_server(
    vilnius_token_server: RunningServer,
    vilnius_agent: AgentFactory,
    vilnius_customer: CustomerFactory,
) -> None:
    bot = await vilnius_agent("bot-1", auth="token")
    customer = await vilnius_customer(auth="token")
    assert bot.manager.url == customer.manager.url == vilnius_token_server.url
    assert vilnius_token_server.agent_key == TEST_AGENT_KEY
    async with bot.stream(Event.NEW_MESSAGE) as messages:
        await customer.send_message("in token mode")
        event = await asyncio.wait_for(anext(messages), scaled(5))
    assert event.message.content == "in token mode"
    assert customer.token is not None


async def test_a_factory_given_a_url_starts_no_server(
    vilnius_agent: AgentFactory, request: pytest.FixtureRequest
) -> None:
    from mock_server import serve

    async with serve(host="127.0.0.1", port=0, db=":memory:", auth="none") as elsewhere:
        bot = await vilnius_agent("bot-2", url=elsewhere.url)
        assert bot.get_connection_status().connected
    servers = request.getfixturevalue("_vilnius_servers")
    assert servers._open is None
    assert servers._token is None


@pytest.mark.parametrize("vilnius_profile", ["lizdeika"])
async def test_plugin_server_plays_production(vilnius_server: RunningServer) -> None:
    """``vilnius_profile`` switches the fixture server to production's behaviour."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{vilnius_server.url}/health") as reply:
            assert "contract" not in await reply.json()
        credentials = {"email": TEST_AGENT_EMAIL, "password": TEST_AGENT_PASSWORD}
        async with http.post(f"{vilnius_server.url}/api/auth/login", json=credentials) as reply:
            assert reply.status == 200


def test_loading_the_plugin_imports_nothing_of_the_sdk(tmp_path: Path) -> None:
    """Every pytest run of a project with vilnius-client installed loads the plugin."""
    (tmp_path / "test_unrelated.py").write_text(
        "import sys\n\n"
        "def test_nothing_was_imported():\n"
        "    assert '_vilnius_pytestplugin' in sys.modules\n"
        "    ours = {m.split('.')[0] for m in sys.modules} & {'vilnius_client', 'mock_server'}\n"
        "    assert ours == set()\n"
    )
    autoloaded = any(
        entry.value == "_vilnius_pytestplugin"
        for entry in importlib.metadata.entry_points(group="pytest11")
    )
    assert autoloaded, "pip install -e . registers the plugin"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
