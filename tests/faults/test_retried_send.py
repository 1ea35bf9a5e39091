"""A send whose answer is lost is retried with the same Idempotency-Key and stored once.

The server's fault hooks (``server.faults``) process and store a POST, then
close the connection without answering (``drop_responses``), or answer 503
without processing (``fail_requests``). The client cannot tell whether the
message was stored, retries, and the server's idempotency store turns the
retry into the first answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mock_server import RunningServer
from tests.faults.timing import scaled
from vilnius_client import AgentClient, CustomerClient, RestClient, Sender

FAST_RETRY: dict[str, Any] = {"reconnection_delay": 0.05, "max_reconnection_delay": 0.5}


async def test_customer_send_after_dropped_response_is_stored_once(
    server: RunningServer,
) -> None:
    async with CustomerClient(server.url, visitor_id="v-drop", **FAST_RETRY) as customer:
        await customer.start_conversation()
        server.faults.drop_responses = 1
        answer = await asyncio.wait_for(customer.send_message("exactly once"), scaled(10))
        assert server.faults.drop_responses == 0, "the fault never fired: nothing was retried"
        history = await customer.history()

    visitor = [m for m in history if m.sender == Sender.VISITOR]
    assert [m.content for m in visitor] == ["exactly once"]
    assert visitor[0].id == answer.user_message.id
    assert visitor[0].seq == answer.user_message.seq


async def test_first_send_creating_the_conversation_is_retried_once(
    server: RunningServer,
) -> None:
    async with CustomerClient(server.url, visitor_id="v-first", **FAST_RETRY) as customer:
        server.faults.drop_responses = 1
        answer = await asyncio.wait_for(customer.send_message("hello"), scaled(10))
        assert server.faults.drop_responses == 0
        history = await customer.history()

    assert customer.conversation_id == answer.conversation_id
    assert [m.content for m in history if m.sender == Sender.VISITOR] == ["hello"]
    async with RestClient(server.url) as rest:
        conversations = (await rest.admin_conversations()).conversations
    assert [c.id for c in conversations if c.visitor_id == "v-first"] == [answer.conversation_id]


async def test_several_dropped_and_failed_answers_still_store_once(
    server: RunningServer,
) -> None:
    async with CustomerClient(server.url, visitor_id="v-many", **FAST_RETRY) as customer:
        await customer.start_conversation()
        server.faults.drop_responses = 2
        server.faults.fail_requests = 1
        await asyncio.wait_for(customer.send_message("one"), scaled(15))
        assert server.faults.drop_responses == 0
        assert server.faults.fail_requests == 0
        await customer.send_message("two")
        history = await customer.history()

    assert [m.content for m in history if m.sender == Sender.VISITOR] == ["one", "two"]


async def test_agent_respond_after_dropped_response_is_stored_once(
    server: RunningServer,
) -> None:
    async with (
        CustomerClient(server.url, visitor_id="v-agent", **FAST_RETRY) as customer,
        AgentClient(server.url, agent_id="bot-drop", **FAST_RETRY) as agent,
    ):
        conversation = await customer.start_conversation()
        server.faults.drop_responses = 1
        stored = await asyncio.wait_for(agent.respond(conversation.id, "answered once"), scaled(10))
        assert server.faults.drop_responses == 0
        history = await agent.messages(conversation.id)

    replies = [m for m in history if m.sender == Sender.AGENT]
    assert [m.content for m in replies] == ["answered once"]
    assert replies[0].id == stored.id
