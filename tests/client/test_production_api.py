"""The SDK's calls of production's agent endpoints, against ``--profile lizdeika``.

Every `RestClient` method added for production is called here through an `AgentClient`
logged in as an agent user (its REST client carries the user's JWT), and its typed answer
checked; `AgentActions` (the agent-level helpers) is tested through a local subclass,
until `AgentClient` mixes it in. The server's side of each endpoint, and the line of
production's controller it follows, are in ``tests/server/test_production_agent*.py``.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from tests.examples.helpers import ROOT
from tests.server.production_agent_support import (
    ADMIN,
    AGENT,
    SUGGESTION,
    production,
    session_id,
)
from vilnius_client import (
    AgentClient,
    CustomerClient,
    Event,
    ForbiddenError,
    InternalServerError,
    InvalidPayloadError,
    NotFoundError,
    StateError,
)
from vilnius_client._agent_actions import AgentActions
from vilnius_client.events import (
    AISuggestion,
    Granularity,
    MessageType,
    SuggestionAction,
    TicketCategoryAssignedEvent,
)
from vilnius_client.rest import RestClient, correlation

from .conftest import FAST


class Agent(AgentClient, AgentActions):
    """What `AgentClient` is once the lead mixes `AgentActions` into it."""


@pytest.fixture
async def prod() -> AsyncIterator[RunningServer]:
    async with production() as running:
        yield running


@pytest.fixture
async def bot(prod: RunningServer) -> AsyncIterator[Agent]:
    async with Agent(prod.url, email=AGENT.email, password=AGENT.password, **FAST) as client:
        yield client


async def _customer_asks(url: str, text: str) -> str:
    async with CustomerClient(url, **FAST) as customer:
        await customer.send_message(text)
        assert customer.conversation_id is not None
        return customer.conversation_id


async def test_suggestions_and_replies_that_use_them(prod: RunningServer, bot: Agent) -> None:
    first = await _customer_asks(prod.url, "Where is my parcel?")
    pending = await bot.rest.pending_suggestion(first)
    assert isinstance(pending.suggestion, AISuggestion)
    assert pending.text == SUGGESTION
    assert pending.suggestion.metadata is not None
    assert pending.suggestion.metadata["fallbackUsed"] is True
    generated = await bot.rest.generate_suggestion(first)
    assert generated.text == SUGGESTION
    assert (await bot.rest.pending_suggestion(first)).message_id == generated.message_id
    sent = await bot.send_suggestion(first, generated)
    assert sent.content == SUGGESTION
    assert sent.metadata is not None
    assert sent.metadata["suggestionAction"] == "as-is"
    with pytest.raises(NotFoundError, match="No pending suggestion found") as refused:
        await bot.rest.pending_suggestion(first)
    assert refused.value.correlation_id is not None  # production echoes the SDK's id
    assert await bot.pending_suggestion(first) is None
    second = await _customer_asks(prod.url, "And my invoice?")
    suggestion = await bot.pending_suggestion(second)
    assert suggestion is not None
    edited = await bot.send_suggestion(second, suggestion, text=SUGGESTION + " Today.")
    assert edited.metadata is not None
    assert edited.metadata["suggestionAction"] == "edited"
    unchanged = await _customer_asks(prod.url, "Hello?")
    same = await bot.send_suggestion(unchanged, SUGGESTION, text=SUGGESTION)
    assert same.metadata is not None
    assert same.metadata["suggestionAction"] == "as-is"  # the very text: not an edit
    third = await _customer_asks(prod.url, "Anyone?")
    own = await bot.reply_from_scratch(third, "Yes, I am here.")
    assert own.metadata is not None
    assert own.metadata["suggestionAction"] == "from-scratch"
    usage = await bot.suggestion_usage()
    assert usage.total_suggestions == 4
    assert (usage.sent_as_is, usage.edited, usage.from_scratch) == (2, 1, 1)
    assert usage.agent_id == bot.agent_id
    admin = RestClient(prod.url, server="lizdeika")
    async with admin:
        tokens = (await admin.login(ADMIN.email, ADMIN.password)).login_data()
        assert tokens is not None
        admin.token = tokens.tokens.access_token
        chat = await admin.chat_suggestion(first, "Customer: hello", enable_rag=True)
        assert chat.text == SUGGESTION
        assert chat.metadata is not None
        assert chat.metadata["enableRAG"] is True
    with pytest.raises(ForbiddenError, match="Admin access required"):
        await bot.rest.chat_suggestion(first, "Customer: hello")


async def test_reply_options_are_typed(prod: RunningServer, bot: Agent) -> None:
    conversation = await _customer_asks(prod.url, "Hi")
    answer = await bot.rest.agent_respond(
        conversation,
        "Hello!",
        bot.agent_id or "",
        used_suggestion=True,
        suggestion_action=SuggestionAction.AS_IS,
        auto_assign=True,
        message_type=MessageType.TEXT,
    )
    assert answer.message.message_type == "text"
    assert answer.message.metadata is not None
    assert answer.message.metadata["responseAttribution"]["responseType"] == "as-is"
    with pytest.raises(InvalidPayloadError):  # checked before sending, as the server checks
        await bot.rest.agent_respond(conversation, "", bot.agent_id or "")


async def test_conversation_actions(prod: RunningServer, bot: Agent) -> None:
    conversation = await _customer_asks(prod.url, "My invoice is wrong")
    await bot.reply_from_scratch(conversation, "Let me check.", suggestion_offered=False)
    unassigned = await bot.unassign(conversation)
    assert unassigned.assigned_agent is None
    assert unassigned.model_extra is not None
    assert unassigned.model_extra["ticketNumber"].startswith("LZD-")  # production's extra
    await bot.mark_seen(conversation)
    categories = await bot.categories()
    assert [c.name for c in categories] == ["Billing", "Shipping"]
    assert categories[0].creator is not None
    assert categories[0].creator.email == ADMIN.email
    assert categories[0].model_extra == {"_count": {"tickets": 0}}  # production's extra, kept
    assert len(await bot.categories(include_archived=True)) == 3
    assigned = await bot.set_category(conversation, categories[0])
    assert (assigned.category_name, assigned.category_color) == ("Billing", "#FF0000")
    removed = await bot.set_category(conversation, None)
    assert removed.category_id is None
    with pytest.raises(NotFoundError, match="Category not found"):
        await bot.set_category(conversation, "nope")
    bulk = await bot.rest.bulk_set_category([conversation, "session-nope"], categories[1].id)
    assert bulk.success == [conversation]
    assert [f.ticket_id for f in bulk.failed] == ["session-nope"]
    assert bulk.summary.succeeded == 1
    override = await bot.rest.set_category_override(conversation, False)
    assert override.data.manual_category_override is False
    assert override.data.category_id == categories[1].id
    assert await bot.archive([conversation]) == 1
    listed = await bot.conversations("archived")
    assert [c.id for c in listed] == [conversation]
    assert await bot.unarchive([conversation]) == 1
    stats = (await bot.rest.categorization_stats()).data
    assert (stats.total, stats.categorized, stats.manually_overridden) == (1, 1, 0)
    # production says why it refuses in a body without "error": the message is kept
    with pytest.raises(InvalidPayloadError, match="Ticket already has a category"):
        await bot.rest.categorize(conversation)


async def test_a_bad_category_request_is_refused_before_sending(
    prod: RunningServer, bot: Agent
) -> None:
    conversation = await _customer_asks(prod.url, "Which category?")
    for call in (
        bot.rest.set_category(conversation, ""),
        bot.rest.bulk_set_category([], None),
        bot.rest.bulk_set_category([conversation], ""),
    ):
        with pytest.raises(InvalidPayloadError) as refused:
            await call
        assert refused.value.may_have_acted is False
    assert (await bot.rest.categorization_stats()).data.categorized == 0


async def test_categorisation_answers_400_after_categorising(
    prod: RunningServer, bot: Agent
) -> None:
    """Production's broadcast fails after it stored the category: the SDK raises, the
    category is there (docs/guides/production.md)."""
    async with CustomerClient(prod.url, **FAST) as customer:
        for text in ("Refund please", "The payment failed", "Invoice 42"):
            await customer.send_message(text)
        conversation = customer.conversation_id
    assert conversation is not None
    broadcast = r"ws\.broadcastToAgents is not a function"
    with pytest.raises(InvalidPayloadError, match=broadcast) as failed:
        await bot.rest.categorize(conversation)
    assert failed.value.status == 400
    stats = (await bot.rest.categorization_stats()).data
    assert stats.ai_categorized == 1


async def test_category_events_are_typed(prod: RunningServer, bot: Agent) -> None:
    conversation = await _customer_asks(prod.url, "Hi")
    shipping = next(c for c in await bot.categories() if c.name == "Shipping")
    await bot.set_category(conversation, shipping)
    event = await bot.wait_for(Event.TICKET_CATEGORY_ASSIGNED, timeout=scaled(5))
    assert isinstance(event, TicketCategoryAssignedEvent)
    assert (event.ticket_id, event.category_name) == (conversation, "Shipping")


async def test_templates_and_sending_one(prod: RunningServer, bot: Agent) -> None:
    templates = await bot.templates()
    assert [t.title for t in templates] == ["Closing", "Greeting"]
    conversation = await _customer_asks(prod.url, "Hi")
    sent = await bot.send_template(conversation, templates[1])
    assert sent.content == "Hello! How can I help?"


async def test_files(prod: RunningServer, bot: Agent) -> None:
    file = await bot.upload_file(b"%PDF-1.4 form", "form.pdf", "application/pdf")
    assert (file.filename, file.mimetype, file.size) == ("form.pdf", "application/pdf", 13)
    conversation = await _customer_asks(prod.url, "Send me the form")
    sent = await bot.reply_with_file(conversation, "Here it is", file)
    assert sent.message_type == "file"
    assert sent.metadata is not None
    assert sent.metadata["file"]["url"] == file.url
    downloaded = await bot.rest.download_file(file)
    assert downloaded.content == b"%PDF-1.4 form"
    assert downloaded.content_type == "application/pdf"
    async with RestClient(prod.url, server="lizdeika") as anonymous:
        with pytest.raises(ForbiddenError, match="authentication or valid conversation"):
            await anonymous.download_file(file.url)
        mine = await anonymous.download_file(file.url, conversation_id=conversation)
        assert mine.content == b"%PDF-1.4 form"
        with pytest.raises(InternalServerError, match="Invalid file type"):
            await anonymous.upload_file(
                b"MZ", "tool.exe", "application/x-msdownload", conversation_id=conversation
            )
        with pytest.raises(NotFoundError):
            await anonymous.download_file("/api/uploads/missing.txt")


async def test_statistics(prod: RunningServer, bot: Agent) -> None:
    conversation = await _customer_asks(prod.url, "Hi")
    suggestion = await bot.pending_suggestion(conversation)
    assert suggestion is not None
    await bot.send_suggestion(conversation, suggestion)
    today = datetime.now(UTC).date()
    dashboard = await bot.rest.statistics_dashboard(start=today - timedelta(days=1), end=today)
    assert dashboard.data.conversations.total == 1
    assert dashboard.data.ai_suggestions.sent_as_is == 1
    assert dashboard.data.agents.top_agent is not None
    assert dashboard.data.agents.top_agent.agent_id == bot.agent_id
    assert dashboard.meta.start_date.date() == today - timedelta(days=1)
    conversations = await bot.rest.statistics_conversations(archived=False)
    assert conversations.data.total == 1
    agents = await bot.rest.statistics_agents()
    assert agents.data.agents is not None
    assert [a.message_count for a in agents.data.agents] == [1]
    one = await bot.rest.statistics_agents(agent_id=bot.agent_id)
    assert one.data.agent is not None
    assert one.data.agent.sent_as_is == 1
    suggestions = await bot.rest.statistics_suggestions()
    assert suggestions.data.sent_as_is_percentage == 100
    trends = await bot.rest.statistics_trends(granularity=Granularity.WEEK)
    assert sum(bucket.count for bucket in trends.data.conversation_trends) == 1
    assert len(trends.data.peak_hours.by_hour) == 24
    with pytest.raises(InternalServerError, match="ValidationError is not a constructor"):
        await bot.rest.statistics_dashboard(start="2020-01-01", end="2026-01-01")
    with pytest.raises(ValueError, match="year"):  # refused before anything is sent
        await bot.rest.statistics_trends(granularity="year")


async def test_agent_listings_widget_and_logout(prod: RunningServer, bot: Agent) -> None:
    status = await bot.rest.agent_status()
    assert (status.status, status.agent_count) == ("hitl", 1)
    assert [a.id for a in (await bot.rest.active_agents()).agents] == [bot.agent_id]
    assert (await bot.rest.all_agents()).agents == []
    widget = (await bot.rest.widget_config()).data
    assert (widget.name, widget.server_url) == ("Lizdeika", prod.url)
    async with RestClient(prod.url, server="lizdeika") as other:
        login = (await other.login(AGENT.email, AGENT.password)).login_data()
        assert login is not None
        out = await other.logout(login.tokens.refresh_token)
        assert out.success is True
        assert out.message == "Logout successful"


async def test_correlation_ids(prod: RunningServer, bot: Agent) -> None:
    with correlation("qa-run-1") as trace:
        await bot.rest.templates()
        await bot.rest.agent_status()
    assert trace.id == "qa-run-1"
    assert trace.returned == "qa-run-1"
    assert bot.rest.last_correlation_id == "qa-run-1"
    await bot.rest.templates()  # outside a block: a fresh id per call
    generated = bot.rest.last_correlation_id
    assert generated is not None
    assert generated.startswith("vc-")
    await bot.rest.templates()
    assert bot.rest.last_correlation_id not in (None, generated)
    with correlation() as trace, pytest.raises(NotFoundError) as failed:
        await bot.rest.pending_suggestion(session_id())
    assert trace.id.startswith("vc-")
    assert failed.value.correlation_id == trace.id
    explicit = await bot.rest.request(
        "GET", "/api/widget/config", type(await bot.rest.widget_config()), correlation_id="call-1"
    )
    assert explicit.success
    assert bot.rest.last_correlation_id == "call-1"


async def test_correlation_ids_on_a_server_that_returns_none(server: RunningServer) -> None:
    """Our contract's servers do not echo the header: the error carries the id sent."""
    async with RestClient(server.url) as rest:
        with correlation("qa-2") as trace, pytest.raises(NotFoundError) as failed:
            await rest.conversation_messages("nope")
        assert trace.returned is None
        assert rest.last_correlation_id is None
        assert failed.value.correlation_id == "qa-2"


