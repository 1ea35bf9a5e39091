"""Property-based tests: malformed input at every event and endpoint of the reference server.

Hypothesis throws wrong types, missing fields, huge strings, nested junk and odd query
parameters at every client -> server Socket.IO event (CONTRACT.md §3) and every REST
endpoint (§6). After each example the server must still answer correctly:

* a rejected event gets ``error-event`` with the right code and, when the client asked for
  one, a negative acknowledgement ``{ok: false, error: {code, message}}``;
* a rejected request gets a 4xx with the JSON body ``{error, code, details}``, never a 5xx;
* ``GET /health`` still answers and a valid event still makes its round trip on the same
  connection.

Hypothesis drives the async tests through pytest-asyncio, which runs every example on the
test's event loop; one reference server (and one set of connections) serves all the examples
of a test function, hence the suppressed ``function_scoped_fixture`` health check.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import pytest
import socketio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from mock_server import RunningServer
from tests.conftest import TIMEOUT_SCALE
from vilnius_client.events import (
    CLIENT_EVENT_PAYLOADS,
    Ack,
    AgentRespondRequest,
    AgentTokenRequest,
    AllMessagesResponse,
    AssignRequest,
    BulkAssignRequest,
    ConversationListResponse,
    ConversationMessagesResponse,
    CreateConversationRequest,
    EndConversationRequest,
    ErrorBody,
    ErrorCode,
    ErrorEvent,
    Event,
    PersonalStatusRequest,
    PostMessageRequest,
    SystemModeRequest,
)

WAIT: Final = 5.0 * TIMEOUT_SCALE
"""How long to wait for one answer of the server before failing."""

AGENT_ID: Final = "fuzz-agent"
KNOWN_CODES: Final = frozenset(code.value for code in ErrorCode)

EXAMPLES: Final = int(os.environ.get("VILNIUS_FUZZ_EXAMPLES", "25"))
"""Examples per malformed-input test; raise it for a deeper local run."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(FUZZ, max_examples=max(1, EXAMPLES * 2 // 5))
"""For denials of well-formed input: the input space is small, a few examples cover it."""


# --------------------------------------------------------------------------
# Socket.IO and HTTP peers


@dataclass
class Peer:
    """A raw python-socketio client that records every event it receives."""

    url: str
    token: str | None = None
    sio: Any = field(init=False)
    log: list[tuple[str, Any]] = field(init=False, default_factory=list)
    _changed: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("*", self._record)

    async def _record(self, event: str, *args: Any) -> None:
        self.log.append((event, args[0] if args else None))
        self._changed.set()

    async def connect(self) -> None:
        """Connect over websocket, with ``auth={"token": ...}`` when a token is set."""
        auth = {"token": self.token} if self.token is not None else None
        await self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=WAIT)

    async def close(self) -> None:
        """Disconnect (idempotent)."""
        await self.sio.disconnect()

    def mark(self) -> int:
        """Position in the log; pass it to :meth:`wait_for` to see only later events."""
        return len(self.log)

    async def wait_for(
        self,
        event: str,
        after: int,
        predicate: Callable[[Any], bool] = lambda _: True,
    ) -> Any:
        """Return the first ``event`` received after ``after`` that matches ``predicate``."""

        async def scan() -> Any:
            index = after
            while True:
                while index < len(self.log):
                    name, data = self.log[index]
                    index += 1
                    if name == event and predicate(data):
                        return data
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), WAIT)
        except TimeoutError:
            seen = [name for name, _ in self.log[after:]]
            raise AssertionError(f"no {event!r} within {WAIT}s; got {seen}") from None

    def errors_since(self, after: int) -> list[Any]:
        """Every ``error-event`` payload received after ``after``."""
        return [data for name, data in self.log[after:] if name == Event.ERROR_EVENT]

    async def send(self, event: str, args: tuple[Any, ...], *, ack: bool) -> Any:
        """Emit ``event`` with ``args`` as its arguments; return the ack when ``ack``."""
        if ack:
            return await self.sio.call(event, args, timeout=WAIT)
        await self.sio.emit(event, args)
        return None


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        yield session


@pytest.fixture
async def agent(server: RunningServer) -> AsyncIterator[Peer]:
    """A socket joined to the dashboard as ``fuzz-agent`` (auth none)."""
    peer = Peer(server.url)
    await peer.connect()
    mark = peer.mark()
    await peer.sio.emit(Event.JOIN_AGENT_DASHBOARD, AGENT_ID)
    await peer.wait_for(Event.SYSTEM_MODE_UPDATE, mark)
    yield peer
    await peer.close()


