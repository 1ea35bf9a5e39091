"""The pytest helper for a bot's reply latency under load, as the simulator guide shows it
(the guide includes the section between the markers)."""

from __future__ import annotations

# --8<-- [start:helper]
import pytest

from mock_server import RunningServer
from vilnius_client import Event, NewMessageEvent, Sender
from vilnius_client.testing import AgentFactory, measure_replies


@pytest.mark.asyncio
async def test_the_bot_answers_ten_customers_within_two_seconds(
    vilnius_server: RunningServer, vilnius_agent: AgentFactory
) -> None:
    bot = await vilnius_agent("echo-bot")  # the bot under test: attach yours here

    @bot.on(Event.NEW_MESSAGE)
    async def answer(event: NewMessageEvent) -> None:
        if event.message.sender is Sender.VISITOR:
            await bot.respond(event.conversation_id, "You said: " + event.message.content)

    report = await measure_replies(
        vilnius_server.url, customers=10, messages=30, rate=30, max_reply_p95_ms=2000
    )

    assert report.ok, report.table()  # p95 within 2 s, nothing unanswered
    assert report.replies is not None
    assert report.replies.answered == 30
    # --8<-- [end:helper]
    assert report.replies.twice == report.replies.unanswered == 0
    assert report.replies.p50 <= report.replies.p95 <= report.replies.max


async def test_without_a_bot_every_customer_gives_up(vilnius_server: RunningServer) -> None:
    report = await measure_replies(vilnius_server.url, customers=2, reply_deadline=0.2)

    assert not report.ok
    assert report.replies is not None
    assert (report.replies.sent, report.replies.unanswered) == (2, 2)
    assert report.failures == ["unanswered messages (of 2, within 0.2 s) 2 > --max-unanswered 0"]
