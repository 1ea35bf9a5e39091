"""``examples/approval_bot.py``, run as a user runs it, against the server playing production.

The customers' replies arrive as the bot chose them, and production's statistics (read
back as its dashboard reads them) count one suggestion sent as-is and one edited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mock_server import RunningServer, serve
from tests.conftest import scaled
from tests.examples.helpers import Example
from tests.server.production_agent_support import (
    AGENT,
    OTHER,
    SUGGESTION,
    production_config,
)
from vilnius_client import AgentClient, CustomerClient, Event


@pytest.fixture
async def production() -> AsyncIterator[RunningServer]:
    async with serve(config=production_config()) as running:
        yield running


async def _ask(url: str, text: str) -> str:
    async with CustomerClient(url) as customer, customer.stream(Event.AGENT_MESSAGE) as replies:
        await customer.send_message(text)
        reply = await asyncio.wait_for(anext(replies), scaled(10))
    return reply.message.content


async def test_the_approval_bot_accepts_and_edits_and_production_counts_it(
    production: RunningServer,
) -> None:
    bot = await Example.start(
        "approval_bot.py",
        "--url",
        production.url,
        "--max-replies",
        "2",
        VILNIUS_EMAIL=AGENT.email,
        VILNIUS_PASSWORD=AGENT.password,
    )
    try:
        await bot.wait_for_line("reviewing suggestions")
        assert await _ask(production.url, "Hello, is anyone there?") == SUGGESTION
        edited = await _ask(production.url, "I want a refund")
        assert edited == f"{SUGGESTION} Refunds reach your account within 5 working days."
        assert await bot.finish() == 0, bot.output
    finally:
        await bot.kill()
    assert "[approval]  as-is" in bot.output
    assert "[approval] edited" in bot.output
    assert "2 suggestions, 1 as-is (50%), 1 edited (50%)" in bot.output
    # what production's statistics show, read by another agent
    async with AgentClient(production.url, email=OTHER.email, password=OTHER.password) as qa:
        overall = (await qa.rest.statistics_suggestions()).data
        assert (overall.total_suggestions, overall.sent_as_is, overall.edited) == (2, 1, 1)
        assert overall.from_scratch == 0
        dashboard = (await qa.rest.statistics_dashboard()).data
        assert dashboard.ai_suggestions.edited_percentage == 50
        assert dashboard.agents.top_agent is not None
        assert dashboard.agents.top_agent.message_count == 2
        assert dashboard.agents.top_agent.email == AGENT.email
