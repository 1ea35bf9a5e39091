"""The ``lizdeika`` profile trims, measures and matches text as production's JavaScript does.

Each example is one a client can tell apart from Python's rules (issue 20).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mock_server import RunningServer, jstext, serve
from tests.deployments import server_config
from tests.server.helpers import Api


@pytest.fixture
async def production() -> AsyncIterator[RunningServer]:
    async with serve(config=server_config("lizdeika")) as running:
        yield running


# -- the rules on their own -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "trimmed"),
    [
        ("\x85hi\x85", "\x85hi\x85"),  # NEL: Python's strip() takes it, trim() keeps it
        ("\x1chi\x1f", "\x1chi\x1f"),  # information separators: likewise
        ("\ufeffhi\ufeff", "hi"),  # the byte order mark: trim() takes it, strip() keeps it
        ("\u00a0\u2028 hi \u3000\t", "hi"),  # both take these
        ("\u200bhi", "\u200bhi"),  # zero-width space is no white space to either
    ],
)
def test_trim_is_javascripts(text: str, trimmed: str) -> None:
    assert jstext.trim(text) == trimmed


def test_length_counts_utf16_units() -> None:
    assert jstext.length("hi") == 2
    assert jstext.length("\U0001f600" * 5000) == 10_000
    assert jstext.length("\u00e9\u4e2d") == 2


def test_patterns_end_at_the_end() -> None:
    session = jstext.regex(r"session-[a-z0-9]+", ignore_case=True)
    assert session.fullmatch("session-abc")
    assert session.fullmatch("SESSION-ABC")
    assert not session.fullmatch("session-abc\n")  # Python's $ would take it
    assert not session.fullmatch("session-\u212a")  # the Kelvin sign: Python's i would fold it


# -- the rules at production's endpoints ----------------------------------------------


def _post(conversation_id: str, text: str) -> dict[str, str]:
    return {"conversationId": conversation_id, "message": text}


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("\x85hi\x85", "\x85hi\x85"),
        ("\x1chi\x1f", "\x1chi\x1f"),
        ("\ufeffhi\ufeff", "hi"),
    ],
)
async def test_messages_are_trimmed_by_javascripts_rule(
    production: RunningServer, text: str, stored: str
) -> None:
    async with Api(production.url) as api:
        reply = await api.post("/api/messages", _post("session-trim", text))
    assert reply.status == 200, reply.body
    assert reply.body["userMessage"]["content"] == stored


async def test_only_byte_order_marks_are_a_blank_message(production: RunningServer) -> None:
    async with Api(production.url) as api:
        reply = await api.post("/api/messages", _post("session-blank", "\ufeff\ufeff"))
    assert reply.status == 400
    assert reply.body == {"error": "Message cannot be empty or only whitespace", "field": "message"}


async def test_the_message_limit_counts_utf16_units(production: RunningServer) -> None:
    async with Api(production.url) as api:
        over = await api.post("/api/messages", _post("session-emoji", "\U0001f600" * 5000))
        assert over.status == 400
        assert over.body == {
            "error": "message must be no more than 5000 characters",
            "field": "message",
        }
        at = await api.post("/api/messages", _post("session-emoji", "\U0001f600" * 2500))
        assert at.status == 200, at.body


@pytest.mark.parametrize("conversation_id", ["session-abc\n", "session-\u212a"])
async def test_conversation_ids_match_to_the_very_end(
    production: RunningServer, conversation_id: str
) -> None:
    async with Api(production.url) as api:
        reply = await api.post("/api/messages", _post(conversation_id, "hello"))
    assert reply.status == 400
    assert reply.body == {
        "error": "conversationId must be a valid UUID or session ID",
        "field": "conversationId",
    }
    assert conversation_id not in {c.id for c in production.store.conversations.all()}
