"""RestClient's HTTP handling against a scripted loopback server (aiohttp TestServer).

What the reference server never does on purpose (non-JSON error pages, Retry-After,
hanging answers) is scripted here; the contract calls are in test_rest.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import scaled
from vilnius_client.errors import (
    AuthError,
    ConnectionLostError,
    InternalServerError,
    InvalidPayloadError,
    ProtocolError,
    RateLimitedError,
    ReplyTimeoutError,
    StateError,
    TransportError,
)
from vilnius_client.rest import IDEMPOTENCY_HEADER, RestClient

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Script:
    """A loopback HTTP server answering with a list of scripted handlers, in turn."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.answers: list[Handler] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return await answer(request)


@pytest.fixture
async def script() -> AsyncIterator[tuple[Script, str]]:
    scripted = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield scripted, str(server.make_url("")).rstrip("/")
    finally:
        scripted.release.set()
        await server.close()


def json_answer(status: int, body: object, **headers: str) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status, headers=headers)

    return answer


def text_answer(status: int, text: str) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=text, content_type="text/html")

    return answer


MODE_OK = json_answer(200, {"mode": "hitl"})
STORED = {
    "conversationId": "c1",
    "userMessage": {
        "id": "m1",
        "conversationId": "c1",
        "content": "hi",
        "sender": "visitor",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "seq": 1,
    },
    "aiMessage": None,
}