@pytest.fixture
async def conversation_id(server: RunningServer, http: aiohttp.ClientSession) -> str:
    """A conversation that exists on the server (auth none)."""
    async with http.post(f"{server.url}/api/conversations", json={"visitorId": "v-fuzz"}) as r:
        assert r.status == 201, await r.text()
        body = await r.json()
    return str(body["conversationId"])


# --------------------------------------------------------------------------
# Checks


async def assert_server_alive(
    server: RunningServer, http: aiohttp.ClientSession, peer: Peer, *, quiet: bool = True
) -> None:
    """Health answers and a valid event makes its round trip on ``peer``'s connection.

    With ``quiet``, no ``error-event`` may arrive meanwhile.
    """
    async with http.get(f"{server.url}/health") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"
    assert peer.sio.connected, "the server closed the connection"
    mark = peer.mark()
    ack = Ack.model_validate(
        await peer.send(Event.REQUEST_CURRENT_STATE, ("system-mode",), ack=True)
    )
    assert ack.ok, ack
    state = await peer.wait_for(Event.CURRENT_STATE, mark)
    assert state["type"] == "system-mode"
    assert state["data"] in {"hitl", "autopilot", "off"}
    if quiet:
        assert peer.errors_since(mark) == [], "a valid event was answered with an error"


async def assert_rejected(
    peer: Peer, event: str, args: tuple[Any, ...], *, ack: bool, codes: AbstractSet[str]
) -> ErrorEvent:
    """Send ``event`` and check the server rejects it with one of ``codes``."""
    mark = peer.mark()
    answer = await peer.send(event, args, ack=ack)
    if ack:
        parsed = Ack.model_validate(answer)
        assert not parsed.ok, f"{event}{args!r} was acknowledged ok"
        assert parsed.error is not None
        assert parsed.error.code in codes, parsed.error
        assert parsed.error.message
    error = ErrorEvent.model_validate(await peer.wait_for(Event.ERROR_EVENT, mark))
    assert error.event == event, error
    assert error.code in codes, error
    assert error.message
    if error.code == ErrorCode.INVALID_PAYLOAD and args:
        assert error.details is not None, "invalid_payload must say which field"
    assert "Traceback" not in error.message
    return error


async def check_error_response(response: aiohttp.ClientResponse) -> ErrorBody:
    """Check a 4xx answer carries ``{error, code, details}`` JSON."""
    text = await response.text()
    assert response.status < 500, f"{response.status}: {text[:500]}"
    assert 400 <= response.status < 500, f"{response.status}: {text[:500]}"
    assert response.content_type == "application/json", f"{response.content_type}: {text[:200]}"
    body = ErrorBody.model_validate_json(text)
    assert body.error, body
    assert body.code in KNOWN_CODES, body
    assert "details" in json.loads(text), "error body without details"
    assert "Traceback" not in text
    return body


