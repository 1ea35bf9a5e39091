"""The fast broadcast path (mock_server/broadcast.py) keeps the guarantees of python-socketio.

Broadcasts are written straight to each recipient's WebSocket, while single-socket packets
(acks, heartbeat-acks, the join's system-mode-update) still go through Engine.IO's queue:
these tests check that the two never reorder, that sockets on other transports still get
everything, and that payloads survive the orjson encoding.
"""

from __future__ import annotations

import asyncio
import time

from mock_server import RunningServer
from tests.server.helpers import TIMEOUT, Api, Recorder, agent


async def test_broadcasts_and_direct_packets_keep_their_order(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as bot:
        conversation, _ = await api.new_conversation()

        async def post(n: int) -> int:
            reply = await api.post(
                "/api/messages", {"conversationId": conversation, "message": f"m{n}"}
            )
            assert reply.status == 200, reply.body
            seq: int = reply.body["userMessage"]["seq"]
            return seq

        async def heartbeats() -> None:
            for _ in range(50):
                ack = await bot.call("heartbeat", {"timestamp": int(time.time() * 1000)})
                assert ack == {"ok": True}

        posted, _ = await asyncio.gather(
            asyncio.gather(*(post(n) for n in range(200))), heartbeats()
        )
        await bot.wait_for("new-message", count=200)
        await bot.wait_for("heartbeat-ack", count=50)

    seqs = [data["message"]["seq"] for data in bot.received("new-message")]
    assert seqs == sorted(posted), "every message once, in seq order"


async def test_polling_and_upgraded_sockets_receive_every_broadcast(server: RunningServer) -> None:
    clients = {
        "polling": Recorder(),
        "upgraded": Recorder(),
    }
    await clients["polling"].client.connect(
        server.url, transports=["polling"], wait_timeout=TIMEOUT
    )
    await clients["upgraded"].client.connect(
        server.url, transports=["polling", "websocket"], wait_timeout=TIMEOUT
    )
    try:
        for name, client in clients.items():
            assert await client.call("join-agent-dashboard", name) == {"ok": True}
        async with Api(server.url) as api:
            conversation, _ = await api.new_conversation()
            for n in range(30):
                reply = await api.post(
                    "/api/messages", {"conversationId": conversation, "message": f"m{n}"}
                )
                assert reply.status == 200
        for client in clients.values():
            await client.wait_for("new-message", count=30)
            contents = [data["message"]["content"] for data in client.received("new-message")]
            assert contents == [f"m{n}" for n in range(30)]
        assert clients["upgraded"].client.transport() == "websocket"
        assert clients["polling"].client.transport() == "polling"
    finally:
        for client in clients.values():
            await client.close()


async def test_integers_beyond_64_bits_reach_the_agents(server: RunningServer) -> None:
    huge = 2**70 + 1
    async with Api(server.url) as api, agent(server.url, "a1") as bot:
        reply = await api.post("/api/conversations", {"metadata": {"n": huge}})
        assert reply.status == 201, reply.body
        event = await bot.wait_for("new-conversation")
    assert event["conversation"]["metadata"]["n"] == huge
