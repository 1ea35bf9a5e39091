"""Persistence across restarts (file database) and stop()/start() on the same port."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import socketio

from mock_server import RunningServer, ServerConfig, serve
from tests.server.helpers import TIMEOUT, Api, agent, eventually


async def test_restart_on_file_keeps_everything(tmp_path: Path) -> None:
    db = str(tmp_path / "vilnius.db")
    async with serve(db=db, auth="token", agent_key="k") as first, Api(first.url) as api:
        agent_token = await api.agent_token("a1", "k")
        async with agent(first.url, "a1", agent_token):
            reply = await api.post("/api/messages", {"conversationId": "c1", "message": "one"})
            customer_token = reply.body["token"]
            key = {"Idempotency-Key": "send-1"}
            sent = await api.post(
                "/api/messages",
                {"conversationId": "c1", "message": "two"},
                token=customer_token,
                headers=key,
            )
            await api.post("/api/system/mode", {"mode": "autopilot"}, token=agent_token)
        last_seq = sent.body["userMessage"]["seq"]
    async with serve(db=db, auth="token", agent_key="k") as second, Api(second.url) as api:
        # tokens and the idempotency table survive the restart
        again = await api.post(
            "/api/messages",
            {"conversationId": "c1", "message": "two"},
            token=customer_token,
            headers={"Idempotency-Key": "send-1"},
        )
        assert again.body == sent.body
        assert (await api.get("/api/system/mode", token=agent_token)).body == {"mode": "autopilot"}
        listing = await api.get("/api/admin/conversations", token=agent_token)
        assert listing.body["conversations"][0]["assignedAgent"] == "a1"
        agents = await api.get("/api/agents/connected", token=agent_token)
        assert [(a["id"], a["connected"], a["status"]) for a in agents.body["agents"]] == [
            ("a1", False, "offline")
        ]
        fresh = await api.post(
            "/api/messages", {"conversationId": "c1", "message": "three"}, token=customer_token
        )
        assert fresh.body["userMessage"]["seq"] > last_seq
        history = await api.get("/api/messages", token=agent_token)
        assert [m["content"] for m in history.body["messages"]][:2] == ["one", "two"]
        assert history.body["lastSeq"] == fresh.body["aiMessage"]["seq"]


async def test_file_database_uses_wal(tmp_path: Path) -> None:
    async with serve(db=str(tmp_path / "w.db"), auth="none") as running:
        assert running.store.settings.get("token_secret")
    assert (tmp_path / "w.db").exists()
    with sqlite3.connect(tmp_path / "w.db") as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_stop_and_start_on_the_same_port(server: RunningServer) -> None:
    url = server.url
    client = socketio.AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.1)
    connects = 0
    reconnected = asyncio.Event()

    async def on_connect() -> None:
        nonlocal connects
        connects += 1
        if connects == 2:
            reconnected.set()

    client.on("connect", on_connect)
    await client.connect(url, transports=["websocket"])
    async with Api(url) as api:
        await api.post("/api/messages", {"conversationId": "c1", "message": "before"})
    await server.stop()
    assert not server.running

    async def dropped() -> bool:
        return not client.connected

    await eventually(dropped)
    await server.start()
    assert server.url == url
    await asyncio.wait_for(reconnected.wait(), TIMEOUT)
    async with Api(url) as api:
        reply = await api.post("/api/messages", {"conversationId": "c1", "message": "after"})
        assert reply.body["userMessage"]["seq"] == 2
    await client.disconnect()


async def test_stop_marks_agents_disconnected(server: RunningServer) -> None:
    async with agent(server.url, "a1"):
        await server.stop()
        record = server.store.agents.get("a1")
        assert record is not None
        assert record.sockets == []
        assert record.personal_status.value == "offline"
        await server.start()


async def test_config_object(tmp_path: Path) -> None:
    config = ServerConfig(port=0, db=":memory:", auth="none")
    async with serve(config=config) as running, Api(running.url) as api:
        assert running.agent_key is None
        assert (await api.get("/health")).status == 200
