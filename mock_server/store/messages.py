"""The ``messages`` table: ``seq`` is given in memory; pages are read from the database.

``seq`` is given from the highest ever stored (read at load), and batches commit in
order, so the committed messages are always a prefix of the ``seq`` order; every read
shows committed messages only.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from vilnius_client.events import Message, Sender, format_timestamp, utcnow

from .journal import Table
from .schema import Row, read_timestamp

__all__ = ["Messages"]

_COLUMNS = (
    "seq, id, conversation_id, content, sender, timestamp, agent_id, metadata, "
    "message_type, sender_id"
)


def _message(row: Row) -> Message:
    return Message(
        seq=row[0],
        id=row[1],
        conversation_id=row[2],
        content=row[3],
        sender=Sender(row[4]),
        timestamp=read_timestamp(row[5]),
        agent_id=row[6],
        metadata=json.loads(row[7]),
        message_type=row[8],
        sender_id=row[9],
    )


class Messages(Table):
    """Every conversation's messages."""

    _head: int  # the highest seq given
    _committed: int  # the highest seq committed

    async def load(self) -> None:
        """(Re)read the highest ``seq`` ever given (kept by SQLite even for deleted rows)."""
        sql = (
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0), "
            "COALESCE((SELECT MAX(seq) FROM messages), 0))"
        )
        rows = list(await self._db.execute_fetchall(sql))
        self._head = self._committed = int(rows[0][0])

    def add(
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
        journal = self._journal()
        message_id = f"msg-{uuid.uuid4().hex}"
        now = utcnow()  # stored with millisecond precision: the message as it reads back
        timestamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        seq = self._head + 1
        journal.stage(
            "messages",
            f"INSERT INTO messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                message_id,
                conversation_id,
                content,
                sender.value,
                format_timestamp(timestamp),
                agent_id,
                json.dumps(None if null_metadata else metadata or {}),
                message_type,
                sender_id,
            ),
        )
        self._head = seq
        journal.on_undo(lambda: setattr(self, "_head", seq - 1))
        journal.on_commit(lambda: setattr(self, "_committed", seq))
        return Message(
            seq=seq,
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

    def replace(
        self, message_id: str, content: str, sender: Sender, metadata: dict[str, Any]
    ) -> None:
        """Overwrite the text, sender and metadata of a stored message (same id and seq)."""
        self._journal().stage(
            "messages",
            "UPDATE messages SET content = ?, sender = ?, metadata = ? WHERE id = ?",
            (content, sender.value, json.dumps(metadata), message_id),
        )

    def delete(self, message_ids: list[str]) -> None:
        """Delete stored messages (production drops superseded pending suggestions)."""
        journal = self._journal()
        for message_id in message_ids:
            journal.stage("messages", "DELETE FROM messages WHERE id = ?", (message_id,))

    async def history(self, conversation_id: str) -> list[Message]:
        """Every committed message of a conversation, in ``seq`` order."""
        sql = f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = ? AND seq <= ? ORDER BY seq"
        rows = await self._db.execute_fetchall(sql, (conversation_id, self._committed))
        return [_message(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        """Committed visitor and agent messages of each conversation."""
        sql = (
            "SELECT conversation_id, COUNT(*) FROM messages "
            "WHERE sender IN ('visitor', 'agent') AND seq <= ? GROUP BY conversation_id"
        )
        rows = await self._db.execute_fetchall(sql, (self._committed,))
        return {str(row[0]): int(row[1]) for row in rows}

    async def after(
        self, after: int, limit: int, conversation_id: str | None = None
    ) -> list[Message]:
        """Return up to ``limit`` committed messages with ``seq > after`` in ``seq`` order."""
        if conversation_id is None:
            sql = f"SELECT {_COLUMNS} FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            args: tuple[Any, ...] = (after, self._committed, limit)
        else:
            sql = (
                f"SELECT {_COLUMNS} FROM messages "
                "WHERE conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            )
            args = (conversation_id, after, self._committed, limit)
        rows = await self._db.execute_fetchall(sql, args)
        return [_message(row) for row in rows]

    def last_seq(self) -> int:
        """Return the highest committed ``seq`` (0 when none)."""
        return self._committed
