"""The console's server side, against the real server (no browser): page, feed, tap, auth."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mock_server import AgentUser, RunningServer, ServerConfig, rooms, serve
from mock_server.console import feed as feed_module
from mock_server.console.feed import Feed
from tests.conftest import scaled
from tests.console.processes import Proc
from tests.examples.helpers import example_env
from tests.faults.timing import wait_until
from tests.server.helpers import Api, agent, recorder

TIMEOUT = scaled(5.0)
SERVER = (sys.executable, "-m", "mock_server", "--port", "0", "--db", ":memory:")

Message = dict[str, Any]


class Console:
    """A feed connection, as the page opens it: what it received, and a way to wait."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[Message] = []
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Condition()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.messages.append(json.loads(message.data))
                    self._changed.notify_all()
        self.closed.set_result(self.ws.close_code)
        async with self._changed:
            self._changed.notify_all()

    @property
    def entries(self) -> list[Message]:
        """The log entries received so far."""
        return [m for m in self.messages if m["type"] == "entry"]

    async def wait(self, predicate: Callable[[Message], bool], what: str) -> Message:
        """The first message matching ``predicate`` (waiting for it)."""

        def found() -> Message | None:
            return next((m for m in self.messages if predicate(m)), None)

        async def arrived() -> Message:
            async with self._changed:
                await self._changed.wait_for(lambda: found() is not None or self.closed.done())
            message = found()
            if message is None:
                raise AssertionError(f"feed closed before {what}: {self.messages}")
            return message

        try:
            return await asyncio.wait_for(arrived(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no {what} in the feed: {self.messages}") from None

    async def entry(self, name: str, **fields: Any) -> Message:
        """The first entry called ``name`` whose fields have the given values."""

        def matches(m: Message) -> bool:
            return (
                m["type"] == "entry"
                and m["name"] == name
                and all(m.get(k) == v for k, v in fields.items())
            )

        return await self.wait(matches, f"entry {name} {fields}")


@asynccontextmanager
async def console(url: str, token: str | None = None) -> AsyncIterator[Console]:
    """A feed connection as the page opens it, subscribed (its hello received)."""
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url + "/console/feed")
        await ws.send_str(json.dumps({"token": token}))
        feed = Console(ws)
        try:
            await feed.wait(lambda m: m["type"] == "hello", "hello")
            yield feed
        finally:
            await ws.close()
            await feed.reader


async def refusal(url: str, first_message: str) -> tuple[int | None, list[Any]]:
    """Open the feed, send ``first_message``; the close code and what came before it."""
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url + "/console/feed")
        await ws.send_str(first_message)
        received = []
        async with asyncio.timeout(TIMEOUT):
            async for message in ws:
                received.append(message.data)
        return ws.close_code, received


# -- the feed sees events and REST calls --------------------------------------------------


def _display_order(entries: list[Message]) -> list[Message]:
    """The log as the page lays it out (console.js ``log.add``): in ``seq`` order, but a
    REST call goes where it came in, before the entries published while it ran."""
    shown: list[Message] = []
    for entry in sorted(entries, key=lambda e: e["seq"]):
        at = len(shown)
        if entry["kind"] == "http":
            later = [i for i, e in enumerate(shown) if entry["after"] < e["seq"] < entry["seq"]]
            at = min(later, default=at)
        shown.insert(at, entry)
    return shown