# --------------------------------------------------------------------------
# Strategies

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
junk: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value, nested."""

huge_strings = st.builds(
    lambda char, count: char * count,
    st.sampled_from(["x", "é", "\u0000", "🦀", " ", "\n"]),
    # Below the server's Socket.IO packet bound (64 KiB) even as six-byte JSON escapes: a
    # packet over the bound legitimately closes the link (test_oversized_event_...).
    st.integers(min_value=256, max_value=5_000),
)
bad_identifiers = st.one_of(
    junk.filter(lambda value: not isinstance(value, str)),
    st.just(""),
    huge_strings,
)
"""Values that are not a valid id (non-empty string of at most 255 characters)."""

valid_identifiers = st.text(min_size=1, max_size=40)


@st.composite
def typing_payloads(draw: st.DrawFn) -> Any:
    """Mostly-broken ``{conversationId, isTyping}`` payloads."""
    shape = draw(st.sampled_from(["junk", "bad-id", "bad-flag", "missing", "snake"]))
    if shape == "junk":
        return draw(junk)
    base: dict[str, Any] = {"conversationId": draw(valid_identifiers), "isTyping": True}
    if shape == "bad-id":
        base["conversationId"] = draw(bad_identifiers)
    elif shape == "bad-flag":
        base["isTyping"] = draw(junk.filter(lambda value: not isinstance(value, bool)))
    elif shape == "missing":
        del base[draw(st.sampled_from(sorted(base)))]
    else:
        base = {"conversation_id": draw(bad_identifiers), "is_typing": draw(junk)}
    extra = draw(st.dictionaries(st.text(max_size=8), junk, max_size=2))
    return {**extra, **base}


heartbeat_payloads = st.one_of(
    junk.filter(lambda value: not isinstance(value, dict)),
    st.fixed_dictionaries({}, optional={"other": junk}),
    st.fixed_dictionaries(
        {
            "timestamp": st.one_of(
                st.text(max_size=30),
                st.lists(junk, max_size=3),
                st.dictionaries(st.text(max_size=4), junk, max_size=2),
                st.integers(min_value=10**20),
                st.booleans(),
                st.none(),
            )
        }
    ),
)
"""Mostly-broken ``{timestamp}`` payloads."""

state_types = st.one_of(
    junk.filter(lambda value: value not in ("connected-agents", "system-mode")),
    st.sampled_from(["Connected-Agents", "system_mode", " system-mode", "systemMode"]),
)

EVENT_PAYLOADS: Final[dict[Event, st.SearchStrategy[Any]]] = {
    Event.JOIN_AGENT_DASHBOARD: bad_identifiers,
    Event.AGENT_TYPING: typing_payloads(),
    Event.HEARTBEAT: heartbeat_payloads,
    Event.REQUEST_CURRENT_STATE: state_types,
    Event.JOIN_CONVERSATION: bad_identifiers,
    Event.CUSTOMER_TYPING: typing_payloads(),
}


@st.composite
def event_arguments(draw: st.DrawFn, event: Event) -> tuple[Any, ...]:
    """The argument list of one malformed emit: none, one bad payload, or bad + extras."""
    count = draw(st.sampled_from([0, 1, 1, 1, 1, 2]))
    if count == 0:
        return ()
    payload = draw(EVENT_PAYLOADS[event])
    assume(not _valid(CLIENT_EVENT_PAYLOADS[event], payload))
    if count == 1:
        return (payload,)
    return (payload, draw(junk))


def _valid(adapter: TypeAdapter[Any], payload: Any) -> bool:
    try:
        adapter.validate_python(payload)
    except ValidationError:
        return False
    return True


# --------------------------------------------------------------------------
# Socket.IO events


@pytest.mark.parametrize("event", list(EVENT_PAYLOADS), ids=str)
@FUZZ
@given(data=st.data(), ack=st.booleans())
async def test_malformed_event_is_rejected(
    server: RunningServer,
    http: aiohttp.ClientSession,
    agent: Peer,
    event: Event,
    data: st.DataObject,
    ack: bool,
) -> None:
    """Every malformed payload of every event gets invalid_payload; the link stays up."""
    args = data.draw(event_arguments(event), label="args")
    await assert_rejected(agent, event, args, ack=ack, codes={ErrorCode.INVALID_PAYLOAD})
    await assert_server_alive(server, http, agent)


@FEW
@given(
    timestamp=st.one_of(st.integers(0, 2**41), st.just("2026-11-26T10:00:00.000Z")),
    ack=st.booleans(),
)
async def test_heartbeat_before_join_is_not_joined(
    server: RunningServer, http: aiohttp.ClientSession, timestamp: Any, ack: bool
) -> None:
    """A valid heartbeat from a socket that never joined as an agent gets not_joined."""
    peer = Peer(server.url)
    await peer.connect()
    try:
        await assert_rejected(
            peer,
            Event.HEARTBEAT,
            ({"timestamp": timestamp},),
            ack=ack,
            codes={ErrorCode.NOT_JOINED},
        )
        await assert_server_alive(server, http, peer)
    finally:
        await peer.close()


@pytest.mark.parametrize("event", [Event.AGENT_TYPING, Event.CUSTOMER_TYPING], ids=str)
@FEW
@given(unknown=valid_identifiers, typing=st.booleans(), ack=st.booleans())
async def test_typing_in_unknown_conversation_is_not_found(
    server: RunningServer,
    http: aiohttp.ClientSession,
    agent: Peer,
    event: Event,
    unknown: str,
    typing: bool,
    ack: bool,
) -> None:
    """Typing in a conversation the server does not know gets not_found."""
    payload = {"conversationId": f"unknown-{unknown}", "isTyping": typing}
    await assert_rejected(agent, event, (payload,), ack=ack, codes={ErrorCode.NOT_FOUND})
    await assert_server_alive(server, http, agent)


@FUZZ
@given(burst=st.lists(st.tuples(st.sampled_from(list(EVENT_PAYLOADS)), junk), max_size=15))
async def test_burst_of_junk_then_valid_event(
    server: RunningServer, http: aiohttp.ClientSession, agent: Peer, burst: list[tuple[Event, Any]]
) -> None:
    """A burst of junk without waiting for answers leaves the connection usable."""
    for event, payload in burst:
        await agent.sio.emit(event, (payload,))
    await assert_server_alive(server, http, agent, quiet=False)


async def test_oversized_event_does_not_take_the_server_down(
    server: RunningServer, http: aiohttp.ClientSession, agent: Peer
) -> None:
    """A payload far over any sane bound: this socket may be dropped, the server stays up."""
    sender = Peer(server.url)
    await sender.connect()
    try:
        await sender.sio.emit(Event.CUSTOMER_TYPING, ({"conversationId": "x" * 3_000_000},))
        if sender.sio.connected:
            mark = sender.mark()
            with contextlib.suppress(socketio.exceptions.SocketIOError):
                await sender.sio.emit(Event.REQUEST_CURRENT_STATE, "system-mode")
            # Either the server rejected the payload or it dropped the link; both are bounded.
            await asyncio.wait_for(
                _first_of(sender, mark, {Event.ERROR_EVENT, Event.CURRENT_STATE}), WAIT
            )
    finally:
        await sender.close()
    await assert_server_alive(server, http, agent)


async def _first_of(peer: Peer, mark: int, events: set[Event]) -> None:
    while peer.sio.connected:
        if any(name in events for name, _ in peer.log[mark:]):
            return
        peer._changed.clear()
        try:
            await asyncio.wait_for(peer._changed.wait(), 0.05)
        except TimeoutError:
            continue


# --------------------------------------------------------------------------
# Token mode: denials at the event level


async def _customer_token(server: RunningServer, http: aiohttp.ClientSession) -> tuple[str, str]:
    async with http.post(f"{server.url}/api/conversations", json={}) as response:
        assert response.status == 201, await response.text()
        body = await response.json()
    return str(body["conversationId"]), str(body["token"])


async def _agent_token(server: RunningServer, http: aiohttp.ClientSession, agent_id: str) -> str:
    async with http.post(
        f"{server.url}/api/auth/agent-token",
        json={"agentId": agent_id, "agentKey": server.agent_key},
    ) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["token"])


@FEW
@given(
    event=st.sampled_from([Event.JOIN_AGENT_DASHBOARD, Event.AGENT_TYPING, Event.HEARTBEAT]),
    agent_id=valid_identifiers,
    ack=st.booleans(),
)
async def test_customer_token_cannot_act_as_agent(
    token_server: RunningServer,
    http: aiohttp.ClientSession,
    event: Event,
    agent_id: str,
    ack: bool,
) -> None:
    """A customer's token may not join ``agents``, type as an agent, or heartbeat."""
    conversation, token = await _customer_token(token_server, http)
    peer = Peer(token_server.url, token)
    await peer.connect()
    try:
        payload: Any = {
            Event.JOIN_AGENT_DASHBOARD: agent_id,
            Event.AGENT_TYPING: {"conversationId": conversation, "isTyping": True},
            Event.HEARTBEAT: {"timestamp": 1_700_000_000_000},
        }[event]
        codes = {ErrorCode.FORBIDDEN}
        if event == Event.HEARTBEAT:
            codes.add(ErrorCode.NOT_JOINED)
        await assert_rejected(peer, event, (payload,), ack=ack, codes=codes)
        await assert_server_alive(token_server, http, peer)
    finally:
        await peer.close()


