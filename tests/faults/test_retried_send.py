"""A send whose answer is lost is never stored twice, on either server.

The server's fault hooks (``server.faults``) process and store a POST, then close
the connection without answering (``drop_responses``), or answer 503 without
processing (``fail_requests``). The client cannot tell whether the message was
stored. Where the server de-duplicates sends (``Idempotency-Key``, the contract)
the SDK retries under one key and the retry gets the first answer; where it does
not (production) the SDK does not repeat the send and says the server may have
acted (``may_have_acted``), and the caller reads the conversation before sending
again.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.deployments import Deployment, send_once
from tests.faults.timing import scaled
from vilnius_client import InternalServerError, Message, RestClient, Sender, VilniusError


async def test_customer_send_after_dropped_response_is_stored_once(
    deployment: Deployment,
) -> None:
    server = deployment.server
    async with deployment.customer(visitor_id="v-drop") as customer:
        await customer.start_conversation()
        server.faults.drop_responses = 1
        answer = await asyncio.wait_for(send_once(customer, "exactly once"), scaled(10))
        assert server.faults.drop_responses == 0, "the fault never fired"
        history = await customer.history()
        idempotent = customer.capabilities is not None and customer.capabilities.idempotency

    visitor = [m for m in history if m.sender is Sender.VISITOR]
    assert [m.content for m in visitor] == ["exactly once"]
    if idempotent:  # retried by the SDK, answered with the first answer
        assert answer is not None
        assert visitor[0].id == answer.id
        assert visitor[0].seq == answer.seq
    else:  # not repeated: the SDK said the server may have acted
        assert answer is None


async def test_first_send_creating_the_conversation_is_stored_once(
    deployment: Deployment,
) -> None:
    server = deployment.server
    async with deployment.customer(visitor_id="v-first") as customer:
        server.faults.drop_responses = 1
        if (await customer.rest.probe()).idempotency:
            answer = await asyncio.wait_for(customer.send_message("hello"), scaled(10))
            assert customer.conversation_id == answer.conversation_id
            history = await customer.history()
            assert [m.content for m in history if m.sender is Sender.VISITOR] == ["hello"]
        else:
            with pytest.raises(VilniusError) as caught:
                await asyncio.wait_for(customer.send_message("hello"), scaled(10))
            assert caught.value.may_have_acted is True
            assert customer.conversation_id is None, "no answer: the id is not taken"
        assert server.faults.drop_responses == 0
    async with RestClient(deployment.url) as rest:
        conversations = (await rest.admin_conversations()).conversations
        stored = [
            m
            for c in conversations
            for m in (await rest.conversation_messages(c.id)).messages
            if m.content == "hello"
        ]
    assert len(stored) == 1, "stored once (and not twice) whatever the client saw"


async def test_several_dropped_and_failed_answers_still_store_once(
    deployment: Deployment,
) -> None:
    server = deployment.server
    async with deployment.customer(visitor_id="v-many") as customer:
        await customer.start_conversation()
        server.faults.drop_responses = 2
        server.faults.fail_requests = 1
        for text in ("one", "one more", "two"):
            await asyncio.wait_for(send_once(customer, text), scaled(15))
        assert server.faults.drop_responses == server.faults.fail_requests == 0
        history = await customer.history()

    assert [m.content for m in history if m.sender is Sender.VISITOR] == ["one", "one more", "two"]


async def test_agent_respond_after_dropped_response_is_stored_once(
    deployment: Deployment,
) -> None:
    server = deployment.server
    async with (
        deployment.customer(visitor_id="v-agent") as customer,
        deployment.agent("bot") as agent,
    ):
        cid = (await customer.send_message("hi")).conversation_id
        server.faults.drop_responses = 1
        assert agent.capabilities is not None
        stored: Message | None = None
        if agent.capabilities.idempotency:  # retried under one key, first answer returned
            stored = await asyncio.wait_for(agent.respond(cid, "answered once"), scaled(10))
        else:  # not repeated: it may have been stored
            with pytest.raises(VilniusError) as caught:
                await asyncio.wait_for(agent.respond(cid, "answered once"), scaled(10))
            assert caught.value.may_have_acted is True
        assert server.faults.drop_responses == 0
        server.faults.fail_requests = 1
        if agent.capabilities is not None and not agent.capabilities.idempotency:
            with pytest.raises(InternalServerError) as unavailable:
                await agent.respond(cid, "after a 503")
            assert unavailable.value.may_have_acted is True
        history = await agent.history(cid)

    replies = [m for m in history if m.sender is Sender.AGENT]
    assert [m.content for m in replies] == ["answered once"]
    if stored is not None:
        assert replies[0].id == stored.id
