"""``kill -9`` of the server while customers send: nothing lost, nothing doubled.

The reference server runs as a subprocess on a file database, playing either
profile. Agent bots are connected, customers send their messages one after
another, and the server is SIGKILLed mid-stream, then started again on the same
database and port. At the end every bot must hold every stored message exactly
once, in order per conversation, and the database must hold every customer
message exactly once.

Sends: on the contract's server the SDK retries each under one
Idempotency-Key; on production's it does not repeat a send that may have been
stored, and the customer looks at the conversation before sending again
(:func:`tests.deployments.send_once`).

On the contract's server a third bot is stopped just before the kill and
started again, from the ``last_seq`` it had reached, once most of the rest has
been stored: it must replay what it missed, as a restarted bot would.
Production has no resume position for agents (no seq): there the third bot
stays connected like the others.

``VILNIUS_KILL_CUSTOMERS`` and ``VILNIUS_KILL_MESSAGES`` change the load
(default 3 customers x 30 messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from mock_server import RunningServer
from tests.deployments import agent_arguments, send_once
from tests.faults.server_process import ServerProcess
from tests.faults.timing import scaled, wait_until
from vilnius_client import AgentClient, CustomerClient, Message, NewMessageEvent, RestClient, Sender

CUSTOMERS = int(os.environ.get("VILNIUS_KILL_CUSTOMERS", "3"))
MESSAGES = int(os.environ.get("VILNIUS_KILL_MESSAGES", "30"))
TOTAL = CUSTOMERS * MESSAGES

CLIENT_OPTIONS: dict[str, Any] = {
    "reconnection_delay": 0.05,
    "max_reconnection_delay": 0.5,
    "max_errors": 1000,
    "request_timeout": scaled(5),
    # Enough attempts to outlast a restart (a Python process start) under backoff.
    "retry_attempts": 30,
}


@dataclass
class Bot:
    """An agent bot that records what its handlers receive."""

    agent_id: str
    profile: str = "vilnius"
    received: list[NewMessageEvent] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    client: AgentClient | None = None

    def start(self, url: str, last_seq: int | None = None) -> AgentClient:
        # On production every bot is the same agent user (one user, several dashboards).
        who = agent_arguments(self.profile, "bot" if self.profile == "lizdeika" else self.agent_id)
        client = AgentClient(url, **who, last_seq=last_seq, **CLIENT_OPTIONS)
        client.on("new-message", self.received.append)
        client.on_error(self.errors.append)
        self.client = client
        return client

    @property
    def replayed(self) -> int:
        return sum(event.replayed for event in self.received)

    def visitor_messages(self) -> int:
        return sum(event.message.sender == Sender.VISITOR for event in self.received)


def _by_conversation(messages: list[Message]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        grouped[message.conversation_id].append(message.id)
    return dict(grouped)


async def _all_stored(url: str) -> list[Message]:
    """Every customer message the server holds, in its order per conversation."""
    async with RestClient(url) as rest:
        messages: list[Message] = []
        for conversation in (await rest.admin_conversations()).conversations:
            history = await rest.conversation_messages(conversation.id, limit=1000)
            messages.extend(m for m in history.messages if m.sender is Sender.VISITOR)
        return messages


def _diagnose(bots: list[Bot], stored: list[Message]) -> str:
    lines = [f"{len(stored)} messages stored"]
    for bot in bots:
        got = {event.message.id for event in bot.received}
        missing = [m.content for m in stored if m.id not in got]
        status = bot.client.get_connection_status() if bot.client is not None else None
        lines.append(
            f"{bot.agent_id}: {len(bot.received)} delivered ({bot.replayed} replayed), "
            f"missing {missing[:20]}{'...' if len(missing) > 20 else ''}, "
            f"last_seq {bot.client.last_seq if bot.client else None}, "
            f"state {status.state if status else None}, "
            f"errors {[repr(e) for e in bot.errors[-5:]]}"
        )
    return "\n".join(lines)


@pytest.mark.timeout(90)
async def test_sigkill_restart_while_customers_send(
    server_process: ServerProcess, profile: str
) -> None:
    url = server_process.url
    late = Bot("bot-late", profile)
    everyone = [Bot("bot-0", profile), Bot("bot-1", profile), late]
    resumable = profile == "vilnius"  # agents resume by seq there only
    sent = [0] * CUSTOMERS

    async def customer(index: int, client: CustomerClient) -> None:
        await client.start_conversation()
        for n in range(MESSAGES):
            await send_once(client, f"c{index}-m{n}")
            sent[index] += 1

    async with contextlib.AsyncExitStack() as stack:
        for bot in everyone:
            await stack.enter_async_context(bot.start(url))
        customers = [
            await stack.enter_async_context(
                CustomerClient(url, visitor_id=f"visitor-{index}", **CLIENT_OPTIONS)
            )
            for index in range(CUSTOMERS)
        ]
        senders = asyncio.gather(
            *(customer(index, client) for index, client in enumerate(customers))
        )
        try:
            await wait_until(
                lambda: everyone[0].visitor_messages() >= TOTAL // 3, 20, what="a third delivered"
            )
            late_seq = None
            if resumable:
                assert late.client is not None
                await late.client.disconnect()
                late_seq = late.client.last_seq
                assert late_seq is not None
                handled = max((event.message.seq or 0 for event in late.received), default=0)
                assert late_seq == handled, (
                    f"last_seq {late_seq} after close() is past the last message handled "
                    f"({handled}): a bot restarted from it would skip the rest"
                )

            sent_at_kill = sum(sent)
            await server_process.kill()
            restart_took = await server_process.start()
            assert sent_at_kill < TOTAL, "every message was sent before the kill: make it longer"

            await wait_until(
                lambda: sum(sent) >= 2 * TOTAL // 3, 30, what="two thirds sent after restart"
            )
            if resumable:
                await stack.enter_async_context(late.start(url, last_seq=late_seq))
            await asyncio.wait_for(senders, scaled(40))
        finally:
            if not senders.done():
                senders.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await senders

        stored = await _all_stored(url)
        try:
            await wait_until(
                lambda: all(len(bot.received) >= len(stored) for bot in everyone),
                15,
                what="every bot holding every stored message",
            )
        except TimeoutError:
            pytest.fail(_diagnose(everyone, stored))

    # The database: every customer message exactly once, in the order sent.
    contents: dict[str, list[str]] = defaultdict(list)
    for message in stored:
        contents[message.content.split("-")[0]].append(message.content)
    assert dict(contents) == {
        f"c{i}": [f"c{i}-m{n}" for n in range(MESSAGES)] for i in range(CUSTOMERS)
    }
    assert len({m.id for m in stored}) == len(stored)

    # Every bot: every stored message once, in the server's order per conversation.
    expected = _by_conversation(stored)
    for bot in everyone:
        got = [event.message for event in bot.received]
        assert len({m.id for m in got}) == len(got), f"{bot.agent_id} got duplicates"
        assert _by_conversation(got) == expected, f"{bot.agent_id} lost or reordered"

    report = [
        f"kill -9 restart: {CUSTOMERS} customers x {MESSAGES} messages, "
        f"{sent_at_kill} sent before the kill, restart took {restart_took:.2f} s",
        *(
            f"  {bot.agent_id}: {len(bot.received)} delivered, {bot.replayed} replayed, "
            f"{len(bot.received) - bot.replayed} live"
            for bot in everyone
        ),
    ]
    print("\n".join(report))  # noqa: T201 -- replayed vs live is what the issue asks to count
    # The late bot was away while messages were stored: it must have replayed them.
    if resumable:
        assert late.replayed > 0, report


async def test_bot_restarted_from_last_seq_gets_what_was_queued_at_close(
    server: RunningServer,
) -> None:
    """``last_seq`` read after ``close()`` must not cover events no handler finished.

    A handler hangs on the first message; two more are queued behind it; the bot is closed
    (its handler cancelled after ``close_timeout``) and restarted from its ``last_seq``:
    the restarted bot handles all three, since none was handled, and nothing else.
    """
    gate = asyncio.Event()
    started: list[int] = []

    async def stuck(event: NewMessageEvent) -> None:
        started.append(event.message.seq)
        await gate.wait()

    bot = AgentClient(server.url, agent_id="bot-slow", close_timeout=0.2, **CLIENT_OPTIONS)
    bot.on("new-message", stuck)
    async with CustomerClient(server.url, visitor_id="v-slow") as customer:
        async with bot:
            await customer.start_conversation()
            for n in range(3):
                await customer.send_message(f"queued {n}")
            await wait_until(lambda: started == [1], 5, what="the first handler started")
            await wait_until(lambda: bot.received_seq == 3, 5, what="all three received")
        saved = bot.last_seq
        assert saved == 0, "a handler that never finished does not count as handled"

        second_run: list[int] = []
        again = AgentClient(server.url, agent_id="bot-slow", last_seq=saved, **CLIENT_OPTIONS)
        again.on("new-message", lambda event: second_run.append(event.message.seq))
        async with again:
            await wait_until(lambda: len(second_run) >= 3, 5, what="the three again")
        assert again.last_seq == 3
    assert second_run == [1, 2, 3]
