"""Recovery on both servers: nothing lost, nothing doubled, with seq (contract) or without.

The server is restarted with its Socket.IO endpoint blocked (``faults.block_sockets``)
so that the clients stay away while messages are sent over REST; then the endpoint is
opened and the clients reconnect and catch up: by seq on the contract's server, from
the conversation listing and the conversations' messages (by message id) on production.
"""

from __future__ import annotations

from typing import Any

from tests.deployments import Deployment, Inbox, Lost
from vilnius_client import AgentMessageEvent, NewMessageEvent, RestClient, Sender


async def restart_blocked(deployment: Deployment, *waiting: Lost) -> None:
    """Restart the server with sockets refused; return once every client noticed."""
    deployment.server.faults.block_sockets = True
    await deployment.server.stop()
    await deployment.server.start()
    for client in waiting:
        await client.wait_lost()


async def test_agent_recovers_what_it_missed_during_a_restart(deployment: Deployment) -> None:
    inbox = Inbox()
    bot = deployment.agent("bot", fallback_after=None)
    bot.on("new-message", inbox)
    async with bot, deployment.customer() as customer, RestClient(deployment.url) as rest:
        before = await customer.send_message("before")
        await inbox.until(1)
        away = Lost(bot)
        await restart_blocked(deployment, away)
        missed = [await customer.send_message(f"missed {n}") for n in range(3)]
        # A conversation begun while the bot is away (a widget's first message).
        elsewhere = (
            await rest.post_message("session-meanwhile1", "a new conversation meanwhile")
        ).user_message
        assert len(inbox.items) == 1, "nothing arrives while the bot is away"
        deployment.server.faults.block_sockets = False
        await away.wait_back()
        await inbox.until(5)
        after = await customer.send_message("after")
        events: list[NewMessageEvent] = list(await inbox.until(6))
        # A second reconnect with nothing new: nothing is delivered again.
        again = Lost(bot)
        await restart_blocked(deployment, again)
        deployment.server.faults.block_sockets = False
        await again.wait_back()
        last = await customer.send_message("last")
        await inbox.until(7)

    by_id = {event.message.id: event for event in events}
    assert len(by_id) == len(events) == 6, "nothing doubled"
    assert [e.message.id for e in events if e.conversation_id == customer.conversation_id] == [
        before.id,
        *(m.id for m in missed),
        after.id,
    ]
    assert by_id[elsewhere.id].replayed
    assert [by_id[m.id].replayed for m in missed] == [True, True, True]
    assert not by_id[after.id].replayed
    assert [e.message.id for e in inbox.items[6:]] == [last.id]
    assert all(e.message.sender is Sender.VISITOR for e in inbox.items)


async def test_customer_recovers_replies_missed_during_a_restart(deployment: Deployment) -> None:
    inbox = Inbox()
    async with deployment.agent("ada") as ada:
        customer = deployment.customer(fallback_after=None)
        customer.on("agent-message", inbox)
        async with customer:
            cid = (await customer.send_message("hello")).conversation_id
            live = await ada.respond(cid, "live")
            await inbox.until(1)
            away = Lost(customer)
            await restart_blocked(deployment, away)
            await customer.send_message("are you there?")  # the customer's own: not delivered
            missed = [await ada.respond(cid, f"missed {n}") for n in range(3)]
            deployment.server.faults.block_sockets = False
            await away.wait_back()
            events: list[AgentMessageEvent] = await inbox.until(4)
            after = await ada.respond(cid, "after")
            await inbox.until(5)
    assert [e.message.id for e in inbox.items] == [
        live.id,
        *(m.id for m in missed),
        after.id,
    ]
    assert [e.replayed for e in inbox.items] == [False, True, True, True, False]
    assert events[0].message.sender is Sender.AGENT


async def test_customer_resumes_from_its_position_in_a_new_client(deployment: Deployment) -> None:
    """A widget reload: a new client from the old one's position gets what came meanwhile."""
    async with deployment.agent("ada") as ada:
        first = Inbox()
        customer = deployment.customer()
        customer.on("agent-message", first)
        async with customer:
            cid = (await customer.send_message("hello")).conversation_id
            seen = await ada.respond(cid, "seen before the reload")
            await first.until(1)
            position: dict[str, Any] = {
                "last_seq": customer.last_seq,
                "last_message_at": customer.last_message_at,
            }
        assert sum(value is not None for value in position.values()) == 1
        while_away = [await ada.respond(cid, f"while away {n}") for n in range(2)]
        second = Inbox()
        again = deployment.customer(conversation_id=cid, **position)
        again.on("agent-message", second)
        async with again:
            await second.until(2)
            latest = await ada.respond(cid, "after the reload")
            await second.until(3)
    assert [e.message.id for e in first.items] == [seen.id]
    assert [e.message.id for e in second.items] == [*(m.id for m in while_away), latest.id]
    assert [e.replayed for e in second.items] == [True, True, False]


async def test_a_reload_before_any_reply_still_gets_the_replies(deployment: Deployment) -> None:
    async with deployment.agent("ada") as ada:
        async with deployment.customer() as customer:
            cid = (await customer.send_message("hello")).conversation_id
            position: dict[str, Any] = {
                "last_seq": customer.last_seq,
                "last_message_at": customer.last_message_at,
            }
        assert any(value is not None for value in position.values())
        reply = await ada.respond(cid, "answered while the widget reloads")
        inbox = Inbox()
        again = deployment.customer(conversation_id=cid, **position)
        again.on("agent-message", inbox)
        async with again:
            await inbox.until(1)
    assert [e.message.id for e in inbox.items] == [reply.id]
    assert inbox.items[0].replayed


async def test_agent_falls_back_to_polling_while_sockets_are_refused(
    deployment: Deployment,
) -> None:
    inbox = Inbox()
    bot = deployment.agent("bot", fallback_after=0.2, poll_interval=0.05)
    bot.on("new-message", inbox)
    async with bot, deployment.customer() as customer:
        await customer.send_message("live")
        await inbox.until(1)
        away = Lost(bot)
        await restart_blocked(deployment, away)
        polled = [await customer.send_message(f"polled {n}") for n in range(3)]
        await inbox.until(4)
        assert bot.get_connection_status().mode == "polling"
        deployment.server.faults.block_sockets = False
        await away.wait_back()
        after = await customer.send_message("after")
        await inbox.until(5)
        assert bot.get_connection_status().mode == "socket"
    events: list[NewMessageEvent] = inbox.items
    assert [e.message.content for e in events] == [
        "live",
        "polled 0",
        "polled 1",
        "polled 2",
        "after",
    ]
    assert [e.message.id for e in events[1:4]] == [m.id for m in polled]
    assert [e.replayed for e in events] == [False, True, True, True, False]
    assert events[-1].message.id == after.id


async def test_a_fresh_agent_does_not_replay_history(deployment: Deployment) -> None:
    inbox = Inbox()
    async with deployment.customer() as customer:
        await customer.send_message("history")
        bot = deployment.agent("bot")
        bot.on("new-message", inbox)
        async with bot:
            new = await customer.send_message("new")
            await inbox.until(1)
            away = Lost(bot)
            await restart_blocked(deployment, away)
            deployment.server.faults.block_sockets = False
            await away.wait_back()
            later = await customer.send_message("later")
            await inbox.until(2)
    assert [e.message.id for e in inbox.items] == [new.id, later.id]