@FEW
@given(
    event=st.sampled_from([Event.JOIN_CONVERSATION, Event.CUSTOMER_TYPING]),
    other=valid_identifiers,
    ack=st.booleans(),
)
async def test_customer_token_is_scoped_to_its_conversation(
    token_server: RunningServer,
    http: aiohttp.ClientSession,
    event: Event,
    other: str,
    ack: bool,
) -> None:
    """A customer's token may join and type in its own conversation only."""
    own, token = await _customer_token(token_server, http)
    assume(other != own)
    peer = Peer(token_server.url, token)
    await peer.connect()
    try:
        payload: Any = (
            other
            if event == Event.JOIN_CONVERSATION
            else {"conversationId": other, "isTyping": True}
        )
        await assert_rejected(
            peer, event, (payload,), ack=ack, codes={ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND}
        )
        await assert_server_alive(token_server, http, peer)
    finally:
        await peer.close()


@FEW
@given(other=valid_identifiers, ack=st.booleans())
async def test_agent_token_joins_only_as_itself(
    token_server: RunningServer, http: aiohttp.ClientSession, other: str, ack: bool
) -> None:
    """An agent token may only join the dashboard under its own agentId."""
    assume(other != AGENT_ID)
    token = await _agent_token(token_server, http, AGENT_ID)
    peer = Peer(token_server.url, token)
    await peer.connect()
    try:
        await assert_rejected(
            peer, Event.JOIN_AGENT_DASHBOARD, (other,), ack=ack, codes={ErrorCode.FORBIDDEN}
        )
        await assert_server_alive(token_server, http, peer)
    finally:
        await peer.close()


