"""The simulated people: `SimAgent` and `SimCustomer`, SDK clients whose sends and receipts the
context's tracker records."""

from __future__ import annotations

import asyncio
import random
import re
from typing import TYPE_CHECKING, Any

from .. import (
    AgentClient,
    AgentMessageEvent,
    CustomerClient,
    Event,
    Message,
    NewMessageEvent,
    RateLimitedError,
    Sender,
)
from ..events import AgentSentMessageEvent, AgentTypingStatusEvent, CustomerTypingStatusEvent

if TYPE_CHECKING:
    from .context import SimContext


__all__ = ["CANNED", "SimAgent", "SimCustomer"]

_TAG = re.compile(r"\[sim:([0-9a-z.-]+):([0-9a-z]+)\]")
"""The tag every tracked message carries (``[sim:<namespace>:<tag>]``), to match its
deliveries; a message of another namespace (another run, another shard) is not ours."""

#: Default think time of the load shapes, in seconds (low, high).
DEFAULT_THINK = (1.0, 3.0)

CANNED = "Thanks for your message, an agent is looking into it."
"""What agents answer with ``reply="canned"``."""


class SimAgent:
    """A simulated agent: an [AgentClient][vilnius_client.AgentClient] whose receipts are tracked.

    It hears every message of the server's conversations and keeps to the run's own: a
    message without the run's tag (another run's, another shard's, a person's) is ignored.

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
        ctx.tracker.expect("new-message", "a" + tag, ctx.agent_names(), now)
        if customer is not None:
            ctx.tracker.expect("agent-message", tag, [customer.name], now)
        try:
            await self.client.respond(conversation_id, f"{text} [sim:{ctx.config.namespace}:{tag}]")
        except Exception as exc:
            ctx.send_failed(exc, "new-message", "a" + tag)
            if customer is not None:
                ctx.tracker.cancel("agent-message", tag)
        else:
            ctx.agent_messages += 1
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
        tag = _own_tag(ctx, event.message)
        if tag is None:
            return
        visitor = event.message.sender == Sender.VISITOR
        ctx.tracker.received("new-message", ("c" if visitor else "a") + tag, self.name, now)
        if (
            visitor
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
        tag = _own_tag(self._ctx, event.message)
        if tag is not None:
            self._ctx.tracker.received("new-message", "a" + tag, self.name, self._ctx.clock())

    def _on_customer_typing(self, event: CustomerTypingStatusEvent) -> None:
        ctx = self._ctx
        if ctx.customer_of(event.conversation_id) is None:
            return  # another run's customer
        key = ctx.tracker.next_ordinal("customer-typing-status", self.name, event.conversation_id)
        ctx.tracker.received("customer-typing-status", key, self.name, ctx.clock())


class SimCustomer:
    """A simulated customer holding one conversation; survives `reload` (a widget reload).

    Attributes:
        name: The customer's name in the report (also its visitor id).
        client: The current SDK client (a new one after each `reload`).
        random: This customer's random generator (think times), seeded from the run's seed
            and its name, so that a customer behaves alike in a whole run and in a shard.
    """

    def __init__(self, ctx: SimContext, name: str) -> None:
        self.name = name
        self._ctx = ctx
        self.client: CustomerClient | None = None
        self.conversation_id: str | None = None
        self.connected = False
        seed = ctx.config.seed
        self.random = random.Random(f"{seed}/{name}") if seed is not None else random.Random()
        self._token: str | None = None
        self._retiring = asyncio.Event()
        self._reply: asyncio.Future[Message] | None = None

    async def start(self) -> None:
        """Connect and open the conversation (done by
        [SimContext.new_customer][vilnius_client.sim.SimContext.new_customer])."""
        client = self._client(CustomerClient(self._ctx.url, visitor_id=self.name))
        await self._ctx.connect(client, self.name)
        self.client = client
        conversation = await client.start_conversation(metadata={"sim": self._ctx.config.run_id})
        self.conversation_id = conversation.id
        self._token = client.token
        self._ctx.register_conversation(self)

    @property
    def retiring(self) -> bool:
        """True once the load shape lets this customer go (a ramp-down, the run's end, a
        stop): a conversation should finish its exchange and return."""
        return self._retiring.is_set() or self._ctx.stopping

    def retire(self) -> None:
        """Ask the customer's conversation to finish (see `retiring`)."""
        self._retiring.set()

    async def say(self, text: str) -> bool:
        """Send a message; with ``typing`` on, type before and stop after.

        Tracked: with the run's agents, as a ``new-message`` to every agent (the text then
        ends with the run's tag); with a bot under test, as a message awaiting its reply
        (the text is sent as is).

        Returns:
            False when the send failed or was refused (counted in the report).
        """
        ctx = self._ctx
        assert self.client is not None, "start() first"
        assert self.conversation_id is not None
        if ctx.config.typing:
            await self.typing(True)
        now = ctx.clock()
        tag = None
        if ctx.external:
            ctx.replies.sent(self.conversation_id, now)
        else:
            tag = ctx.new_tag()
            ctx.tracker.expect("new-message", "c" + tag, ctx.agent_names(), now)
            text = f"{text} [sim:{ctx.config.namespace}:{tag}]"
        ctx.throttling.sent(now)
        sent = False
        try:
            await self.client.send_message(text)
        except RateLimitedError:
            if tag is not None:
                ctx.tracker.cancel("new-message", "c" + tag)
            ctx.throttling.refused += 1
        except Exception as exc:
            if tag is not None:
                ctx.send_failed(exc, "new-message", "c" + tag)
            else:
                ctx.note_error(f"customer message failed: {type(exc).__name__}: {exc}")
        else:
            sent = True
            ctx.customer_messages += 1
        if not sent and ctx.external:
            ctx.replies.withdraw(self.conversation_id, now)
        if ctx.config.typing:
            await self.typing(False)
        return sent

    async def ask(self, text: str, *, within: float | None = None) -> Message | None:
        """Send a message and wait for the first agent reply in the conversation.

        With a bot under test (``bot="external"``) that reply is what the report measures:
        the time to it, or *unanswered* when none comes within ``config.reply_deadline``.

        Args:
            text: What the customer writes.
            within: Seconds to wait at most (default: ``config.reply_deadline``).

        Returns:
            The reply, or None: none came in time, the send failed, or the run is stopping.
        """
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._reply = reply  # before sending: the reply may overtake the send's answer
        try:
            if not await self.say(text):
                return None
            limit = self._ctx.config.reply_deadline if within is None else within
            stopping = asyncio.ensure_future(self._ctx._stopping.wait())
            waits: set[asyncio.Future[Any]] = {reply, stopping}
            try:
                done, _ = await asyncio.wait(
                    waits, timeout=limit, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                stopping.cancel()
            return reply.result() if reply in done else None
        finally:
            if self._reply is reply:
                self._reply = None
            reply.cancel()

    async def think(self, seconds: float | None = None) -> bool:
        """Wait between two messages: ``seconds``, or a random think time
        (``config.think_time``, by default 1-3 s); less when the customer is let go.

        Returns:
            False when the customer should stop writing (`retiring`).
        """
        if seconds is None:
            think = self._ctx.config.think_time
            low, high = (think.low, think.high) if think is not None else DEFAULT_THINK
            seconds = self.random.uniform(low, high)
        if self.retiring:
            return False
        waits = {
            asyncio.ensure_future(self._retiring.wait()),
            asyncio.ensure_future(self._ctx._stopping.wait()),
        }
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return not self.retiring

    def check(self, name: str, passed: bool) -> bool:
        """Count a check of the run ([SimContext.check][vilnius_client.sim.SimContext.check])."""
        return self._ctx.check(name, passed)

    async def typing(self, is_typing: bool) -> None:
        """Send ``customer-typing`` when connected (typing is volatile: not queued)."""
        ctx = self._ctx
        if self.client is None or not self.connected or self.conversation_id is None:
            return
        key = None
        if ctx.agent_names():
            key = ctx.tracker.next_ordinal("customer-typing-status", "sender", self.conversation_id)
            ctx.tracker.expect("customer-typing-status", key, ctx.agent_names(), ctx.clock())
        try:
            await self.client.typing(is_typing)
        except Exception as exc:
            if key is None:
                ctx.note_error(f"customer-typing failed: {type(exc).__name__}: {exc}")
            else:
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
        if not ctx.external:  # a bot under test types as it likes: nothing to match
            client.on(Event.AGENT_TYPING_STATUS, self._on_agent_typing)
        return client

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected

    def _on_agent_message(self, event: AgentMessageEvent) -> None:
        ctx = self._ctx
        now = ctx.clock()
        if ctx.external and self.conversation_id is not None:
            ctx.replies.replied(self.conversation_id, event.message.id, now)
        else:
            tag = _own_tag(ctx, event.message)
            if tag is not None:
                ctx.tracker.received("agent-message", tag, self.name, now)
        reply = self._reply
        if reply is not None and not reply.done():
            reply.set_result(event.message)

    def _on_agent_typing(self, event: AgentTypingStatusEvent) -> None:
        ctx = self._ctx
        if self.conversation_id is None:
            return
        key = ctx.tracker.next_ordinal("agent-typing-status", self.name, self.conversation_id)
        ctx.tracker.received("agent-typing-status", key, self.name, ctx.clock())


def _own_tag(ctx: SimContext, message: Message) -> str | None:
    """The run's tag in ``message``, or None when it carries none or another run's."""
    match = _TAG.search(message.content)
    if match is None or match.group(1) != ctx.config.namespace:
        return None
    return match.group(2)
