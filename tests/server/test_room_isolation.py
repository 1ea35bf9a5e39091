"""Property: a customer never receives an event of another conversation or of the agents room.

A hypothesis :class:`~hypothesis.stateful.RuleBasedStateMachine` drives a real reference
server (auth mode ``token``, loopback, real sockets) with customers whose conversation ids
are arbitrary strings: the server's own room names (``agents``), the socket id of another
client (every socket also sits in a room named after its id), strings that look like the
server's internal room names, unicode. Customers join whatever they like, with their own
token or another's, while an agent replies, types and heartbeats and other customers write
and type.

After every step each socket makes a round trip (an acknowledged ``request-current-state``):
the server sends a socket's packets in order, so once the acknowledgement is back every event
the step caused for that socket has arrived. The invariant then checks each customer's new
events: only ``agent-message`` of its own conversation, ``agent-typing-status`` when the
step was an agent typing in its own conversation, ``error-event`` and the barrier's
``current-state`` may reach it.

The machine runs its own event loop (an :class:`asyncio.Runner`: hypothesis calls the rules
synchronously) with one server per example, bounded in examples and steps
(``VILNIUS_ISOLATION_EXAMPLES``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from mock_server import RunningServer, ServerConfig
from tests.server.helpers import TIMEOUT, Recorder

T = TypeVar("T")

AGENT_KEY: Final = "isolation-key"
AGENT_ID: Final = "agent-1"
EXAMPLES: Final = int(os.environ.get("VILNIUS_ISOLATION_EXAMPLES", "25"))

# Names a conversation id could try to collide with: the server's rooms, what an internal
# prefix might look like, separators; plus arbitrary text. Surrogates cannot travel as JSON.
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=24)
CONVERSATION_IDS: Final = st.one_of(
    st.sampled_from(
        ["agents", "Agents", " agents", "settings", "/", "conversation:agents", "conv:agents"]
    ),
    _TEXT,
)

ALLOWED_ALWAYS: Final = frozenset({"error-event", "current-state"})


@dataclass
class Customer:
    """A connected customer socket and the conversation its token belongs to."""

    socket: Recorder
    conversation_id: str
    seen: int = 0
    """How many of its events the invariant already checked."""


@dataclass
class Step:
    """What the last rule made the agent do, to judge what customers may have received."""

    typed_in: set[str] = field(default_factory=set)


class RoomIsolation(RuleBasedStateMachine):
    """Customers with arbitrary ids and tokens against one agent, on a real server."""

    conversations = Bundle("conversations")
    customers = Bundle("customers")

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.server = RunningServer(
            ServerConfig(host="127.0.0.1", port=0, db=":memory:", auth="token", agent_key=AGENT_KEY)
        )
        self.tokens: dict[str, str] = {}
        self.all_customers: list[Customer] = []
        self.step = Step()
        self.run(self._start())

    # -- plumbing ---------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(asyncio.wait_for(coroutine, TIMEOUT * 4))

    async def _start(self) -> None:
        await self.server.start()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        reply = await self._post(
            "/api/auth/agent-token", {"agentId": AGENT_ID, "agentKey": AGENT_KEY}
        )
        self.agent_token: str = reply[1]["token"]
        self.agent = Recorder()
        await self.agent.connect(self.server.url, self.agent_token)
        assert await self.agent.call("join-agent-dashboard", AGENT_ID) == {"ok": True}

    async def _post(
        self, path: str, body: Any, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.post(self.server.url + path, json=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def _barrier(self) -> None:
        """Once every socket's acknowledgement is back, the step's events have all arrived."""
        sockets = [self.agent] + [c.socket for c in self.all_customers if c.socket.client.connected]
        await asyncio.gather(
            *(socket.call("request-current-state", "system-mode") for socket in sockets)
        )

    def teardown(self) -> None:
        async def close() -> None:
            for customer in self.all_customers:
                await customer.socket.close()
            await self.agent.close()
            await self.http.close()
            await self.server.close()

        try:
            self.run(close())
        finally:
            self.runner.close()  # cancels what the server's sockets left running

    async def _connect(self, conversation_id: str) -> Customer:
        """A customer socket with the conversation's token, joined to it."""
        socket = Recorder()
        await socket.connect(self.server.url, self.tokens[conversation_id])
        customer = Customer(socket, conversation_id)
        self.all_customers.append(customer)
        assert await socket.call("join-conversation", conversation_id) == {"ok": True}
        return customer

    def _create(self, conversation_id: str) -> str:
        self.step = Step()
        status, body = self.run(
            self._post("/api/messages", {"conversationId": conversation_id, "message": "hi"})
        )
        assert status < 500, body
        if status == 200 and "token" in body:
            self.tokens[conversation_id] = body["token"]
        self.run(self._barrier())
        return conversation_id

    def _sids(self) -> list[str]:
        sids = [self.agent.client.get_sid()] + [
            c.socket.client.get_sid() for c in self.all_customers
        ]
        return [sid for sid in sids if sid]

    # -- rules ------------------------------------------------------------

    @initialize(target=customers, conversation_id=_TEXT.filter(lambda text: text != "agents"))
    def first_customer(self, conversation_id: str) -> Customer:
        """Start with one customer in one conversation, so every rule has something to use."""
        status, body = self.run(
            self._post("/api/messages", {"conversationId": conversation_id, "message": "hi"})
        )
        assert status == 200, body
        self.tokens[conversation_id] = body["token"]
        return self.run(self._connect(conversation_id))

    @rule(target=conversations, conversation_id=CONVERSATION_IDS)
    def create_conversation(self, conversation_id: str) -> str:
        """A first message creates a conversation with a client-chosen id (or is refused)."""
        return self._create(conversation_id)

    @rule(target=conversations, data=st.data())
    def create_conversation_named_after_a_socket(self, data: st.DataObject) -> str:
        """A conversation whose id is another socket's id (that socket's own room)."""
        return self._create(data.draw(st.sampled_from(self._sids())))

    @precondition(lambda self: bool(self.tokens))
    @rule(target=customers, data=st.data())
    def connect_customer(self, data: st.DataObject) -> Customer:
        """A customer connects with the token of a conversation and joins it."""
        self.step = Step()
        customer = self.run(self._connect(data.draw(st.sampled_from(sorted(self.tokens)))))
        self.run(self._barrier())
        return customer

    @rule(token=st.text(st.characters(exclude_categories=("Cs",)), max_size=40))
    def connect_with_a_made_up_token(self, token: str) -> None:
        """A socket with a token the server never issued is refused."""
        self.step = Step()

        async def connect() -> None:
            socket = Recorder()
            try:
                await socket.connect(self.server.url, token or None)
            except Exception:
                return
            finally:
                await socket.close()
            raise AssertionError(f"a made-up token was accepted: {token!r}")

        self.run(connect())

    @rule(customer=customers, target_id=st.one_of(CONVERSATION_IDS, conversations))
    def customer_joins(self, customer: Customer, target_id: str) -> None:
        """A customer tries to join any room it can name."""
        self.step = Step()
        self.run(customer.socket.call("join-conversation", target_id))
        self.run(self._barrier())

    @rule(customer=customers, data=st.data())
    def customer_joins_a_socket_room(self, customer: Customer, data: st.DataObject) -> None:
        """A customer tries to join the room named after another socket's id."""
        self.step = Step()
        sid = data.draw(st.sampled_from(self._sids()))
        self.run(customer.socket.call("join-conversation", sid))
        self.run(customer.socket.call("join-agent-dashboard", AGENT_ID))
        self.run(self._barrier())

    @rule(conversation_id=conversations)
    def agent_replies(self, conversation_id: str) -> None:
        """The agent answers in a conversation (``agent-message`` to its room)."""
        self.step = Step()
        body = {"conversationId": conversation_id, "message": "reply", "agentId": AGENT_ID}
        status, answer = self.run(self._post("/api/agent/respond", body, self.agent_token))
        assert status < 500, answer
        self.run(self._barrier())

    @rule(conversation_id=conversations)
    def agent_types(self, conversation_id: str) -> None:
        """The agent types in a conversation (``agent-typing-status`` to its room)."""
        self.step = Step(typed_in={conversation_id})
        payload = {"conversationId": conversation_id, "isTyping": True}
        self.run(self.agent.call("agent-typing", payload))
        self.run(self._barrier())

    @rule()
    def agent_heartbeat(self) -> None:
        """The agent's heartbeat (``heartbeat-ack`` to the agent's own socket room)."""
        self.step = Step()
        self.run(self.agent.call("heartbeat", {"timestamp": 1}))
        self.run(self._barrier())

    @rule(customer=customers)
    def customer_writes_and_types(self, customer: Customer) -> None:
        """A customer writes and types (events for the agents room)."""
        self.step = Step()
        token = self.tokens[customer.conversation_id]
        body = {"conversationId": customer.conversation_id, "message": "question"}
        status, answer = self.run(self._post("/api/messages", body, token))
        assert status < 500, answer
        payload = {"conversationId": customer.conversation_id, "isTyping": True}
        self.run(customer.socket.call("customer-typing", payload))
        self.run(self._barrier())

    @rule(customer=consumes(customers))
    def customer_leaves(self, customer: Customer) -> None:
        """A customer disconnects."""
        self.step = Step()
        self.run(customer.socket.close())

    # -- the property -----------------------------------------------------

    @invariant()
    def customers_receive_only_their_conversation(self) -> None:
        for customer in self.all_customers:
            new = customer.socket.events[customer.seen :]
            customer.seen = len(customer.socket.events)
            for event, data in new:
                if event in ALLOWED_ALWAYS:
                    continue
                if event == "agent-message":
                    assert data["message"]["conversationId"] == customer.conversation_id, (
                        f"customer of {customer.conversation_id!r} got {event} {data}"
                    )
                elif event == "agent-typing-status":
                    assert customer.conversation_id in self.step.typed_in, (
                        f"customer of {customer.conversation_id!r} got typing of "
                        f"{self.step.typed_in}"
                    )
                else:
                    raise AssertionError(
                        f"customer of {customer.conversation_id!r} got {event}: {data}"
                    )


RoomIsolation.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TestRoomIsolation = pytest.mark.timeout(300)(RoomIsolation.TestCase)


async def test_reserved_id_is_refused_and_rooms_stay_apart(token_server: RunningServer) -> None:
    """The reported instance: ``agents`` names no conversation; a joined room is its own."""
    async with aiohttp.ClientSession() as http:
        url = token_server.url
        async with http.post(
            f"{url}/api/messages", json={"conversationId": "agents", "message": "hi"}
        ) as reply:
            assert reply.status == 422
            body = await reply.json()
            assert body["code"] == "invalid_payload"
            assert "reserved" in body["error"]
        async with http.post(f"{url}/api/conversations", json={}) as reply:
            created = await reply.json()
    customer = Recorder()
    await customer.connect(url, created["token"])
    try:
        conversation_id = created["conversationId"]
        assert await customer.call("join-conversation", conversation_id) == {"ok": True}
        sio: Any = getattr(token_server.hub.transport, "sio")  # noqa: B009 - the live server
        rooms = sio.manager.get_rooms(customer.client.get_sid(), "/")
        assert "agents" not in rooms
        assert conversation_id not in rooms
        assert f"conversation:{conversation_id}" in rooms
    finally:
        await customer.close()