@FEW
@given(token=st.one_of(st.text(max_size=300), junk))
async def test_bad_socket_token_is_refused_at_connect(
    token_server: RunningServer, http: aiohttp.ClientSession, token: Any
) -> None:
    """A missing, malformed or forged token is refused with connect_error."""
    peer = Peer(token_server.url, token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await peer.connect()
    await peer.close()
    async with http.get(f"{token_server.url}/health") as response:
        assert response.status == 200


# --------------------------------------------------------------------------
# REST


@dataclass(frozen=True)
class Endpoint:
    """One POST endpoint, with its request model and a valid body to mutate."""

    path: str
    model: type[BaseModel]
    valid: dict[str, Any]


POST_ENDPOINTS: Final = [
    Endpoint("/api/conversations", CreateConversationRequest, {"visitorId": "v1", "metadata": {}}),
    Endpoint("/api/messages", PostMessageRequest, {"conversationId": "{cid}", "message": "hi"}),
    Endpoint(
        "/api/agent/respond",
        AgentRespondRequest,
        {"conversationId": "{cid}", "message": "hello", "agentId": AGENT_ID},
    ),
    Endpoint(
        "/api/agent/personal-status",
        PersonalStatusRequest,
        {"agentId": AGENT_ID, "personalStatus": "online"},
    ),
    Endpoint("/api/system/mode", SystemModeRequest, {"mode": "hitl"}),
    Endpoint("/api/conversations/{cid}/assign", AssignRequest, {"agentId": AGENT_ID}),
    Endpoint("/api/conversations/{cid}/end", EndConversationRequest, {}),
    Endpoint(
        "/api/admin/conversations/bulk-assign",
        BulkAssignRequest,
        {"conversationIds": ["{cid}"], "agentId": AGENT_ID},
    ),
]


def _fill(value: Any, cid: str) -> Any:
    if isinstance(value, str):
        return value.replace("{cid}", cid)
    if isinstance(value, list):
        return [_fill(item, cid) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, cid) for key, item in value.items()}
    return value


@st.composite
def post_bodies(draw: st.DrawFn, endpoint: Endpoint) -> tuple[bytes, Any]:
    """A broken body for ``endpoint``: raw bytes and the JSON value (``...`` when not JSON)."""
    shape = draw(st.sampled_from(["not-json", "not-object", "mutated", "mutated", "mutated"]))
    if shape == "not-json":
        raw = draw(
            st.one_of(
                st.binary(max_size=64),
                st.sampled_from([b"", b"{", b'{"a":', b"[1,", b"nul", b"{'a': 1}", b"\xff\xfe"]),
            )
        )
        try:
            return raw, json.loads(raw)
        except ValueError:
            return raw, ...
    if shape == "not-object":
        value = draw(junk.filter(lambda item: not isinstance(item, dict)))
    else:
        value = dict(endpoint.valid)
        for _ in range(draw(st.integers(1, 3))):
            action = draw(st.sampled_from(["drop", "junk", "huge", "extra"]))
            keys = sorted(value)
            if action == "drop" and keys:
                del value[draw(st.sampled_from(keys))]
            elif action in ("junk", "huge") and keys:
                key = draw(st.sampled_from(keys))
                value[key] = draw(junk if action == "junk" else huge_strings)
            else:
                value[draw(st.text(min_size=1, max_size=10))] = draw(junk)
    raw = json.dumps(value).encode()
    return raw, json.loads(raw)


def _model_accepts(model: type[BaseModel], value: Any) -> bool:
    if value is ...:
        return False
    try:
        model.model_validate(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS, ids=lambda e: e.path)
@FUZZ
@given(data=st.data())
async def test_malformed_post_body_is_rejected(
    server: RunningServer,
    http: aiohttp.ClientSession,
    agent: Peer,
    conversation_id: str,
    endpoint: Endpoint,
    data: st.DataObject,
) -> None:
    """Bad JSON, wrong types, missing fields: 400/422 invalid_payload, never a 5xx."""
    concrete = Endpoint(
        endpoint.path.replace("{cid}", conversation_id),
        endpoint.model,
        _fill(endpoint.valid, conversation_id),
    )
    raw, value = data.draw(post_bodies(concrete), label="body")
    # An empty body stands for ``{}``: fine where every field is optional.
    valid = _model_accepts(concrete.model, {} if raw == b"" else value)
    async with http.post(
        server.url + concrete.path, data=raw, headers={"Content-Type": "application/json"}
    ) as response:
        if valid:
            # Accepted by the contract's model: any answer but a server error or invalid_payload.
            text = await response.text()
            assert response.status < 500, f"{response.status}: {text[:500]}"
            if response.status >= 400:
                body = await check_error_response(response)
                assert body.code != ErrorCode.INVALID_PAYLOAD, body
        else:
            body = await check_error_response(response)
            assert response.status in (400, 413, 422), response.status
            assert body.code in {ErrorCode.INVALID_PAYLOAD, ErrorCode.PAYLOAD_TOO_LARGE}, body
    await assert_server_alive(server, http, agent)


