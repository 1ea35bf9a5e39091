"""SQLite persistence of the reference server.

One connection, one writer: every mutation runs inside :meth:`Store.transaction`,
which holds a lock and commits at the end, so multi-step operations (read the
load of every agent, then assign) are atomic and emits can follow the commit in
``seq`` order. Reads may run outside a transaction.

The connection is used directly from the event loop's thread: every statement is
a point lookup, a small write or a bounded page (``limit`` <= 1000 rows), and
a commit in WAL mode with ``synchronous=NORMAL`` is a write to the log, without
``fsync``. That costs a few microseconds; handing each statement to a worker
thread (aiosqlite) cost far more, in thread switches and GIL hand-offs, than the
statement itself. A commit still reaches the operating system before
:meth:`Store.commit` returns, so what was acknowledged survives a ``kill -9``.

Conversations and settings (``meta``) are also kept in memory, written through:
the database stays the source of truth, the caches are filled from it on first
use and emptied by :meth:`Store.rollback`, so a rolled-back change never
lingers. Mutate conversations only through the store (returned
:class:`Conversation` objects are shared; use ``model_copy`` to derive one).

Tables: ``conversations``, ``messages`` (``seq`` is an ``AUTOINCREMENT`` rowid,
so it never goes back, even after a restart), ``agents``, ``meta`` (system
mode, token secret) and ``idempotency``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vilnius_client.events import (
    Conversation,
    ConversationStatus,
    Message,
    PersonalStatus,
    Sender,
    SystemMode,
    format_timestamp,
    parse_timestamp,
    utcnow,
)

__all__ = ["AgentRecord", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    visitor_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    assigned_agent TEXT,
    status TEXT NOT NULL,
    metadata TEXT NOT NULL,
    offline_notice_sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS conversations_by_agent ON conversations (assigned_agent, status);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    content TEXT NOT NULL,
    sender TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    agent_id TEXT,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, seq);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    personal_status TEXT NOT NULL,
    last_seen TEXT,
    sockets TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
"""

_CONVERSATION_COLUMNS = "id, visitor_id, started_at, assigned_agent, status, metadata"
_MESSAGE_COLUMNS = "seq, id, conversation_id, content, sender, timestamp, agent_id, metadata"


@dataclass
class AgentRecord:
    """An agent as stored: what it set for itself and which sockets it has."""

    id: str
    name: str
    personal_status: PersonalStatus = PersonalStatus.OFFLINE
    last_seen: datetime | None = None
    sockets: list[str] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        """Whether at least one dashboard socket of this agent is connected."""
        return bool(self.sockets)


def _ts(value: datetime) -> str:
    return format_timestamp(value)


def _parse_ts(value: str) -> datetime:
    parsed = parse_timestamp(value)
    assert isinstance(parsed, datetime)
    return parsed


def _conversation(row: sqlite3.Row | tuple[Any, ...]) -> Conversation:
    return Conversation(
        id=row[0],
        visitor_id=row[1],
        started_at=_parse_ts(row[2]),
        assigned_agent=row[3],
        status=ConversationStatus(row[4]),
        metadata=json.loads(row[5]),
    )


def _message(row: sqlite3.Row | tuple[Any, ...]) -> Message:
    return Message(
        seq=row[0],
        id=row[1],
        conversation_id=row[2],
        content=row[3],
        sender=Sender(row[4]),
        timestamp=_parse_ts(row[5]),
        agent_id=row[6],
        metadata=json.loads(row[7]),
    )


def _agent(row: sqlite3.Row | tuple[Any, ...]) -> AgentRecord:
    return AgentRecord(
        id=row[0],
        name=row[1],
        personal_status=PersonalStatus(row[2]),
        last_seen=_parse_ts(row[3]) if row[3] else None,
        sockets=json.loads(row[4]),
    )


