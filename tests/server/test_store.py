"""The store on its own: persistence, ``seq``, group commit, rollback and close."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mock_server.store import AgentRecord, CommitError, Store
from vilnius_client.events import ConversationStatus, Message, PersonalStatus, Sender, SystemMode


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


@pytest.fixture
async def store(db: str) -> AsyncIterator[Store]:
    opened = await Store.open(db)
    try:
        yield opened
    finally:
        await opened.close()


def stored_seqs(db: str) -> list[int]:
    """The message seqs committed in ``db``, read through a second connection."""
    with sqlite3.connect(db) as other:
        return [int(row[0]) for row in other.execute("SELECT seq FROM messages ORDER BY seq")]


async def send(store: Store, text: str, conversation_id: str = "c1") -> Message:
    async with store.transaction():
        return store.messages.add(conversation_id, text, Sender.VISITOR)


async def test_reopen_keeps_everything(db: str) -> None:
    store = await Store.open(db)
    async with store.transaction():
        store.conversations.create("v1", {"page": "/"}, conversation_id="c1")
        store.conversations.create("v2", {}, conversation_id="c2")
        store.conversations.assign("c1", "a1")
        store.conversations.set_status("c2", ConversationStatus.ENDED)
        store.conversations.mark_offline_notice("c1")
        store.settings.set_system_mode(SystemMode.AUTOPILOT)
        store.agents.save(
            AgentRecord(id="a1", name="Ann", personal_status=PersonalStatus.AFK, sockets=["s1"])
        )
        store.idempotency.put("messages", "k1", {"ok": True})
        sent = [store.messages.add("c1", f"m{i}", Sender.VISITOR) for i in range(3)]
    await store.close()

    store = await Store.open(db)
    try:
        c1 = store.conversations.get("c1")
        assert c1 is not None
        assert (c1.visitor_id, c1.assigned_agent, c1.metadata) == ("v1", "a1", {"page": "/"})
        assert [c.id for c in store.conversations.all()] == ["c1", "c2"]
        ended = store.conversations.all(status=ConversationStatus.ENDED)
        assert [c.id for c in ended] == ["c2"]
        assert store.conversations.active_counts() == {"a1": 1}
        assert store.conversations.offline_notice_sent("c1")
        assert not store.conversations.offline_notice_sent("c2")
        assert store.settings.system_mode() is SystemMode.AUTOPILOT
        agent = store.agents.get("a1")
        assert agent is not None
        assert (agent.name, agent.personal_status, agent.sockets) == (
            "Ann",
            PersonalStatus.AFK,
            ["s1"],
        )
        assert await store.idempotency.get("messages", "k1") == {"ok": True}
        assert await store.messages.after(0, 10) == sent
        assert await store.messages.after(0, 10, "c2") == []
        assert store.messages.last_seq() == 3
    finally:
        await store.close()


async def test_seq_strictly_increasing_across_restarts(db: str) -> None:
    seqs: list[int] = []
    for _ in range(3):
        store = await Store.open(db)
        try:
            assert store.messages.last_seq() == len(seqs)
            for i in range(4):
                seqs.append((await send(store, f"m{i}")).seq)
        finally:
            await store.close()
    assert seqs == list(range(1, 13))
    assert stored_seqs(db) == seqs


async def test_concurrent_writes_are_batched_and_committed_before_return(
    store: Store, db: str
) -> None:
    missing_at_return: list[int] = []

    async def one(i: int) -> int:
        message = await send(store, f"m{i}", f"c{i % 7}")
        # committed when the block has exited: visible to another connection
        with sqlite3.connect(db) as other:
            sql = "SELECT COUNT(*) FROM messages WHERE seq = ?"
            if other.execute(sql, (message.seq,)).fetchone()[0] != 1:
                missing_at_return.append(message.seq)
        return message.seq

    seqs = await asyncio.gather(*(one(i) for i in range(200)))
    assert missing_at_return == []
    assert sorted(seqs) == list(range(1, 201))
    assert stored_seqs(db) == list(range(1, 201))
    assert store.batches < 200  # group commit: transactions shared commits
    assert store.messages.last_seq() == 200
    assert len(await store.messages.after(0, 1000)) == 200


async def test_failed_block_leaves_no_trace(store: Store, db: str) -> None:
    async with store.transaction():
        store.conversations.create("v1", {}, conversation_id="c1")
        store.agents.save(AgentRecord(id="a1", name="a1", sockets=["s1"]))
        store.messages.add("c1", "kept", Sender.VISITOR)

    async def failing() -> None:
        async with store.transaction():
            store.conversations.create("v2", {}, conversation_id="c2")
            store.conversations.assign("c1", "a1")
            store.conversations.set_status("c1", ConversationStatus.ENDED)
            store.conversations.mark_offline_notice("c1")
            store.settings.set_system_mode(SystemMode.OFF)
            store.agents.save(AgentRecord(id="a1", name="renamed"))
            store.agents.disconnect_all()
            store.idempotency.put("messages", "k1", {"ok": True})
            store.messages.add("c1", "lost", Sender.VISITOR)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await failing()

    c1 = store.conversations.get("c1")
    assert c1 is not None
    assert (c1.assigned_agent, c1.status) == (None, ConversationStatus.ACTIVE)
    assert store.conversations.get("c2") is None
    assert store.conversations.active_counts() == {}
    assert not store.conversations.offline_notice_sent("c1")
    assert store.settings.system_mode() is SystemMode.HITL
    agent = store.agents.get("a1")
    assert agent is not None
    assert (agent.name, agent.sockets) == ("a1", ["s1"])
    assert await store.idempotency.get("messages", "k1") is None
    assert store.messages.last_seq() == 1
    assert (await send(store, "next")).seq == 2  # the rolled-back seq is given again

    with sqlite3.connect(db) as other:
        assert other.execute("SELECT id, assigned_agent, status FROM conversations").fetchall() == [
            ("c1", None, "active")
        ]
        assert other.execute("SELECT content FROM messages ORDER BY seq").fetchall() == [
            ("kept",),
            ("next",),
        ]
        assert other.execute("SELECT COUNT(*) FROM idempotency").fetchone() == (0,)
        assert other.execute("SELECT COUNT(*) FROM meta").fetchone() == (0,)


async def test_failed_commit_fails_only_its_own_transaction(store: Store, db: str) -> None:
    async with store.transaction():
        store.conversations.create("v1", {}, conversation_id="c1")
    first = await send(store, "first")

    async def conflicting() -> Message:
        async with store.transaction():
            # a second row with the same primary key: the batch's commit fails
            store.conversations.create("intruder", {}, conversation_id="c1")
            return store.messages.add("c1", "conflicting", Sender.VISITOR)

    outcomes = await asyncio.gather(
        *(send(store, f"m{i}") for i in range(5)),
        conflicting(),
        *(send(store, f"n{i}") for i in range(5)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[5], CommitError)
    others = outcomes[:5] + outcomes[6:]
    assert all(isinstance(o, Message) for o in others), others
    committed = [o.seq for o in others if isinstance(o, Message)]
    assert stored_seqs(db) == [first.seq, *committed]  # exactly the ones that returned
    assert store.batches >= 2  # the failed batch was written again, alone

    # the state was read again: the committed rows only, seq continues after them
    c1 = store.conversations.get("c1")
    assert c1 is not None
    assert c1.visitor_id == "v1"
    assert store.messages.last_seq() == max(committed)
    history = [m.content for m in await store.messages.history("c1")]
    assert history == ["first", *(f"m{i}" for i in range(5)), *(f"n{i}" for i in range(5))]
    after = await send(store, "after")
    assert after.seq > max(committed)
    assert stored_seqs(db)[-1] == after.seq


async def test_close_commits_what_is_waiting(db: str) -> None:
    store = await Store.open(db)
    entered = 0
    all_entered = asyncio.Event()

    async def one(i: int) -> Message:
        nonlocal entered
        async with store.transaction():
            message = store.messages.add("c1", f"m{i}", Sender.VISITOR)
            entered += 1
            if entered == 50:
                all_entered.set()
        return message

    tasks = [asyncio.create_task(one(i)) for i in range(50)]
    await all_entered.wait()
    assert not all(task.done() for task in tasks)
    await store.close()
    assert sorted(task.result().seq for task in tasks) == list(range(1, 51))
    assert stored_seqs(db) == list(range(1, 51))
    with pytest.raises(RuntimeError, match="closed"):
        async with store.transaction():
            pass


async def test_writes_outside_a_transaction_are_refused(store: Store) -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        store.messages.add("c1", "m", Sender.VISITOR)
    assert store.messages.last_seq() == 0


async def test_memory_database(tmp_path: Path) -> None:
    store = await Store.open(":memory:")
    try:
        assert (await send(store, "m")).seq == 1
        assert [m.content for m in await store.messages.after(0, 10, "c1")] == ["m"]
    finally:
        await store.close()
