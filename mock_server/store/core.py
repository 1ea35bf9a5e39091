"""The store: the server's state in memory, written through to SQLite.

See the package docstring (``mock_server.store``) for how transactions, commits and
failures work.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import aiosqlite

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

from ..users import User
from . import schema
from .writer import Statement, Writer

__all__ = ["AgentRecord", "Store"]

_Row = sqlite3.Row | tuple[Any, ...]

_CONVERSATION_COLUMNS = "id, visitor_id, started_at, assigned_agent, status, metadata"
_MESSAGE_COLUMNS = (
    "seq, id, conversation_id, content, sender, timestamp, agent_id, metadata, "
    "message_type, sender_id"
)
_AGENT_COLUMNS = "id, name, personal_status, last_seen, sockets"
_USER_COLUMNS = "id, email, password_hash, name, role, totp_secret, created_at"


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


def _conversation(row: _Row) -> Conversation:
    return Conversation(
        id=row[0],
        visitor_id=row[1],
        started_at=_parse_ts(row[2]),
        assigned_agent=row[3],
        status=ConversationStatus(row[4]),
        metadata=json.loads(row[5]),
    )


def _message(row: _Row) -> Message:
    return Message(
        seq=row[0],
        id=row[1],
        conversation_id=row[2],
        content=row[3],
        sender=Sender(row[4]),
        timestamp=_parse_ts(row[5]),
        agent_id=row[6],
        metadata=json.loads(row[7]),
        message_type=row[8],
        sender_id=row[9],
    )


def _agent(row: _Row) -> AgentRecord:
    return AgentRecord(
        id=row[0],
        name=row[1],
        personal_status=PersonalStatus(row[2]),
        last_seen=_parse_ts(row[3]) if row[3] else None,
        sockets=json.loads(row[4]),
    )


def _copy(agent: AgentRecord) -> AgentRecord:
    return replace(agent, sockets=list(agent.sockets))


class Store:
    """The server's state, in memory and in one SQLite database.

    Use :meth:`open` to create one and :meth:`close` to flush and close it.
    """

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self.lock = asyncio.Lock()
        """Held by the block of the one running transaction."""
        # The in-memory state (filled by _load).
        self._conversations: dict[str, Conversation] = {}
        self._active: Counter[str] = Counter()  # active conversations of each agent
        self._noticed: set[str] = set()  # conversations that got the offline notice
        self._agents: dict[str, AgentRecord] = {}
        self._meta: dict[str, str] = {}
        self._unsaved_keys: dict[tuple[str, str], str] = {}
        self._users: dict[str, User] = {}
        self._refresh: dict[str, tuple[str, int]] = {}  # jti -> (user id, expires at)
        self._head = 0  # the highest seq given
        self._committed = 0  # the highest seq committed
        # The running transaction.
        self._staged: list[Statement] | None = None
        self._undo: list[Callable[[], None]] = []
        self._keys: list[tuple[tuple[str, str], str]] = []
        self._writer = Writer(db, self.lock, self._load)

    @property
    def batches(self) -> int:
        """How many commits the writer made (a batch holds one or more transactions)."""
        return self._writer.batches

    @classmethod
    async def open(cls, path: str) -> Store:
        """Open (creating if needed) the database at ``path`` (``":memory:"`` allowed)."""
        db = await schema.connect(path)
        try:
            store = cls(db, path)
            await store._load()
        except BaseException:
            await db.close()
            raise
        store._writer.start()
        return store

    async def close(self) -> None:
        """Wait for the running block, commit everything waiting and close the database."""
        async with self.lock:
            if self._writer.closing:
                return
            self._writer.stop()
        await self._writer.wait_closed()
        await self._db.close()

    async def _load(self) -> None:
        """(Re)read the in-memory state from the database."""
        sql = (
            f"SELECT {_CONVERSATION_COLUMNS}, offline_notice_sent FROM conversations ORDER BY rowid"
        )
        rows = list(await self._db.execute_fetchall(sql))
        self._conversations = {}
        self._active = Counter()
        for row in rows:
            self._set_conversation(row[0], _conversation(row))
        self._noticed = {str(row[0]) for row in rows if row[6]}
        sql = f"SELECT {_AGENT_COLUMNS} FROM agents ORDER BY id"
        self._agents = {str(row[0]): _agent(row) for row in await self._db.execute_fetchall(sql)}
        rows = list(await self._db.execute_fetchall("SELECT key, value FROM meta"))
        self._meta = {str(row[0]): str(row[1]) for row in rows}
        sql = f"SELECT {_USER_COLUMNS} FROM users ORDER BY created_at, rowid"
        self._users = {str(row[0]): User(*row) for row in await self._db.execute_fetchall(sql)}
        sql = "SELECT jti, user_id, expires_at FROM refresh_tokens"
        self._refresh = {
            str(row[0]): (str(row[1]), int(row[2])) for row in await self._db.execute_fetchall(sql)
        }
        self._unsaved_keys = {}
        sql = (
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0), "
            "COALESCE((SELECT MAX(seq) FROM messages), 0))"
        )
        rows = list(await self._db.execute_fetchall(sql))
        self._head = self._committed = int(rows[0][0])

    # -- transactions -----------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block alone; return once it is committed (undo it if it raises).

        Raises:
            CommitError: The commit failed; nothing of the block was stored.
        """
        async with self.lock:
            if self._writer.closing:
                raise RuntimeError("the store is closed")
            self._staged, self._undo, self._keys = [], [], []
            head = self._head
            try:
                yield
            except BaseException:
                for undo in reversed(self._undo):
                    undo()
                self._head = head
                raise
            finally:
                staged, keys = self._staged, self._keys
                self._staged, self._undo, self._keys = None, [], []
            done: asyncio.Future[None] | None
            if staged:
                head = self._head

                def committed() -> None:
                    self._committed = head
                    for key, body in keys:
                        if self._unsaved_keys.get(key) is body:
                            del self._unsaved_keys[key]

                done = self._writer.submit(staged, (committed,))
            else:
                done = self._writer.pending()  # nothing written: wait for what it may have seen
        if done is not None:
            await asyncio.shield(done)

    def _stage(self, table: str, sql: str, parameters: tuple[Any, ...]) -> None:
        if self._staged is None:
            raise RuntimeError("store writes must run inside Store.transaction()")
        self._staged.append((table, sql, parameters))

    # -- meta ------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """Return a stored setting, or ``None``."""
        return self._meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        self._stage(
            "meta",
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        old = self._meta.get(key)
        self._meta[key] = value
        self._undo.append(lambda: self._restore(self._meta, key, old))

    @staticmethod
    def _restore(mapping: dict[Any, Any], key: Any, old: Any) -> None:
        if old is None:
            mapping.pop(key, None)
        else:
            mapping[key] = old

    async def system_mode(self) -> SystemMode:
        """Return the system mode (``hitl`` until set)."""
        value = self._meta.get("system_mode")
        return SystemMode(value) if value else SystemMode.HITL

    async def set_system_mode(self, mode: SystemMode) -> None:
        """Store the system mode."""
        await self.set_meta("system_mode", mode.value)

    # -- conversations ----------------------------------------------------

    def _set_conversation(self, conversation_id: str, conversation: Conversation | None) -> None:
        """Put (``None``: remove) a conversation, keeping the active counts right."""
        old = self._conversations.get(conversation_id)
        if old is not None and old.status is ConversationStatus.ACTIVE and old.assigned_agent:
            self._active[old.assigned_agent] -= 1
        if conversation is None:
            self._conversations.pop(conversation_id, None)
            return
        self._conversations[conversation_id] = conversation
        if conversation.status is ConversationStatus.ACTIVE and conversation.assigned_agent:
            self._active[conversation.assigned_agent] += 1

    def _put_conversation(self, conversation: Conversation) -> None:
        old = self._conversations.get(conversation.id)
        self._set_conversation(conversation.id, conversation)
        self._undo.append(lambda: self._set_conversation(conversation.id, old))

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
        self._stage(
            "conversations",
            f"INSERT INTO conversations ({_CONVERSATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                conversation.id,
                conversation.visitor_id,
                _ts(conversation.started_at),
                None,
                ConversationStatus.ACTIVE.value,
                json.dumps(metadata),
            ),
        )
        self._put_conversation(conversation)
        return conversation

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        """Return one conversation, or ``None``."""
        return self._conversations.get(conversation_id)

    async def list_conversations(
        self,
        *,
        status: ConversationStatus | None = None,
        assigned_to: str | None = None,
        unassigned: bool = False,
        limit: int = -1,
    ) -> list[Conversation]:
        """Return conversations, oldest first, filtered as asked."""
        found = [
            conversation
            for conversation in self._conversations.values()
            if (status is None or conversation.status is status)
            and (assigned_to is None or conversation.assigned_agent == assigned_to)
            and not (unassigned and conversation.assigned_agent is not None)
        ]
        found.sort(key=lambda conversation: conversation.started_at)  # stable: ties by creation
        return found if limit < 0 else found[:limit]

    async def assign(self, conversation_id: str, agent_id: str | None) -> None:
        """Set (or clear) the agent a conversation is assigned to."""
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return
        self._stage(
            "conversations",
            "UPDATE conversations SET assigned_agent = ? WHERE id = ?",
            (agent_id, conversation_id),
        )
        self._put_conversation(conversation.model_copy(update={"assigned_agent": agent_id}))

    async def set_status(self, conversation_id: str, status: ConversationStatus) -> None:
        """Change the lifecycle status of a conversation."""
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return
        self._stage(
            "conversations",
            "UPDATE conversations SET status = ? WHERE id = ?",
            (status.value, conversation_id),
        )
        self._put_conversation(conversation.model_copy(update={"status": status}))

    async def active_counts(self) -> dict[str, int]:
        """Return the number of active conversations of each assigned agent."""
        return {agent_id: count for agent_id, count in self._active.items() if count > 0}

    async def offline_notice_sent(self, conversation_id: str) -> bool:
        """Whether the ``off``-mode notice was already sent in this conversation."""
        return conversation_id in self._noticed

    async def mark_offline_notice(self, conversation_id: str, sent: bool = True) -> None:
        """Remember that the offline notice went out in this conversation."""
        self._stage(
            "conversations",
            "UPDATE conversations SET offline_notice_sent = ? WHERE id = ?",
            (int(sent), conversation_id),
        )
        self._replace_noticed(
            self._noticed | {conversation_id} if sent else self._noticed - {conversation_id}
        )

    async def reset_offline_notices(self) -> None:
        """Forget every offline notice (the system went ``off`` again)."""
        self._stage("conversations", "UPDATE conversations SET offline_notice_sent = 0", ())
        self._replace_noticed(set())

    def _replace_noticed(self, noticed: set[str]) -> None:
        old = self._noticed
        self._noticed = noticed
        self._undo.append(lambda: setattr(self, "_noticed", old))

    # -- messages ---------------------------------------------------------

    async def add_message(
        self,
        conversation_id: str,
        content: str,
        sender: Sender,
        *,
        agent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        message_type: str | None = None,
        sender_id: str | None = None,
        null_metadata: bool = False,
    ) -> Message:
        """Store a message and return it with its new ``seq``.

        ``null_metadata`` stores a ``null`` metadata (production's messages without any).
        """
        message_id = f"msg-{uuid.uuid4().hex}"
        now = utcnow()  # stored with millisecond precision: the message as it reads back
        timestamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._stage(
            "messages",
            f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._head + 1,
                message_id,
                conversation_id,
                content,
                sender.value,
                _ts(timestamp),
                agent_id,
                json.dumps(None if null_metadata else metadata or {}),
                message_type,
                sender_id,
            ),
        )
        self._head += 1  # undone by the transaction if it fails
        return Message(
            seq=self._head,
            id=message_id,
            conversation_id=conversation_id,
            content=content,
            sender=sender,
            timestamp=timestamp,
            agent_id=agent_id,
            metadata=None if null_metadata else metadata or {},
            message_type=message_type,
            sender_id=sender_id,
        )

    async def replace_message(
        self, message_id: str, content: str, sender: Sender, metadata: dict[str, Any]
    ) -> None:
        """Overwrite the text, sender and metadata of a stored message (same id and seq)."""
        self._stage(
            "messages",
            "UPDATE messages SET content = ?, sender = ?, metadata = ? WHERE id = ?",
            (content, sender.value, json.dumps(metadata), message_id),
        )

    async def delete_messages(self, message_ids: list[str]) -> None:
        """Delete stored messages (production drops superseded pending suggestions)."""
        for message_id in message_ids:
            self._stage("messages", "DELETE FROM messages WHERE id = ?", (message_id,))

    async def conversation_history(self, conversation_id: str) -> list[Message]:
        """Every committed message of a conversation, in ``seq`` order."""
        sql = (
            f"SELECT {_MESSAGE_COLUMNS} FROM messages "
            "WHERE conversation_id = ? AND seq <= ? ORDER BY seq"
        )
        rows = await self._db.execute_fetchall(sql, (conversation_id, self._committed))
        return [_message(row) for row in rows]

    async def message_counts(self) -> dict[str, int]:
        """Committed visitor and agent messages of each conversation."""
        sql = (
            "SELECT conversation_id, COUNT(*) FROM messages "
            "WHERE sender IN ('visitor', 'agent') AND seq <= ? GROUP BY conversation_id"
        )
        rows = await self._db.execute_fetchall(sql, (self._committed,))
        return {str(row[0]): int(row[1]) for row in rows}

    async def messages_after(
        self, after: int, limit: int, conversation_id: str | None = None
    ) -> list[Message]:
        """Return up to ``limit`` committed messages with ``seq > after`` in ``seq`` order."""
        if conversation_id is None:
            sql = (
                f"SELECT {_MESSAGE_COLUMNS} FROM messages "
                "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            )
            args: tuple[Any, ...] = (after, self._committed, limit)
        else:
            sql = (
                f"SELECT {_MESSAGE_COLUMNS} FROM messages "
                "WHERE conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            )
            args = (conversation_id, after, self._committed, limit)
        rows = await self._db.execute_fetchall(sql, args)
        return [_message(row) for row in rows]

    async def last_seq(self) -> int:
        """Return the highest committed ``seq`` (0 when none)."""
        return self._committed

    # -- agents -----------------------------------------------------------

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        """Return (a copy of) one agent, or ``None``."""
        agent = self._agents.get(agent_id)
        return None if agent is None else _copy(agent)

    async def list_agents(self) -> list[AgentRecord]:
        """Return (copies of) every agent ever seen, by id."""
        return [_copy(self._agents[agent_id]) for agent_id in sorted(self._agents)]

    async def save_agent(self, agent: AgentRecord) -> None:
        """Insert or update an agent."""
        self._stage(
            "agents",
            f"INSERT INTO agents ({_AGENT_COLUMNS}) "
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
        old = self._agents.get(agent.id)
        self._agents[agent.id] = _copy(agent)
        self._undo.append(lambda: self._restore(self._agents, agent.id, old))

    async def disconnect_all(self) -> None:
        """Mark every agent disconnected (at start: no socket survives a restart)."""
        self._stage(
            "agents",
            "UPDATE agents SET sockets = '[]', personal_status = CASE personal_status "
            "WHEN 'online' THEN 'offline' ELSE personal_status END",
            (),
        )
        old = self._agents
        self._agents = {
            agent_id: replace(
                agent,
                sockets=[],
                personal_status=PersonalStatus.OFFLINE
                if agent.personal_status is PersonalStatus.ONLINE
                else agent.personal_status,
            )
            for agent_id, agent in old.items()
        }
        self._undo.append(lambda: setattr(self, "_agents", old))

    # -- users (profile lizdeika) -------------------------------------------

    async def list_users(self) -> list[User]:
        """Every user, in the order they were created."""
        return list(self._users.values())

    async def get_user(self, user_id: str) -> User | None:
        """One user by id, or ``None``."""
        return self._users.get(user_id)

    async def save_user(self, user: User) -> None:
        """Insert or update a user (keyed by id; e-mails are unique)."""
        self._stage(
            "users",
            f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET email = excluded.email, "
            "password_hash = excluded.password_hash, name = excluded.name, "
            "role = excluded.role, totp_secret = excluded.totp_secret",
            (
                user.id,
                user.email,
                user.password_hash,
                user.name,
                user.role,
                user.totp_secret,
                user.created_at,
            ),
        )
        old = self._users.get(user.id)
        self._users[user.id] = user
        self._undo.append(lambda: self._restore(self._users, user.id, old))

    async def refresh_token(self, jti: str) -> tuple[str, int] | None:
        """``(user id, expires at)`` of a live refresh token, or ``None``."""
        return self._refresh.get(jti)

    async def save_refresh_token(self, jti: str, user_id: str, expires_at: int) -> None:
        """Remember an issued refresh token."""
        self._stage(
            "refresh_tokens",
            "INSERT INTO refresh_tokens (jti, user_id, expires_at) VALUES (?, ?, ?)",
            (jti, user_id, expires_at),
        )
        self._refresh[jti] = (user_id, expires_at)
        self._undo.append(lambda: self._restore(self._refresh, jti, None))

    async def revoke_refresh_token(self, jti: str) -> None:
        """Forget a refresh token (rotated or expired)."""
        self._stage("refresh_tokens", "DELETE FROM refresh_tokens WHERE jti = ?", (jti,))
        old = self._refresh.pop(jti, None)
        self._undo.append(lambda: self._restore(self._refresh, jti, old))

    # -- idempotency ------------------------------------------------------

    async def get_idempotent(self, scope: str, key: str) -> dict[str, Any] | None:
        """Return the answer stored for an idempotency key, or ``None``."""
        text = self._unsaved_keys.get((scope, key))
        if text is None:
            sql = "SELECT body FROM idempotency WHERE scope = ? AND key = ?"
            rows = list(await self._db.execute_fetchall(sql, (scope, key)))
            if not rows:
                return None
            text = str(rows[0][0])
        body: dict[str, Any] = json.loads(text)
        return body

    async def put_idempotent(self, scope: str, key: str, body: dict[str, Any]) -> None:
        """Remember the answer given for an idempotency key."""
        text = json.dumps(body)
        self._stage(
            "idempotency",
            "INSERT OR REPLACE INTO idempotency (scope, key, body) VALUES (?, ?, ?)",
            (scope, key, text),
        )
        old = self._unsaved_keys.get((scope, key))
        self._unsaved_keys[(scope, key)] = text
        self._keys.append(((scope, key), text))
        self._undo.append(lambda: self._restore(self._unsaved_keys, (scope, key), old))
