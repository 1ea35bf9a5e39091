"""RestClient against the reference server: every call of CONTRACT §6, typed; errors mapped."""

from __future__ import annotations

import pytest

from mock_server import RunningServer
from vilnius_client.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    InternalServerError,
    InvalidPayloadError,
    NotFoundError,
)
from vilnius_client.events import (
    AgentRespondResponse,
    AgentStatus,
    AgentTokenResponse,
    AllMessagesResponse,
    ConnectedAgentsResponse,
    ConversationListResponse,
    ConversationMessagesResponse,
    ConversationStatus,
    CreateConversationResponse,
    HealthResponse,
    PersonalStatus,
    PersonalStatusResponse,
    PostMessageResponse,
    Sender,
    SystemMode,
)
from vilnius_client.rest import RestClient


async def test_health(rest: RestClient) -> None:
    answer = await rest.health()
    assert isinstance(answer, HealthResponse)
    assert answer.status == "ok"


async def test_conversation_and_messages(rest: RestClient) -> None:
    created = await rest.create_conversation(visitor_id="v-1", metadata={"page": "/pricing"})
    assert isinstance(created, CreateConversationResponse)
    cid = created.conversation_id
    assert created.conversation.visitor_id == "v-1"
    assert created.conversation.metadata == {"page": "/pricing"}
    assert created.conversation.status is ConversationStatus.ACTIVE

    first = await rest.post_message(cid, "one")
    second = await rest.post_message(cid, "two", visitor_id="v-1")
    assert isinstance(first, PostMessageResponse)
    assert first.user_message.sender is Sender.VISITOR
    assert second.user_message.seq > first.user_message.seq

    page = await rest.conversation_messages(cid)
    assert isinstance(page, ConversationMessagesResponse)
    assert [m.content for m in page.messages] == ["one", "two"]
    after_first = await rest.conversation_messages(cid, after=first.user_message.seq, limit=10)
    assert [m.content for m in after_first.messages] == ["two"]
    assert len((await rest.conversation_messages(cid, limit=1)).messages) == 1

    everything = await rest.all_messages()
    assert isinstance(everything, AllMessagesResponse)
    assert everything.last_seq == second.user_message.seq
    head_only = await rest.all_messages(after=0, limit=0)
    assert head_only.messages == []
    assert head_only.last_seq == second.user_message.seq
    tail = await rest.all_messages(after=first.user_message.seq, limit=5)
    assert [m.id for m in tail.messages] == [second.user_message.id]


async def test_post_message_creates_unknown_conversation(rest: RestClient) -> None:
    answer = await rest.post_message("brand-new", "hello", visitor_id="v-9")
    assert answer.conversation_id == "brand-new"
    listed = await rest.admin_conversations()
    assert [c.id for c in listed.conversations] == ["brand-new"]


async def test_agent_calls(rest: RestClient) -> None:
    cid = (await rest.create_conversation()).conversation_id
    other = (await rest.create_conversation()).conversation_id

    status = await rest.set_personal_status("a1", PersonalStatus.ONLINE)
    assert isinstance(status, PersonalStatusResponse)
    assert status.agent.id == "a1"
    assert status.agent.personal_status is PersonalStatus.ONLINE

    responded = await rest.agent_respond(cid, "How can I help?", "a1")
    assert isinstance(responded, AgentRespondResponse)
    assert responded.message.sender is Sender.AGENT
    assert responded.message.agent_id == "a1"

    assigned = await rest.assign(other, "a2")
    assert assigned.conversation.assigned_agent == "a2"
    bulk = await rest.bulk_assign([cid, other], "a1")
    assert {r.conversation_id for r in bulk.reassigned} == {cid, other}
    assert all(r.to_agent_id == "a1" for r in bulk.reassigned)

    ended = await rest.end_conversation(other, agent_id="a1")
    assert ended.success
    active = await rest.admin_conversations(ConversationStatus.ACTIVE)
    assert isinstance(active, ConversationListResponse)
    assert [c.id for c in active.conversations] == [cid]
    assert [c.id for c in (await rest.admin_conversations("ended")).conversations] == [other]

    agents = await rest.connected_agents()
    assert isinstance(agents, ConnectedAgentsResponse)
    assert agents.system_mode is SystemMode.HITL
    assert all(isinstance(a.status, AgentStatus) for a in agents.agents)


async def test_system_mode(rest: RestClient) -> None:
    assert (await rest.get_system_mode()).mode is SystemMode.HITL
    changed = await rest.set_system_mode(SystemMode.AUTOPILOT)
    assert changed.mode is SystemMode.AUTOPILOT
    assert changed.success
    assert (await rest.get_system_mode()).mode is SystemMode.AUTOPILOT
    reply = await rest.post_message("c-auto", "anyone?")
    assert reply.ai_message is not None
    assert reply.ai_message.sender is Sender.AGENT


