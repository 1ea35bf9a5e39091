"""A network cut that closes nothing: only heartbeats can tell, and nothing may be lost.

The agent bot reaches the server through :class:`~tests.faults.proxy.TcpProxy`;
the customer talks to the server directly, so it keeps sending while the bot's
link is a black hole. The bot must notice within ``heartbeat_interval +
heartbeat_timeout`` (Engine.IO alone would wait ~45 s), keep retrying through
the cut, reconnect when it heals, and deliver every message once, in order:
on both servers (by seq on the contract's, by message id on production's).
"""

from __future__ import annotations

import asyncio
import time

from mock_server import RunningServer
from tests.deployments import Deployment
from tests.faults.proxy import TcpProxy
from tests.faults.timing import scaled, wait_until
from vilnius_client import AgentClient, ConnectionChange, ConnectionState, NewMessageEvent, Sender

HEARTBEAT_INTERVAL = 0.3
HEARTBEAT_TIMEOUT = 0.3
#: Loop scheduling and the close of the dead link, on top of interval + timeout.
SLACK = 0.4
SENT_DURING_CUT = 5


async def test_black_hole_is_detected_by_heartbeat_and_nothing_is_lost(
    deployment: Deployment, deployment_proxy: TcpProxy
) -> None:
    proxy = deployment_proxy
    changes: list[tuple[float, ConnectionChange]] = []
    lost = asyncio.Event()
    back = asyncio.Event()
    received: list[NewMessageEvent] = []

    def on_change(change: ConnectionChange) -> None:
        changes.append((time.monotonic(), change))
        if change.old is ConnectionState.CONNECTED:
            lost.set()
        if change.new is ConnectionState.CONNECTED and lost.is_set():
            back.set()

    agent = deployment.agent(
        "bot",
        url=proxy.url,
        heartbeat_interval=HEARTBEAT_INTERVAL,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        reconnection_delay=0.05,
        max_reconnection_delay=0.3,
        ack_timeout=scaled(1),
        connect_timeout=scaled(1),
        max_errors=1000,
    )
    errors: list[BaseException] = []
    agent.on_error(errors.append)
    agent.on_connection_change(on_change)
    agent.on("new-message", received.append)

    async with agent, deployment.customer(visitor_id="v-cut") as customer:
        await customer.send_message("before the cut")
        await wait_until(lambda: len(received) == 1, 5, what="the first message")
        # A heartbeat has been answered: the link was healthy up to the cut.
        await wait_until(lambda: agent.latency is not None, 5, what="a heartbeat-ack")
        accepted_before = proxy.accepted

        cut_at = time.monotonic()
        proxy.pause()
        await asyncio.wait_for(lost.wait(), scaled(HEARTBEAT_INTERVAL + HEARTBEAT_TIMEOUT + 5))
        detected_after = changes[-1][0] - cut_at
        assert not agent.get_connection_status().connected

        for n in range(SENT_DURING_CUT):
            await customer.send_message(f"during the cut {n}")
        # The bot tries again into the cut: a new connection reaches the proxy
        # (and hangs there). That attempts keep coming is the next test's job.
        await wait_until(lambda: proxy.accepted > accepted_before, 5, what="a reconnect attempt")
        assert agent.get_connection_status().state in {
            ConnectionState.RECONNECTING,
            ConnectionState.CIRCUIT_OPEN,
        }
        assert [event.message.content for event in received] == ["before the cut"]

        healed_at = time.monotonic()
        proxy.resume()
        await asyncio.wait_for(back.wait(), scaled(10))
        recovered_after = time.monotonic() - healed_at
        await customer.send_message("after the cut")
        await wait_until(
            lambda: len(received) >= SENT_DURING_CUT + 2, 5, what="every message after healing"
        )
        history = await customer.history()

    expected = [m for m in history if m.sender == Sender.VISITOR]
    assert [m.content for m in expected] == [
        "before the cut",
        *(f"during the cut {n}" for n in range(SENT_DURING_CUT)),
        "after the cut",
    ]
    got = [event.message for event in received]
    assert [m.id for m in got] == [m.id for m in expected], "lost, doubled or reordered"
    assert all(m.conversation_id == customer.conversation_id for m in got)
    replayed = [event.message.content for event in received if event.replayed]
    assert replayed == [f"during the cut {n}" for n in range(SENT_DURING_CUT)]
    assert any("heartbeat" in str(error) for error in errors), errors
    # Measured from the cut to the state change; the bound is the contract of
    # the heartbeat, the scale is for slow machines.
    assert detected_after <= scaled(HEARTBEAT_INTERVAL + HEARTBEAT_TIMEOUT + SLACK), (
        f"dead link noticed after {detected_after:.2f} s"
    )
    assert recovered_after <= scaled(5)


async def test_connect_attempts_into_a_black_hole_time_out_and_repeat(
    server: RunningServer, proxy: TcpProxy
) -> None:
    """An attempt whose handshake never answers must give up (``connect_timeout``) and retry.

    Otherwise a client that lost its link during a cut sits in one attempt for
    minutes (aiohttp's default timeout) instead of retrying with backoff.
    """
    connect_timeout = 0.5
    agent = AgentClient(
        proxy.url,
        agent_id="bot-hole",
        heartbeat_interval=HEARTBEAT_INTERVAL,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        reconnection_delay=0.05,
        max_reconnection_delay=0.2,
        connect_timeout=connect_timeout,
        max_errors=1000,
    )
    errors: list[BaseException] = []
    agent.on_error(errors.append)

    def timed_out() -> int:
        # Counted by the attempts' own errors, not by the proxy's accepts: a REST request
        # made during the cut (a catch-up, the polling fallback) is accepted there too.
        return sum("no answer within" in str(exc) for exc in errors)

    async with agent:
        proxy.pause()
        await wait_until(
            lambda: not agent.get_connection_status().connected,
            HEARTBEAT_INTERVAL + HEARTBEAT_TIMEOUT + 5,
            what="the cut noticed",
        )
        attempts = 3
        # Each attempt: at most connect_timeout, then at most max_reconnection_delay.
        await wait_until(
            lambda: timed_out() >= attempts,
            attempts * (connect_timeout + 0.2) + 2,
            what=f"{attempts} connection attempts timed out during the cut",
        )
        proxy.resume()
        await wait_until(lambda: agent.get_connection_status().connected, 10, what="recovery")
    assert timed_out() >= attempts