@FEW
@given(
    path=st.sampled_from(
        [
            "/api/conversations/{id}/messages",
            "/api/conversations/{id}/assign",
            "/api/conversations/{id}/end",
        ]
    ),
    unknown=st.text(
        st.characters(codec="utf-8", exclude_characters="/?#%"), min_size=1, max_size=60
    ),
)
async def test_unknown_conversation_is_not_found(
    server: RunningServer,
    http: aiohttp.ClientSession,
    agent: Peer,
    path: str,
    unknown: str,
) -> None:
    """An unknown conversation id in the path answers 404 not_found."""
    url = server.url + path.replace("{id}", quote(f"nope-{unknown}", safe=""))
    method = "GET" if path.endswith("/messages") else "POST"
    body = {"agentId": AGENT_ID} if path.endswith("/assign") else {}
    async with http.request(method, url, json=body if method == "POST" else None) as response:
        error = await check_error_response(response)
        assert response.status == 404, (response.status, error)
        assert error.code == ErrorCode.NOT_FOUND
    await assert_server_alive(server, http, agent)


query_values = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.sampled_from(["-1", "abc", "1e3", "1.5", "", " ", "0x10", "NaN", "10" * 30, str(10**9)]),
    st.text(max_size=12),
)
STRICT_INT: Final = re.compile(r"-?[0-9]+")


def _int_or_none(text: str | None) -> int | None:
    if text is None or not STRICT_INT.fullmatch(text):
        return None
    return int(text)


@pytest.mark.parametrize("scope", ["all", "conversation"])
@FUZZ
@given(after=st.none() | query_values, limit=st.none() | query_values)
async def test_odd_message_query_params(
    server: RunningServer,
    http: aiohttp.ClientSession,
    agent: Peer,
    conversation_id: str,
    scope: str,
    after: str | None,
    limit: str | None,
) -> None:
    """``after`` and ``limit``: numbers in range work, anything else is invalid_payload."""
    params = {
        key: value for key, value in (("after", after), ("limit", limit)) if value is not None
    }
    path = "/api/messages" if scope == "all" else f"/api/conversations/{conversation_id}/messages"
    after_n, limit_n = _int_or_none(after), _int_or_none(limit)
    clearly_bad = (after is not None and after_n is None and not _loose_int(after)) or (
        limit is not None and limit_n is None and not _loose_int(limit)
    )
    clearly_bad |= limit_n is not None and limit_n < 0
    clearly_good = (after is None or (after_n is not None and after_n >= 0)) and (
        limit is None or (limit_n is not None and 0 <= limit_n <= 1000)
    )
    async with http.get(server.url + path, params=params) as response:
        if response.status == 200:
            assert not clearly_bad, f"{params} accepted"
            text = await response.text()
            model = AllMessagesResponse if scope == "all" else ConversationMessagesResponse
            page = model.model_validate_json(text)
            seqs = [message.seq for message in page.messages]
            assert seqs == sorted(seqs)
            if after_n is not None:
                assert all(seq > after_n for seq in seqs)
            cap = 1000 if limit_n is None else min(limit_n, 1000)
            assert len(seqs) <= (100 if limit is None else cap)
        else:
            assert not clearly_good, f"{params} refused with {response.status}"
            error = await check_error_response(response)
            assert response.status in (400, 422)
            assert error.code == ErrorCode.INVALID_PAYLOAD
    await assert_server_alive(server, http, agent)


def _loose_int(text: str) -> bool:
    """Whether Python's ``int()`` accepts ``text`` (``" 5"``, ``"+5"``, ``"1_0"``...)."""
    try:
        int(text)
    except ValueError:
        return False
    return True