# ---------------------------------------------------------------- errors


async def test_not_found(rest: RestClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await rest.conversation_messages("nope")
    assert caught.value.status == 404
    assert caught.value.code == "not_found"
    with pytest.raises(NotFoundError):
        await rest.assign("nope", "a1")


async def test_invalid_payload(rest: RestClient) -> None:
    with pytest.raises(InvalidPayloadError) as refused:
        await rest.post_message("c1", "")  # checked against PostMessageRequest: not sent
    assert refused.value.status is None
    assert refused.value.may_have_acted is False
    with pytest.raises(InvalidPayloadError):
        await rest.set_system_mode("sideways")
    # What the server answers to the same body (sent through the escape hatch):
    with pytest.raises(InvalidPayloadError) as caught:
        await rest.request(
            "POST",
            "/api/messages",
            PostMessageResponse,
            json_body={"conversationId": "c1", "message": ""},
        )
    assert caught.value.status == 422
    assert caught.value.details


async def test_payload_too_large(rest: RestClient) -> None:
    body = {"conversationId": "c1", "message": "x" * 200_000}
    with pytest.raises(InvalidPayloadError) as caught:
        await rest.request("POST", "/api/messages", PostMessageResponse, json_body=body)
    assert caught.value.status == 413
    assert caught.value.code == "payload_too_large"


async def test_conflict(rest: RestClient) -> None:
    cid = (await rest.create_conversation()).conversation_id
    await rest.end_conversation(cid)
    with pytest.raises(ConflictError) as caught:
        await rest.agent_respond(cid, "too late", "a1")
    assert caught.value.status == 409


async def test_unavailable_is_retried(server: RunningServer, rest: RestClient) -> None:
    server.faults.fail_requests = 2
    assert (await rest.health()).status == "ok"
    assert server.faults.fail_requests == 0

    server.faults.fail_requests = 1
    async with RestClient(server.url, retry_attempts=1) as impatient:
        with pytest.raises(InternalServerError) as caught:
            await impatient.get_system_mode()
    assert caught.value.status == 503
    assert caught.value.temporary


async def test_dropped_answer_retry_stores_one_message(
    server: RunningServer, rest: RestClient
) -> None:
    cid = (await rest.create_conversation()).conversation_id
    server.faults.drop_responses = 1
    sent = await rest.post_message(cid, "only once")
    assert server.faults.drop_responses == 0
    stored = (await rest.conversation_messages(cid)).messages
    assert [m.id for m in stored] == [sent.user_message.id]

    server.faults.drop_responses = 1
    reply = await rest.agent_respond(cid, "answered once", "a1", idempotency_key="k-1")
    again = await rest.agent_respond(cid, "answered once", "a1", idempotency_key="k-1")
    assert again.message.id == reply.message.id
    stored = (await rest.conversation_messages(cid)).messages
    assert [m.content for m in stored] == ["only once", "answered once"]


# ---------------------------------------------------------------- token mode


async def test_token_flow(token_server: RunningServer) -> None:
    async with RestClient(token_server.url) as anonymous:
        with pytest.raises(AuthError) as caught:
            await anonymous.admin_conversations()
        assert caught.value.status == 401
        with pytest.raises(AuthError):
            await anonymous.agent_token("a1", "wrong-key")
        issued = await anonymous.agent_token("a1", "test-key")
        assert isinstance(issued, AgentTokenResponse)
        assert issued.agent_id == "a1"
        created = await anonymous.create_conversation(visitor_id="v-1")
        assert created.token

    async with RestClient(token_server.url, token=issued.token) as agent:
        assert (await agent.admin_conversations()).conversations
        await agent.agent_respond(created.conversation_id, "hi", "a1")
        with pytest.raises(ForbiddenError):
            await agent.agent_respond(created.conversation_id, "as someone else", "a2")

    async with RestClient(token_server.url, token=created.token) as customer:
        await customer.post_message(created.conversation_id, "mine")
        history = await customer.conversation_messages(created.conversation_id)
        assert [m.content for m in history.messages] == ["hi", "mine"]
        other = (await anonymous_conversation(token_server)).conversation_id
        with pytest.raises(ForbiddenError) as forbidden:
            await customer.conversation_messages(other)
        assert forbidden.value.status == 403
        with pytest.raises(ForbiddenError):
            await customer.agent_respond(created.conversation_id, "I am an agent", "a1")
        with pytest.raises(ForbiddenError):
            await customer.set_system_mode("off")


async def anonymous_conversation(server: RunningServer) -> CreateConversationResponse:
    async with RestClient(server.url) as rest:
        return await rest.create_conversation()
