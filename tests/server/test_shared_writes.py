"""One request never fails another: text is stored exactly or refused, on both profiles.

Writes are committed in shared batches; a request whose text the database cannot hold (a
lone UTF-16 surrogate, which JSON lets a string carry) used to fail at the commit it
shared with others, and took their writes down with it (issue 20).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.deployments import Deployment
from tests.server.helpers import Api, Reply

LONE = "\\ud800"  # as JSON writes it: the escape of a lone high surrogate


def _bad_bodies(existing: str) -> list[tuple[str, str, str]]:
    """``(path, raw JSON body, the field it names)``: a lone surrogate in each kind of field."""
    return [
        ("/api/messages", f'{{"conversationId":"session-bad1","message":"x{LONE}y"}}', "message"),
        (
            "/api/messages",
            f'{{"conversationId":"session-bad2","message":"hi","visitorId":"v{LONE}"}}',
            "visitorId",
        ),
        ("/api/conversations", f'{{"metadata":{{"k{LONE}":"v"}}}}', f"metadata.k{LONE}"),
        ("/api/conversations", f'{{"metadata":{{"page":["/",  "x{LONE}"]}}}}', "metadata.page.1"),
        (
            "/api/agent/respond",
            f'{{"conversationId":"{existing}","message":"a{LONE}","agentId":"ada"}}',
            "message",
        ),
        ("/api/messages", f'{{"conversationId":"{existing}","message":"{LONE}"}}', "message"),
    ]


def _named_field(reply: Reply) -> str:
    """The field a refusal names, in either profile's error shape."""
    if "field" in reply.body:  # production's {error, field}
        return str(reply.body["field"])
    return str(reply.body["details"][0]["field"])


def _texts(value: Any) -> list[str]:
    """Every string of a JSON-like value: keys and values, at any depth."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(text for item in value.values() for text in _texts(item))]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


async def test_lone_surrogates_are_refused_and_fail_no_other_write(
    deployment: Deployment,
) -> None:
    async with Api(deployment.url) as api:
        first = await api.post(
            "/api/messages", {"conversationId": "session-base", "message": "hello"}
        )
        assert first.status == 200, first.body
        headers = {"Content-Type": "application/json"}

        async def bad(path: str, raw: str) -> Reply:
            return await api.request("POST", path, data=raw, headers=headers)

        async def good(i: int) -> Reply:
            body = {"conversationId": f"session-legit{i}", "message": f"legit {i}"}
            return await api.post("/api/messages", body)

        cases = _bad_bodies("session-base")
        replies = await asyncio.gather(
            *(good(i) for i in range(30)),
            *(bad(path, raw) for path, raw, _ in cases),
            *(good(i) for i in range(30, 60)),
        )
        legit = replies[:30] + replies[30 + len(cases) :]
        refused = replies[30 : 30 + len(cases)]

    assert [r.status for r in legit] == [200] * 60, [r.body for r in legit if r.status != 200]
    for (path, _, field), reply in zip(cases, refused, strict=True):
        assert reply.status in (400, 422), (path, reply.status, reply.body)
        assert _named_field(reply) == field, reply.body
    store = deployment.server.store
    for i in range(60):
        history = await store.messages.history(f"session-legit{i}")
        assert [m.content for m in history if m.sender.value == "visitor"] == [f"legit {i}"]
    # stored exactly or not at all: no replacement character, no surrogate anywhere
    stored = [c.model_dump(mode="python") for c in store.conversations.all()]
    stored += [m.model_dump(mode="python") for m in await store.messages.after(0, 1000)]
    texts = _texts(stored)
    assert not [t for t in texts if "\ufffd" in t or any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    assert "session-bad1" not in {c.id for c in store.conversations.all()}


async def test_paired_surrogates_are_stored_exactly(deployment: Deployment) -> None:
    """An escaped pair is one character (an emoji): stored and given back as sent."""
    raw = json.dumps({"conversationId": "session-emoji", "message": "hi \U0001f600"})
    assert "\\ud83d\\ude00" in raw
    async with Api(deployment.url) as api:
        reply = await api.request(
            "POST", "/api/messages", data=raw, headers={"Content-Type": "application/json"}
        )
        assert reply.status == 200, reply.body
        assert reply.body["userMessage"]["content"] == "hi \U0001f600"
        listed = await api.get("/api/conversations/session-emoji/messages")
    assert listed.body["messages"][0]["content"] == "hi \U0001f600"


async def test_an_idempotency_key_that_is_not_text_is_refused(deployment: Deployment) -> None:
    """aiohttp reads header bytes that are not UTF-8 as surrogates: the key is refused."""
    body = json.dumps({"conversationId": "session-key", "message": "hello"}).encode()
    request = (
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Idempotency-Key: k\xff\xfe\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", deployment.server.port)
    try:
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    status = int(answer.split(b" ", 2)[1])
    if deployment.profile == "lizdeika":  # production reads no Idempotency-Key
        assert status == 200, answer
    else:
        assert status == 400, answer
        assert b"Idempotency-Key" in answer
        assert await deployment.server.store.messages.history("session-key") == []