@FEW
@given(status=st.none() | st.sampled_from(["active", "ended", "archived"]) | st.text(max_size=12))
async def test_odd_conversation_status_filter(
    server: RunningServer,
    http: aiohttp.ClientSession,
    agent: Peer,
    conversation_id: str,
    status: str | None,
) -> None:
    """``?status=`` filters by a known status; an unknown one is refused or matches nothing."""
    params = {} if status is None else {"status": status}
    if status == "":
        status = None  # ``?status=`` is no filter
    async with http.get(f"{server.url}/api/admin/conversations", params=params) as response:
        if response.status == 200:
            page = ConversationListResponse.model_validate_json(await response.text())
            if status is not None:
                assert all(item.status == status for item in page.conversations)
            if status in (None, "active"):
                assert conversation_id in {item.id for item in page.conversations}
        else:
            assert status not in (None, "active", "ended", "archived")
            error = await check_error_response(response)
            assert error.code == ErrorCode.INVALID_PAYLOAD
    await assert_server_alive(server, http, agent)


@pytest.mark.parametrize("path", ["/api/messages", "/api/agent/respond"])
@FEW
@given(
    key=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=300),
)
async def test_idempotency_key(
    server: RunningServer,
    http: aiohttp.ClientSession,
    agent: Peer,
    conversation_id: str,
    path: str,
    key: str,
) -> None:
    """Any key up to 255 characters makes a retry store nothing new; longer is refused."""
    nonce = uuid.uuid4()  # keys and texts must not repeat across examples
    conversation = f"idem-{nonce.hex}" if path == "/api/messages" else conversation_id
    body = {"conversationId": conversation, "message": f"once {nonce.hex}", "agentId": AGENT_ID}
    answers = []
    for _ in range(2):
        async with http.post(
            server.url + path, json=body, headers={"Idempotency-Key": key}
        ) as response:
            if len(key) > 255:
                error = await check_error_response(response)
                assert error.code == ErrorCode.INVALID_PAYLOAD
                continue
            assert response.status == 200, await response.text()
            answers.append(await response.json())
    if len(key) <= 255:
        assert answers[0] == answers[1]
    async with http.get(f"{server.url}/api/conversations/{conversation}/messages") as response:
        if response.status == 404:
            assert len(key) > 255  # the refused first message created nothing
            return
        page = ConversationMessagesResponse.model_validate_json(await response.text())
    stored = [message for message in page.messages if message.content == body["message"]]
    assert len(stored) == (0 if len(key) > 255 else 1), stored
    await assert_server_alive(server, http, agent)


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS, ids=lambda e: e.path)
async def test_deeply_nested_json_body_is_invalid_payload(
    server: RunningServer,
    http: aiohttp.ClientSession,
    agent: Peer,
    conversation_id: str,
    endpoint: Endpoint,
) -> None:
    """JSON nested past any parser's recursion limit (yet small): 400, not a crash."""
    depth = 20_000
    path = endpoint.path.replace("{cid}", conversation_id)
    declared = next(info.alias for info in endpoint.model.model_fields.values())
    others = {k: v for k, v in _fill(endpoint.valid, conversation_id).items() if k != declared}
    prefix = json.dumps({**others, declared: 0})[:-1].rsplit("0", 1)[0]
    body = (prefix + "[" * depth + "]" * depth + "}").encode()
    async with http.post(
        server.url + path, data=body, headers={"Content-Type": "application/json"}
    ) as response:
        error = await check_error_response(response)
        assert response.status in (400, 422), response.status
        assert error.code == ErrorCode.INVALID_PAYLOAD
    await assert_server_alive(server, http, agent)


async def test_deeply_nested_socket_payload_keeps_the_link(
    server: RunningServer, http: aiohttp.ClientSession, agent: Peer
) -> None:
    """A Socket.IO packet nested 20,000 deep: the link and the server stay up.

    python-socketio's own decoder cannot parse it, so no handler runs; the contract's
    error-event and negative ack are checked where the payload reaches the server.
    """
    depth = 20_000
    async with http.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket") as ws:
        opening = await asyncio.wait_for(ws.receive_str(), WAIT)
        assert opening.startswith("0")
        await ws.send_str("40")
        assert (await asyncio.wait_for(ws.receive_str(), WAIT)).startswith("40")
        await ws.send_str('421["heartbeat",' + "[" * depth + "]" * depth + "]")
        await ws.send_str('422["request-current-state","system-mode"]')
        while True:
            frame = await asyncio.wait_for(ws.receive_str(), WAIT)
            if frame.startswith("432"):
                assert json.loads(frame[3:]) == [{"ok": True}]
                break
    await assert_server_alive(server, http, agent)