async def test_the_log_is_in_the_order_of_the_times_it_shows(server: RunningServer) -> None:
    """A REST call shows when it came in: an event published while it ran comes after it,
    with a later time (it used to show the time of the answer, above earlier events)."""
    async with console(server.url) as feed:
        body = json.dumps({"conversationId": "c-order", "message": "hi"}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(
                b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            # aiohttp says 100 Continue right before its handlers (and the tap) run
            continued = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            assert continued.startswith(b"HTTP/1.1 100")
            async with agent(server.url, "agent-9"):  # while the request waits for its body
                join = await feed.entry("join-agent-dashboard", dir="in", payload="agent-9")
            await asyncio.sleep(0.01)  # the answer comes on a later millisecond
            writer.write(body)
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            assert answer.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()
        http = await feed.entry("POST /api/messages", kind="http")
        shown = _display_order(feed.entries)
        assert shown.index(http) < shown.index(join)  # it came in first
        assert http["time"] <= join["time"]
        times = [entry["time"] for entry in shown]
        assert times == sorted(times), [(e["name"], e["time"]) for e in shown]


async def test_feed_shows_events_rest_calls_and_state(server: RunningServer) -> None:
    async with console(server.url) as feed:
        hello = feed.messages[0]
        assert hello == {"type": "hello", "profile": "vilnius"}
        await feed.wait(lambda m: m["type"] == "state", "first state")
        async with agent(server.url, "agent-7") as bot, Api(server.url) as api:
            join = await feed.entry("join-agent-dashboard", dir="in")
            assert join["payload"] == "agent-7"
            assert join["sid"]
            mode = await feed.entry("system-mode-update", dir="out")
            assert mode["room"] == join["sid"]
            assert mode["to"] == "agent agent-7"  # a socket's own room, named after who it is
            reply = await api.post("/api/messages", {"conversationId": "c-1", "message": "hi"})
            assert reply.status == 200
            http = await feed.entry("POST /api/messages", kind="http")
            assert http["status"] == 200
            assert http["conversationId"] == "c-1"
            assert http["payload"]["request"] == {"conversationId": "c-1", "message": "hi"}
            assert http["payload"]["response"]["userMessage"]["content"] == "hi"
            new_message = await feed.entry("new-message", dir="out", room="agents")
            assert new_message["conversationId"] == "c-1"
            assert new_message["payload"]["message"]["content"] == "hi"
            # The REST call is placed before the events it caused.
            assert http["after"] < new_message["seq"] < http["seq"]
            await bot.wait_for("new-message")
            state = await feed.wait(
                lambda m: m["type"] == "state" and m["conversations"], "state with c-1"
            )
            assert state["mode"] == "hitl"
            assert state["conversations"][0]["id"] == "c-1"
            assert state["conversations"][0]["assignedAgent"] == "agent-7"
            assert [a["id"] for a in state["agents"]] == ["agent-7"]
            assert state["agents"][0]["activeChats"] == 1
            assert [a["id"] for a in state["assignees"]] == ["agent-7"]
            # Typing in the conversation room, sender excluded: the room is logged.
            await bot.call("agent-typing", {"conversationId": "c-1", "isTyping": True})
            typing = await feed.entry("agent-typing-status")
            assert typing["room"] == "conversation:c-1"
            assert typing["conversationId"] == "c-1"
            assert typing["skip"] == join["sid"]
        disconnect = await feed.entry("disconnect", kind="socket")
        assert disconnect["sid"] == join["sid"]
        seqs = [e["seq"] for e in feed.entries]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)


async def test_feed_shows_rejected_input_and_rooms(server: RunningServer) -> None:
    async with console(server.url) as feed, recorder(server.url) as client, Api(server.url) as api:
        await client.call("no-such-event", {"x": 1})
        unknown = await feed.entry("no-such-event", dir="in")
        assert unknown["payload"] == {"x": 1}
        error = await feed.entry("error-event", dir="out")
        assert error["payload"]["code"] == "invalid_payload"
        assert error["room"] == unknown["sid"]
        await client.call("customer-typing", {"conversationId": "x" * 70_000})
        too_large = await feed.entry("customer-typing", dir="in")
        count = int(too_large["payload"].removeprefix("(").split()[0])
        assert too_large["payload"] == f"({count} characters, not read)"
        assert count > 70_000
        refused = await feed.wait(
            lambda m: m.get("name") == "error-event" and m["seq"] > too_large["seq"], "refusal"
        )
        assert refused["payload"]["code"] == "payload_too_large"
        conversation_id, _ = await api.new_conversation()
        assert await client.call("join-conversation", conversation_id) == {"ok": True}
        room = await feed.entry("enter-room", kind="room")
        assert room["room"] == f"conversation:{conversation_id}"
        assert room["conversationId"] == conversation_id
        bad = await api.post("/api/messages", {"conversationId": conversation_id})
        assert bad.status == 422
        failed = await feed.entry("POST /api/messages", status=422)
        assert failed["payload"]["response"]["code"] == "invalid_payload"
        missing = await api.get("/api/conversations/nope/messages")
        assert missing.status == 404
        not_found = await feed.entry("GET /api/conversations/nope/messages")
        assert not_found["conversationId"] == "nope"
        assert not_found["status"] == 404


async def test_the_console_does_not_watch_itself(server: RunningServer) -> None:
    async with console(server.url) as feed:
        async with aiohttp.ClientSession() as session:
            for path in ("/console", "/console/console.js", "/console/config"):
                async with session.get(server.url + path) as response:
                    assert response.status == 200
        async with Api(server.url) as api:
            assert (await api.get("/health")).status == 200
        health = await feed.entry("GET /health")
        assert all(not str(e.get("path", "")).startswith("/console") for e in feed.entries)
        assert all(not str(e.get("path", "")).startswith("/socket.io") for e in feed.entries)
        assert health["status"] == 200


# -- secrets and auth ---------------------------------------------------------------------


async def test_token_mode_feed_needs_an_agent_token(token_server: RunningServer) -> None:
    url = token_server.url
    async with Api(url) as api:
        conversation_id, customer_token = await api.new_conversation()
        agent_token = await api.agent_token("console")
    # no token, a made-up one, a customer's, the agent key itself (a token is asked for)
    for token in (None, "not-a-token", customer_token, token_server.agent_key):
        assert await refusal(url, json.dumps({"token": token})) == (4401, [])
    assert await refusal(url, "{not json") == (4401, [])
    async with console(url, agent_token) as feed:
        assert conversation_id in [
            c["id"]
            for c in (await feed.wait(lambda m: m["type"] == "state", "state"))["conversations"]
        ]


async def test_token_mode_page_holds_no_secret(token_server: RunningServer) -> None:
    key = token_server.agent_key
    assert key is not None
    async with aiohttp.ClientSession() as session:
        for path in ("/console", "/console/console.js", "/console/sio.js", "/console/config"):
            async with session.get(token_server.url + path) as response:
                assert response.status == 200
                text = await response.text()
                assert key not in text
        async with session.get(token_server.url + "/console/config") as response:
            config = await response.json()
    assert config["keyRequired"] is True


async def test_secrets_never_reach_the_feed(token_server: RunningServer) -> None:
    url = token_server.url
    async with Api(url) as api:
        token = await api.agent_token("console")
        async with console(url, token) as feed:
            await api.agent_token("agent-2")
            trade = await feed.entry("POST /api/auth/agent-token", status=200)
            assert trade["payload"]["request"] == {"agentId": "agent-2", "agentKey": "***"}
            assert trade["payload"]["response"]["token"] == "***"
            assert trade["payload"]["response"]["agentId"] == "agent-2"
            _, customer_token = await api.new_conversation()
            created = await feed.entry("POST /api/conversations")
            assert created["payload"]["response"]["token"] == "***"
            async with recorder(url, customer_token):
                connect = await feed.entry("connect", kind="socket")
                assert connect["payload"] == {"auth": {"token": "***"}}
            everything = json.dumps(feed.messages)
            assert token_server.agent_key not in everything
            assert customer_token not in everything
            assert token not in everything


# -- on and off ---------------------------------------------------------------------------


async def test_no_console_serves_nothing() -> None:
    config = ServerConfig(port=0, db=":memory:", auth="none", console=False)
    async with serve(config=config) as server, aiohttp.ClientSession() as session:
        for path in ("/console", "/console/", "/console/console.js", "/console/config"):
            async with session.get(server.url + path) as response:
                assert response.status == 404, path
        async with session.get(server.url + "/console/feed") as response:
            assert response.status == 404
        async with session.get(server.url + "/health") as response:
            assert response.status == 200


async def test_assets_are_served_with_a_strict_policy(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/console") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            policy = response.headers["Content-Security-Policy"]
            assert "default-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy
            page = await response.text()
            assert 'src="/console/console.js"' in page
            assert "http://" not in page  # nothing from outside
            assert "https://" not in page
        for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
            async with session.get(f"{server.url}/console/{name}") as response:
                assert response.status == 200
                assert response.content_type == kind
        for path in ("/console/nope.js", "/console/..%2Fapp.py", "/console/index.htm"):
            async with session.get(server.url + path) as response:
                assert response.status == 404, path


@pytest.mark.parametrize(("args", "expected"), [([], True), (["--no-console"], False)])
def test_cli_prints_the_console_url(tmp_path: Path, args: list[str], expected: bool) -> None:
    process = Proc(
        [*SERVER, "--auth", "none", *args],
        example_env(),
    )
    try:
        process.wait_for_line("Press Ctrl+C to stop.")
        lines = process.output.splitlines()
        console_lines = [line for line in lines if line.startswith("Console: ")]
        if expected:
            assert len(console_lines) == 1, lines
            assert console_lines[0].startswith("Console: http://127.0.0.1:")
            assert console_lines[0].endswith("/console")
        else:
            assert console_lines == [], lines
    finally:
        process.stop()


def test_cli_token_mode_says_the_page_wants_the_key(tmp_path: Path) -> None:
    process = Proc([*SERVER, "--agent-key", "k"], example_env())
    try:
        line = process.wait_for_line("Console: ")
        assert "/console (type the agent key into the page)" in line
    finally:
        process.stop()


# -- the tap costs nothing without a console -----------------------------------------------


async def test_nothing_is_published_while_no_console_is_open(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = server.hub.feed
    calls: list[str] = []
    for name in ("event_out", "event_in", "socket", "room", "http", "publish"):
        original = getattr(Feed, name)

        def counting(
            self: Feed, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any
        ) -> Any:
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Feed, name, counting)

    async def traffic() -> None:
        async with agent(server.url, "a-1") as bot, Api(server.url) as api:
            assert (
                await api.post("/api/messages", {"conversationId": "q", "message": "x"})
            ).status == 200
            await bot.wait_for("new-message", lambda d: d["conversationId"] == "q")
            await bot.call("agent-typing", {"conversationId": "q", "isTyping": True})

    assert not feed.active
    await traffic()
    assert calls == []  # not one entry built, not one call made

    async with console(server.url):
        assert feed.active
        await traffic()
        assert {"event_out", "event_in", "socket", "room", "http"} <= set(calls)
    # the server notices the closed feed socket on its own schedule: nothing to await
    await wait_until(lambda: not feed.active, 5.0, what="the feed closed")
    calls.clear()
    await traffic()
    assert calls == []


# -- production (profile lizdeika) -------------------------------------------------------

BOT = AgentUser("bot@example.com", "secret", "Bot")
OTHER = AgentUser("other@example.com", "secret2", "Other")


async def test_production_profile_feed(tmp_path: Path) -> None:
    async with serve(profile="lizdeika", agent_users=[BOT, OTHER], auth="token") as server:
        # production has no agent key: the console is as open as the server itself
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.url + "/console/config") as response,
        ):
            config = await response.json()
        assert config == {
            "profile": "lizdeika",
            "keyRequired": False,
            "features": [],
            "userLogin": True,
            "acks": False,
            "personalStatuses": ["online", "offline"],
            "suggestions": True,
        }
        users = server.users()
        async with console(server.url) as feed:
            assert feed.messages[0]["profile"] == "lizdeika"
            state = await feed.wait(lambda m: m["type"] == "state", "state")
            assert state["assignees"] == [
                {"id": users[0].id, "name": "bot@example.com"},
                {"id": users[1].id, "name": "other@example.com"},
            ]
            async with recorder(server.url) as dashboard, Api(server.url) as api:
                await dashboard.client.emit("join-agent-dashboard", users[0].id)
                await feed.entry("join-agent-dashboard", payload=users[0].id)
                await feed.entry("enter-room", room="settings")
                reply = await api.post(
                    "/api/messages", {"conversationId": "session-abc123", "message": "hello"}
                )
                assert reply.status == 200
                message = await feed.entry("new-message")
                assert message["payload"]["type"] == "new-message"  # production's shape
                assert message["conversationId"] == "session-abc123"
                http = await feed.entry("POST /api/messages")
                assert http["status"] == 200
                state = await feed.wait(
                    lambda m: m["type"] == "state" and m["conversations"], "conversation"
                )
                assert state["conversations"][0]["assignedAgent"] == users[0].id
                assert [a["id"] for a in state["agents"]] == [users[0].id]