async def test_production_only_calls_fail_clearly_on_our_contract(server: RunningServer) -> None:
    """A contract server has none of these endpoints: a clear 404, not a parse error."""
    async with RestClient(server.url) as rest:
        with pytest.raises(NotFoundError):
            await rest.templates()


async def test_the_helpers_need_the_agent_id_of_the_login() -> None:
    """The helpers speak as the client's agent: before the login there is none."""
    agent = Agent("http://127.0.0.1:9", email=AGENT.email, password=AGENT.password)
    with pytest.raises(StateError, match="connect first"):
        await agent.mark_seen("session-x")
    await agent.disconnect()


async def test_the_guide_s_snippets_run(prod: RunningServer, bot: Agent) -> None:
    """docs/guides/production.md "Everything an agent can do": each Python block, as written."""
    guide = (ROOT / "docs" / "guides" / "production.md").read_text(encoding="utf-8")
    section = guide.split("## Everything an agent can do")[1].split("\n## ")[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "--8<--" not in b]
    assert len(blocks) == 2
    conversation_id = await _customer_asks(prod.url, "Hello")
    for block in blocks:
        body = textwrap.indent(block, "    ")
        namespace: dict[str, Any] = {}
        exec(f"async def snippet(bot, conversation_id):\n{body}", namespace)
        await namespace["snippet"](bot, conversation_id)
    usage = await bot.suggestion_usage()
    assert usage.sent_as_is == 1  # the first block sent the suggestion as is