async def test_oversize_body_is_413(
    server: RunningServer, http: aiohttp.ClientSession, agent: Peer
) -> None:
    """A body far over the bound is refused with 413 payload_too_large, as JSON."""
    body = json.dumps({"conversationId": "c", "message": "x" * 5_000_000}).encode()
    async with http.post(
        f"{server.url}/api/messages",
        data=io.BytesIO(body),
        headers={"Content-Type": "application/json"},
    ) as response:
        error = await check_error_response(response)
        assert response.status == 413
        assert error.code == ErrorCode.PAYLOAD_TOO_LARGE
    await assert_server_alive(server, http, agent)


ASCII_TOKEN: Final = st.characters(min_codepoint=33, max_codepoint=126)


AGENT_ENDPOINTS: Final[list[tuple[str, str, dict[str, Any] | None]]] = [
    ("GET", "/api/messages", None),
    ("GET", "/api/admin/conversations", None),
    ("GET", "/api/agents/connected", None),
    ("GET", "/api/system/mode", None),
    ("POST", "/api/system/mode", {"mode": "off"}),
    ("POST", "/api/agent/respond", {"conversationId": "{cid}", "message": "x", "agentId": "a"}),
    ("POST", "/api/agent/personal-status", {"agentId": "a", "personalStatus": "afk"}),
    (
        "POST",
        "/api/admin/conversations/bulk-assign",
        {"conversationIds": ["{cid}"], "agentId": "a"},
    ),
    ("POST", "/api/conversations/{cid}/assign", {"agentId": "a"}),
    ("POST", "/api/conversations/{cid}/end", {}),
    ("GET", "/api/conversations/{cid}/messages", None),
]
"""Endpoints that need a token, with a valid body, so only the token is wrong."""


@pytest.mark.parametrize(("method", "path", "body"), AGENT_ENDPOINTS)
@FEW
@given(
    authorization=st.none()
    | st.text(ASCII_TOKEN, max_size=80).map(lambda token: f"Bearer {token}")
    | st.sampled_from(["Bearer", "Basic dXNlcjpwYXNz", "bearer x", "Token abc"])
)
async def test_rest_without_a_valid_token_is_401(
    token_server: RunningServer,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    authorization: str | None,
) -> None:
    """Token mode: a missing or forged bearer token answers 401 unauthorized."""
    headers = {} if authorization is None else {"Authorization": authorization}
    async with http.request(
        method,
        token_server.url + path.replace("{cid}", "conv-1"),
        headers=headers,
        json=None if body is None else _fill(body, "conv-1"),
    ) as response:
        error = await check_error_response(response)
        assert response.status == 401, (response.status, error)
        assert error.code == ErrorCode.UNAUTHORIZED
    async with http.get(f"{token_server.url}/health") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    # GET /api/system/mode stays readable with a customer token: the widget shows the mode.
    [endpoint for endpoint in AGENT_ENDPOINTS[:-2] if endpoint[:2] != ("GET", "/api/system/mode")],
)
async def test_customer_token_on_agent_endpoint_is_403(
    token_server: RunningServer,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    """Token mode: a customer's token on an agent endpoint answers 403 forbidden."""
    conversation, token = await _customer_token(token_server, http)
    async with http.request(
        method,
        token_server.url + path.replace("{cid}", conversation),
        headers={"Authorization": f"Bearer {token}"},
        json=None if body is None else _fill(body, conversation),
    ) as response:
        error = await check_error_response(response)
        assert response.status == 403, (response.status, error)
        assert error.code == ErrorCode.FORBIDDEN


@FUZZ
@given(data=st.data())
async def test_malformed_agent_token_request(
    token_server: RunningServer, http: aiohttp.ClientSession, data: st.DataObject
) -> None:
    """``POST /api/auth/agent-token``: junk is invalid_payload, a wrong key is 401."""
    endpoint = Endpoint(
        "/api/auth/agent-token",
        AgentTokenRequest,
        {"agentId": AGENT_ID, "agentKey": str(token_server.agent_key)},
    )
    raw, value = data.draw(post_bodies(endpoint), label="body")
    async with http.post(
        token_server.url + endpoint.path, data=raw, headers={"Content-Type": "application/json"}
    ) as response:
        if value is not ... and _model_accepts(AgentTokenRequest, value):
            if value.get("agentKey", value.get("agent_key")) == token_server.agent_key:
                assert response.status == 200, await response.text()
            else:
                error = await check_error_response(response)
                assert response.status == 401
                assert error.code == ErrorCode.UNAUTHORIZED
        else:
            error = await check_error_response(response)
            assert response.status in (400, 413, 422)
            assert error.code in {ErrorCode.INVALID_PAYLOAD, ErrorCode.PAYLOAD_TOO_LARGE}
    async with http.get(f"{token_server.url}/health") as response:
        assert response.status == 200