# -- the feed itself (pure logic) --------------------------------------------------------


async def test_a_console_that_falls_behind_is_dropped() -> None:
    feed = Feed()
    slow = feed.subscribe(limit=3)
    for number in range(5):
        feed.publish({"kind": "event", "name": f"e{number}"})
    assert slow.overflowed
    received = [await slow.get() for _ in range(4)]
    assert [json.loads(m)["name"] for m in received[:3] if m] == ["e0", "e1", "e2"]
    assert received[3] is None  # the writer closes that console (it reconnects afresh)
    feed.unsubscribe(slow)
    assert not feed.active


def test_the_feed_names_conversation_rooms_as_the_hub_does() -> None:
    assert feed_module.CONVERSATION_ROOM_PREFIX == rooms.CONVERSATION_ROOM_PREFIX
    assert feed_module.conversation_of(rooms.conversation_room("c:1")) == "c:1"
    assert feed_module.conversation_of({"message": {"conversationId": "m"}}) == "m"
    assert feed_module.conversation_of({"conversation": {"id": "n"}}) == "n"
    assert feed_module.conversation_of("agents", {"mode": "hitl"}) is None


def test_redaction_reaches_every_depth() -> None:
    body = {"agentKey": "k", "nested": [{"password": "p", "keep": 1}], "token": None}
    assert feed_module.redact(body) == {
        "agentKey": "***",
        "nested": [{"password": "***", "keep": 1}],
        "token": None,
    }


async def test_large_payloads_are_cut_to_a_preview() -> None:
    feed = Feed()
    subscriber = feed.subscribe()
    feed.event_out("new-message", {"content": "x" * 100_000}, "agents", None)
    message = await subscriber.get()
    assert message is not None
    assert len(message) < 5_000
    payload = json.loads(message)["payload"]
    assert payload["truncated"] is True
    assert payload["bytes"] > 100_000
