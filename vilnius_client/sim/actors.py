"""The simulated people: `SimAgent` and `SimCustomer`, SDK clients whose sends and receipts the
context's tracker records."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from .. import (
    AgentClient,
    AgentMessageEvent,
    CustomerClient,
    Event,
    NewMessageEvent,
    RateLimitedError,
)
from ..events import AgentSentMessageEvent, AgentTypingStatusEvent, CustomerTypingStatusEvent

if TYPE_CHECKING:
    from .context import SimContext


__all__ = ["CANNED", "SimAgent", "SimCustomer"]

_TAG = re.compile(r"\[sim:([0-9a-z]+)\]")
"""The tag every tracked message carries (``[sim:<tag>]``), to match its deliveries."""

CANNED = "Thanks for your message, an agent is looking into it."
"""What agents answer with ``reply="canned"``."""


class SimAgent:
    """A simulated agent: an [AgentClient][vilnius_client.AgentClient] whose receipts are tracked.

    Attributes:
        name: The agent id.
        client: The underlying SDK client (connected while the run lasts).
    """

    def __init__(self, ctx: SimContext, name: str, client: AgentClient) -> None:
        self.name = name
        self.client = client
        self._ctx = ctx

    async def reply(self, conversation_id: str, text: str) -> None:
        """Answer in ``conversation_id`` (tracked: ``new-message`` to every agent and
        ``agent-message`` to that conversation's customer)."""
        ctx = self._ctx
        customer = ctx.customer_of(conversation_id)
        if ctx.config.typing and customer is not None:
            await self.typing(conversation_id, True)
        tag = ctx.new_tag()
        now = ctx.clock()
        ctx.tracker.expect("new-message", tag, ctx.agent_names(), now)
        if customer is not None:
            ctx.tracker.expect("agent-message", tag, [customer.name], now)
        try:
            await self.client.respond(conversation_id, f"{text} [sim:{tag}]")
        except Exception as exc:
            ctx.send_failed(exc, "new-message", tag)
            if customer is not None:
                ctx.tracker.cancel("agent-message", tag)
        if ctx.config.typing and customer is not None:
            await self.typing(conversation_id, False)

    async def typing(self, conversation_id: str, is_typing: bool) -> None:
        """Send ``agent-typing`` (tracked as ``agent-typing-status`` at the customer)."""
        ctx = self._ctx
        customer = ctx.customer_of(conversation_id)
        key = None
        if customer is not None and customer.connected:
            # Only tracked when the customer can receive it: typing is never replayed.
            key = ctx.tracker.next_ordinal("agent-typing-status", "sender", conversation_id)
            ctx.tracker.expect("agent-typing-status", key, [customer.name], ctx.clock())
        try:
            await self.client.typing(conversation_id, is_typing)
        except Exception as exc:
            if key is None:
                ctx.note_error(f"agent-typing failed: {type(exc).__name__}: {exc}")
            else:
                ctx.send_failed(exc, "agent-typing-status", key)

    def _on_new_message(self, event: NewMessageEvent) -> None:
        ctx = self._ctx
        now = ctx.clock()
        match = _TAG.search(event.message.content)
        if match is None:
            return
        ctx.tracker.received("new-message", match.group(1), self.name, now)
        if (
            event.message.sender == "visitor"
            and ctx.config.reply != "none"
            and ctx.responder_of(event.conversation_id) is self
        ):
            text = (
                CANNED
                if ctx.config.reply == "canned"
                else "echo: " + _TAG.sub("", event.message.content).strip()
            )
            ctx.spawn(self.reply(event.conversation_id, text))

    def _on_agent_sent(self, event: AgentSentMessageEvent) -> None:
        """Production tells the agents of a reply with ``agent-sent-message`` (no
        ``new-message``): the same receipt."""
        match = _TAG.search(event.message.content)
        if match is not None:
            self._ctx.tracker.received("new-message", match.group(1), self.name, self._ctx.clock())

    def _on_customer_typing(self, event: CustomerTypingStatusEvent) -> None:
        ctx = self._ctx
        key = ctx.tracker.next_ordinal("customer-typing-status", self.name, event.conversation_id)
        ctx.tracker.received("customer-typing-status", key, self.name, ctx.clock())


class SimCustomer:
    """A simulated customer holding one conversation; survives `reload` (a widget reload).

    Attributes:
        name: The customer's name in the report (also its visitor id).
        client: The current SDK client (a new one after each `reload`).
    """

    def __init__(self, ctx: SimContext, name: str) -> None:
        self.name = name
        self._ctx = ctx
        self.client: CustomerClient | None = None
        self.conversation_id: str | None = None
        self.connected = False
        self._token: str | None = None

    async def start(self) -> None:
        """Connect and open the conversation (done by
        [SimContext.new_customer][vilnius_client.sim.SimContext.new_customer])."""
        client = self._client(CustomerClient(self._ctx.url, visitor_id=self.name))
        await self._ctx.connect(client, self.name)
        self.client = client
        conversation = await client.start_conversation(metadata={"sim": True})
        self.conversation_id = conversation.id
        self._token = client.token
        self._ctx.register_conversation(self)

    async def say(self, text: str) -> None:
        """Send a message (tracked: ``new-message`` to every agent); with ``typing`` on,
        type before and stop after."""
        ctx = self._ctx
        assert self.client is not None, "start() first"
        if ctx.config.typing:
            await self.typing(True)
        tag = ctx.new_tag()
        now = ctx.clock()
        ctx.tracker.expect("new-message", tag, ctx.agent_names(), now)
        ctx.throttling.sent(now)
        try:
            await self.client.send_message(f"{text} [sim:{tag}]")
        except RateLimitedError:
            ctx.tracker.cancel("new-message", tag)
            ctx.throttling.refused += 1
        except Exception as exc:
            ctx.send_failed(exc, "new-message", tag)
        if ctx.config.typing:
            await self.typing(False)

    async def typing(self, is_typing: bool) -> None:
        """Send ``customer-typing`` when connected (typing is volatile: not queued)."""
        ctx = self._ctx
        if self.client is None or not self.connected or self.conversation_id is None:
            return
        key = ctx.tracker.next_ordinal("customer-typing-status", "sender", self.conversation_id)
        ctx.tracker.expect("customer-typing-status", key, ctx.agent_names(), ctx.clock())
        try:
            await self.client.typing(is_typing)
        except Exception as exc:
            ctx.send_failed(exc, "customer-typing-status", key)

    async def reload(self, downtime: float = 0.5) -> None:
        """Disconnect, stay away ``downtime`` seconds, come back with a new client that
        resumes the conversation from its last seq (what a widget reload does)."""
        old = self.client
        assert old is not None, "start() first"
        assert self.conversation_id is not None
        last_seq, last_message_at = old.last_seq, old.last_message_at
        self.client = None
        await old.disconnect()
        self.connected = False
        self._ctx.reloads += 1
        await asyncio.sleep(downtime)
        client = self._client(
            CustomerClient(
                self._ctx.url,
                visitor_id=self.name,
                conversation_id=self.conversation_id,
                token=self._token,
                last_seq=last_seq,
                last_message_at=last_message_at,
            )
        )
        self._ctx.tracker.resync("agent-typing-status", self.name, self.conversation_id)
        await self._ctx.connect(client, self.name)
        self.client = client

    async def close(self) -> None:
        """Disconnect for good."""
        if self.client is not None:
            await self.client.disconnect()
        self.connected = False

    def _client(self, client: CustomerClient) -> CustomerClient:
        ctx = self._ctx
        ctx.watch(client, self._set_connected)
        client.rest.on_retry = ctx.retried
        client.on(Event.AGENT_MESSAGE, self._on_agent_message)
        client.on(Event.AGENT_TYPING_STATUS, self._on_agent_typing)
        return client

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected

    def _on_agent_message(self, event: AgentMessageEvent) -> None:
        match = _TAG.search(event.message.content)
        if match is not None:
            self._ctx.tracker.received(
                "agent-message", match.group(1), self.name, self._ctx.clock()
            )

    def _on_agent_typing(self, event: AgentTypingStatusEvent) -> None:
        ctx = self._ctx
        if self.conversation_id is None:
            return
        key = ctx.tracker.next_ordinal("agent-typing-status", self.name, self.conversation_id)
        ctx.tracker.received("agent-typing-status", key, self.name, ctx.clock())