class Store:
    """The server's persistent state in one SQLite database.

    Use :meth:`open` to create one and :meth:`close` to flush and close it.
    """

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self._db = db
        self.lock = asyncio.Lock()
        """Held by the one running transaction."""
        self.path = path
        self._conversations: dict[str, Conversation] = {}
        self._meta: dict[str, str | None] = {}

    @classmethod
    async def open(cls, path: str) -> Store:
        """Open (creating if needed) the database at ``path`` (``":memory:"`` allowed)."""
        # check_same_thread: a store may be opened on one thread and used by the loop
        # of another (never by two at once: everything runs on the server's loop).
        db = sqlite3.connect(path, check_same_thread=False)
        try:
            if path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.commit()
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    async def close(self) -> None:
        """Wait for the running transaction, commit and close the database."""
        async with self.lock:
            self._db.commit()
            self._db.close()

    async def commit(self) -> None:
        """Commit the running transaction (call with :attr:`lock` held)."""
        self._db.commit()

    async def rollback(self) -> None:
        """Roll back the running transaction (call with :attr:`lock` held)."""
        self._rollback()

    def _rollback(self) -> None:
        self._conversations.clear()
        self._meta.clear()
        self._db.rollback()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block alone and commit it (roll back if it raises)."""
        async with self.lock:
            try:
                yield
            except BaseException:
                self._rollback()
                raise
            self._db.commit()

    # -- meta ------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """Return a stored setting, or ``None``."""
        try:
            return self._meta[key]
        except KeyError:
            pass
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        value = self._meta[key] = None if row is None else str(row[0])
        return value

    async def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        self._meta[key] = value

    async def system_mode(self) -> SystemMode:
        """Return the system mode (``hitl`` until set)."""
        value = await self.get_meta("system_mode")
        return SystemMode(value) if value else SystemMode.HITL

    async def set_system_mode(self, mode: SystemMode) -> None:
        """Store the system mode."""
        await self.set_meta("system_mode", mode.value)

    # -- conversations ----------------------------------------------------

    async def create_conversation(
        self, visitor_id: str, metadata: dict[str, Any], conversation_id: str | None = None
    ) -> Conversation:
        """Store and return a new active, unassigned conversation."""
        conversation = Conversation(
            id=conversation_id or f"conv-{uuid.uuid4().hex[:16]}",
            visitor_id=visitor_id,
            started_at=utcnow(),
            assigned_agent=None,
            status=ConversationStatus.ACTIVE,
            metadata=metadata,
        )
        self._db.execute(
            f"INSERT INTO conversations ({_CONVERSATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                conversation.id,
                conversation.visitor_id,
                _ts(conversation.started_at),
                None,
                conversation.status.value,
                json.dumps(metadata),
            ),
        )
        self._conversations[conversation.id] = conversation
        return conversation

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        """Return one conversation, or ``None``."""
        cached = self._conversations.get(conversation_id)
        if cached is not None:
            return cached
        sql = f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?"
        row = self._db.execute(sql, (conversation_id,)).fetchone()
        if row is None:
            return None
        found = self._conversations[conversation_id] = _conversation(row)
        return found

    async def list_conversations(
        self,
        *,
        status: ConversationStatus | None = None,
        assigned_to: str | None = None,
        unassigned: bool = False,
        limit: int = -1,
    ) -> list[Conversation]:
        """Return conversations, oldest first, filtered as asked."""
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        if assigned_to is not None:
            where.append("assigned_agent = ?")
            args.append(assigned_to)
        if unassigned:
            where.append("assigned_agent IS NULL")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations {clause} "
            "ORDER BY started_at, rowid LIMIT ?"
        )
        rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [_conversation(row) for row in rows]

    async def assign(self, conversation_id: str, agent_id: str | None) -> None:
        """Set (or clear) the agent a conversation is assigned to."""
        self._db.execute(
            "UPDATE conversations SET assigned_agent = ? WHERE id = ?", (agent_id, conversation_id)
        )
        self._conversations.pop(conversation_id, None)

    async def set_status(self, conversation_id: str, status: ConversationStatus) -> None:
        """Change the lifecycle status of a conversation."""
        self._db.execute(
            "UPDATE conversations SET status = ? WHERE id = ?", (status.value, conversation_id)
        )
        self._conversations.pop(conversation_id, None)

    async def active_counts(self) -> dict[str, int]:
        """Return the number of active conversations of each assigned agent."""
        sql = (
            "SELECT assigned_agent, COUNT(*) FROM conversations "
            "WHERE status = 'active' AND assigned_agent IS NOT NULL GROUP BY assigned_agent"
        )
        rows = self._db.execute(sql).fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    async def offline_notice_sent(self, conversation_id: str) -> bool:
        """Whether the ``off``-mode notice was already sent in this conversation."""
        sql = "SELECT offline_notice_sent FROM conversations WHERE id = ?"
        row = self._db.execute(sql, (conversation_id,)).fetchone()
        return bool(row and row[0])

    async def mark_offline_notice(self, conversation_id: str, sent: bool = True) -> None:
        """Remember that the offline notice went out in this conversation."""
        self._db.execute(
            "UPDATE conversations SET offline_notice_sent = ? WHERE id = ?",
            (int(sent), conversation_id),
        )

    async def reset_offline_notices(self) -> None:
        """Forget every offline notice (the system went ``off`` again)."""
        self._db.execute("UPDATE conversations SET offline_notice_sent = 0")

    # -- messages ---------------------------------------------------------

    async def add_message(
        self,
        conversation_id: str,
        content: str,
        sender: Sender,
        *,
        agent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        """Store a message and return it with its new ``seq``."""
        message_id = f"msg-{uuid.uuid4().hex}"
        now = utcnow()  # stored with millisecond precision: the message as it reads back
        timestamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        cursor = self._db.execute(
            f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                conversation_id,
                content,
                sender.value,
                _ts(timestamp),
                agent_id,
                json.dumps(metadata or {}),
            ),
        )
        seq = cursor.lastrowid
        cursor.close()
        assert seq is not None
        return Message(
            seq=seq,
            id=message_id,
            conversation_id=conversation_id,
            content=content,
            sender=sender,
            timestamp=timestamp,
            agent_id=agent_id,
            metadata=metadata or {},
        )

    async def messages_after(
        self, after: int, limit: int, conversation_id: str | None = None
    ) -> list[Message]:
        """Return up to ``limit`` messages with ``seq > after`` in ``seq`` order."""
        if conversation_id is None:
            sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?"
            args: tuple[Any, ...] = (after, limit)
        else:
            sql = (
                f"SELECT {_MESSAGE_COLUMNS} FROM messages "
                "WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?"
            )
            args = (conversation_id, after, limit)
        rows = self._db.execute(sql, args).fetchall()
        return [_message(row) for row in rows]

    async def last_seq(self) -> int:
        """Return the highest ``seq`` ever given (0 when none)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
        return int(row[0]) if row else 0

    # -- agents -----------------------------------------------------------

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        """Return one agent, or ``None``."""
        sql = "SELECT id, name, personal_status, last_seen, sockets FROM agents WHERE id = ?"
        row = self._db.execute(sql, (agent_id,)).fetchone()
        return None if row is None else _agent(row)

    async def list_agents(self) -> list[AgentRecord]:
        """Return every agent ever seen, by id."""
        sql = "SELECT id, name, personal_status, last_seen, sockets FROM agents ORDER BY id"
        rows = self._db.execute(sql).fetchall()
        return [_agent(row) for row in rows]

    async def save_agent(self, agent: AgentRecord) -> None:
        """Insert or update an agent."""
        self._db.execute(
            "INSERT INTO agents (id, name, personal_status, last_seen, sockets) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
            "personal_status = excluded.personal_status, last_seen = excluded.last_seen, "
            "sockets = excluded.sockets",
            (
                agent.id,
                agent.name,
                agent.personal_status.value,
                _ts(agent.last_seen) if agent.last_seen else None,
                json.dumps(agent.sockets),
            ),
        )

    async def disconnect_all(self) -> None:
        """Mark every agent disconnected (at start: no socket survives a restart)."""
        self._db.execute(
            "UPDATE agents SET sockets = '[]', personal_status = CASE personal_status "
            "WHEN 'online' THEN 'offline' ELSE personal_status END"
        )

    # -- idempotency ------------------------------------------------------

    async def get_idempotent(self, scope: str, key: str) -> dict[str, Any] | None:
        """Return the answer stored for an idempotency key, or ``None``."""
        sql = "SELECT body FROM idempotency WHERE scope = ? AND key = ?"
        row = self._db.execute(sql, (scope, key)).fetchone()
        if row is None:
            return None
        body: dict[str, Any] = json.loads(row[0])
        return body

    async def put_idempotent(self, scope: str, key: str, body: dict[str, Any]) -> None:
        """Remember the answer given for an idempotency key."""
        self._db.execute(
            "INSERT OR REPLACE INTO idempotency (scope, key, body) VALUES (?, ?, ?)",
            (scope, key, json.dumps(body)),
        )