async def test_error_body_maps_to_typed_error(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.answers = [
        json_answer(
            400, {"error": "bad", "code": "invalid_payload", "details": {"field": "message"}}
        )
    ]
    async with RestClient(url) as rest:
        with pytest.raises(InvalidPayloadError) as caught:
            await rest.get_system_mode()
    assert caught.value.status == 400
    assert caught.value.details == {"field": "message"}
    assert len(scripted.requests) == 1, "a 4xx is final: no retry"


async def test_non_json_error_page_falls_back_to_status(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.answers = [text_answer(502, "<html>Bad Gateway</html>")]
    async with RestClient(url, retry_attempts=2, retry_base=0.01) as rest:
        with pytest.raises(InternalServerError, match="Bad Gateway") as caught:
            await rest.get_system_mode()
    assert caught.value.status == 502
    assert len(scripted.requests) == 2, "a 502 is transient: retried"


async def test_unknown_code_falls_back_to_status(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.answers = [json_answer(401, {"error": "who?", "code": "some_new_code"})]
    async with RestClient(url) as rest:
        with pytest.raises(AuthError):
            await rest.health()


async def test_retry_after_is_parsed_and_honoured(script: tuple[Script, str]) -> None:
    scripted, url = script
    limited = json_answer(
        429, {"error": "slow down", "code": "rate_limited"}, **{"Retry-After": "0"}
    )
    scripted.answers = [limited, MODE_OK]
    # The 0 s hint wins over a backoff drawn from U(0, 1000 s).
    async with RestClient(url, retry_base=1000, retry_cap=1000) as rest:
        mode = await asyncio.wait_for(rest.get_system_mode(), scaled(5))
    assert mode.mode == "hitl"
    assert len(scripted.requests) == 2

    scripted.answers = [
        json_answer(429, {"error": "slow", "code": "rate_limited"}, **{"Retry-After": "7"})
    ]
    async with RestClient(url, retry_attempts=1) as rest:
        with pytest.raises(RateLimitedError) as caught:
            await rest.get_system_mode()
    assert caught.value.retry_after == 7.0


async def test_send_retries_with_one_idempotency_key(script: tuple[Script, str]) -> None:
    scripted, url = script
    unavailable = json_answer(503, {"error": "busy", "code": "internal"})
    scripted.answers = [unavailable, unavailable, json_answer(200, STORED)]
    async with RestClient(url, retry_base=0.01, server="vilnius") as rest:
        stored = await rest.post_message("c1", "hi")
    assert stored.user_message.seq == 1
    keys = {request.headers[IDEMPOTENCY_HEADER] for request in scripted.requests}
    assert len(scripted.requests) == 3
    assert len(keys) == 1

    scripted.requests.clear()
    responded = {"success": True, "message": STORED["userMessage"]}
    scripted.answers = [json_answer(200, STORED), json_answer(200, responded)]
    async with RestClient(url, server="vilnius") as rest:
        await rest.post_message("c1", "hi", idempotency_key="mine")
        await rest.agent_respond("c1", "hello", "a1", idempotency_key="mine-too")
    assert [r.headers[IDEMPOTENCY_HEADER] for r in scripted.requests] == ["mine", "mine-too"]


async def test_sends_without_idempotency_retry_only_what_surely_did_not_act(
    script: tuple[Script, str],
) -> None:
    """Capability ``idempotency`` off: no key, no blind retry, the error says the server may
    have acted; a 429 (refused before acting) is retried after its Retry-After."""
    scripted, url = script
    unavailable = json_answer(503, {"error": "busy", "code": "internal"})
    scripted.answers = [unavailable, json_answer(200, STORED)]
    async with RestClient(url, retry_base=0.01, server="lizdeika") as rest:
        with pytest.raises(InternalServerError) as caught:
            await rest.post_message("c1", "hi")
        assert caught.value.may_have_acted is True
        assert len(scripted.requests) == 1, "an ambiguous failure is not retried"
        assert IDEMPOTENCY_HEADER not in scripted.requests[0].headers

        scripted.requests.clear()
        waits: list[tuple[type[BaseException], float]] = []
        rest.on_retry = lambda exc, wait: waits.append((type(exc), wait))
        limited = json_answer(
            429, {"success": False, "code": "RATE_LIMIT_EXCEEDED"}, **{"Retry-After": "0"}
        )
        scripted.answers = [limited, json_answer(200, STORED)]
        stored = await rest.post_message("c1", "hi")
        assert stored.user_message.id == STORED["userMessage"]["id"]
        assert len(scripted.requests) == 2
        assert waits == [(RateLimitedError, 0.0)]

        scripted.answers = [json_answer(400, {"error": "bad", "field": "message"})]
        with pytest.raises(InvalidPayloadError) as refused:
            await rest.agent_respond("c1", "x", "a1")
        assert refused.value.may_have_acted is False


async def test_a_long_retry_after_is_raised_not_slept_through(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.answers = [
        json_answer(429, {"error": "slow", "code": "rate_limited"}, **{"Retry-After": "45"})
    ]
    async with RestClient(url, max_retry_after=10, server="vilnius") as rest:
        with pytest.raises(RateLimitedError) as caught:
            await asyncio.wait_for(rest.get_system_mode(), scaled(5))
    assert caught.value.retry_after == 45.0
    assert caught.value.may_have_acted is False
    assert len(scripted.requests) == 1


async def test_refused_connection_is_retried_even_for_state_changes() -> None:
    """Nothing listens: the request never left, so repeating any call is safe."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RestClient(f"http://127.0.0.1:{port}", retry_base=0.01, server="lizdeika") as rest:
        attempts: list[BaseException] = []
        rest.on_retry = lambda exc, wait: attempts.append(exc)
        with pytest.raises(TransportError) as caught:
            await rest.set_system_mode("off")
    assert caught.value.may_have_acted is False
    assert len(attempts) == rest.retry_attempts - 1


async def test_other_posts_are_not_retried(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.answers = [json_answer(503, {"error": "busy", "code": "internal"})]
    async with RestClient(url, retry_base=0.01) as rest:
        with pytest.raises(InternalServerError):
            await rest.set_system_mode("off")
    assert len(scripted.requests) == 1


async def test_success_that_breaks_the_contract_is_a_protocol_error(
    script: tuple[Script, str],
) -> None:
    scripted, url = script
    async with RestClient(url) as rest:
        scripted.answers = [text_answer(200, "not json")]
        with pytest.raises(ProtocolError, match="not JSON"):
            await rest.get_system_mode()
        scripted.answers = [json_answer(200, {"mode": "sideways"})]
        with pytest.raises(ProtocolError, match="SystemModeResponse"):
            await rest.get_system_mode()


async def test_token_source_is_asked_on_every_request(script: tuple[Script, str]) -> None:
    scripted, url = script
    token = {"token": "t", "agentId": "a1", "expiresAt": "2026-01-01T00:00:00.000Z"}
    scripted.answers = [MODE_OK, MODE_OK, json_answer(200, token)]
    tokens = iter(["t1", "t2"])

    async def next_token() -> str:
        return next(tokens)

    async with RestClient(url, token=next_token) as rest:
        await rest.get_system_mode()
        await rest.get_system_mode()
        await rest.agent_token("a1", "key")
    auth = [request.headers.get("Authorization") for request in scripted.requests]
    assert auth == ["Bearer t1", "Bearer t2", None]


async def test_hanging_answer_times_out(script: tuple[Script, str]) -> None:
    scripted, url = script

    async def hang(request: web.Request) -> web.StreamResponse:
        await scripted.release.wait()
        return web.json_response({"mode": "hitl"})

    scripted.answers = [hang]
    async with RestClient(url, request_timeout=0.2, retry_attempts=1) as rest:
        with pytest.raises(ReplyTimeoutError):
            await rest.get_system_mode()


async def test_dropped_connection_is_connection_lost(script: tuple[Script, str]) -> None:
    scripted, url = script

    async def drop(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    scripted.answers = [drop]
    async with RestClient(url, retry_attempts=1) as rest:
        with pytest.raises(ConnectionLostError) as caught:
            await rest.post_message("c1", "hi")
    assert caught.value.__cause__ is not None


async def test_refused_connection_is_a_transport_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RestClient(f"http://127.0.0.1:{port}", retry_attempts=2, retry_base=0.01) as rest:
        with pytest.raises(TransportError) as caught:
            await rest.health()
    assert caught.value.temporary


async def test_closed_client_refuses_calls(script: tuple[Script, str]) -> None:
    _, url = script
    rest = RestClient(url)
    await rest.disconnect()
    await rest.disconnect()  # idempotent
    with pytest.raises(StateError):
        await rest.health()
    with pytest.raises(StateError):
        async with rest:
            pass


async def test_refused_token_is_dropped_and_the_call_sent_again(
    script: tuple[Script, str],
) -> None:
    scripted, url = script
    scripted.answers = [
        json_answer(401, {"error": "token expired", "code": "unauthorized"}),
        MODE_OK,
    ]
    tokens = iter(["old", "new"])
    dropped: list[bool] = []

    async def drop() -> None:
        dropped.append(True)

    async with RestClient(url, token=lambda: next(tokens), on_auth_error=drop) as rest:
        assert (await rest.get_system_mode()).mode == "hitl"
    assert dropped == [True]
    auth = [request.headers.get("Authorization") for request in scripted.requests]
    assert auth == ["Bearer old", "Bearer new"]


async def test_bodies_are_built_from_the_request_models(script: tuple[Script, str]) -> None:
    scripted, url = script
    bodies: list[object] = []

    async def record(request: web.Request) -> web.StreamResponse:
        bodies.append(await request.json())
        return web.json_response(STORED)

    scripted.answers = [record]
    async with RestClient(url, server="lizdeika") as rest:
        await rest.post_message("c1", "hi", visitor_id="v1")
        await rest.post_message("c1", "hi")
    assert bodies == [
        {"conversationId": "c1", "message": "hi", "visitorId": "v1"},
        {"conversationId": "c1", "message": "hi"},  # what was not given is not sent
    ]


async def test_a_body_that_breaks_its_model_is_refused_before_sending(
    script: tuple[Script, str],
) -> None:
    scripted, url = script
    scripted.answers = [json_answer(200, STORED)]
    async with RestClient(url, server="vilnius") as rest:
        with pytest.raises(InvalidPayloadError) as caught:
            await rest.post_message("c1", "")  # PostMessageRequest: min_length 1
        with pytest.raises(InvalidPayloadError):
            await rest.bulk_assign([], "a1")  # at least one conversation
    assert caught.value.may_have_acted is False
    assert caught.value.details[0]["loc"] == ("message",)
    assert scripted.requests == []
