"""The ``message_statistics`` table, and the counts of messages production's statistics read.

Profile ``lizdeika`` only. Production records one row per agent reply sent through
``POST /api/agent/respond`` (who, in which conversation, whether an AI suggestion was
used and how, the system mode); its statistics endpoints count these rows, conversations
and messages within a date range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vilnius_client.events import format_timestamp

from .journal import Table
from .schema import read_timestamp

__all__ = ["MessageStatistics", "StatisticsRecord"]


@dataclass(frozen=True)
class StatisticsRecord:
    """One agent reply as production's statistics see it.

    ``suggestion_action`` is production's enum: ``sent_as_is``, ``edited``,
    ``from_scratch`` or ``None``.
    """

    message_id: str
    agent_id: str
    ticket_id: str
    ai_suggestion_used: bool
    suggestion_action: str | None
    original_suggestion: str | None
    system_mode: str
    created_at: datetime


class MessageStatistics(Table):
    """Every recorded agent reply, in memory, oldest first."""

    _records: list[StatisticsRecord]

    async def load(self) -> None:
        """(Re)read the table."""
        sql = (
            "SELECT message_id, agent_id, ticket_id, ai_suggestion_used, suggestion_action, "
            "original_suggestion, system_mode, created_at FROM message_statistics "
            "ORDER BY created_at, rowid"
        )
        self._records = [
            StatisticsRecord(
                message_id=row[0],
                agent_id=row[1],
                ticket_id=row[2],
                ai_suggestion_used=bool(row[3]),
                suggestion_action=row[4],
                original_suggestion=row[5],
                system_mode=row[6],
                created_at=read_timestamp(row[7]),
            )
            for row in await self._db.execute_fetchall(sql)
        ]

    def add(self, record: StatisticsRecord) -> None:
        """Record an agent reply."""
        journal = self._journal()
        journal.stage(
            "message_statistics",
            "INSERT INTO message_statistics (message_id, agent_id, ticket_id, "
            "ai_suggestion_used, suggestion_action, original_suggestion, system_mode, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.message_id,
                record.agent_id,
                record.ticket_id,
                int(record.ai_suggestion_used),
                record.suggestion_action,
                record.original_suggestion,
                record.system_mode,
                format_timestamp(record.created_at),
            ),
        )
        self._records.append(record)
        journal.on_undo(lambda: self._records.remove(record))

    def between(self, start: datetime, end: datetime) -> list[StatisticsRecord]:
        """The records created within ``[start, end]``."""
        return [r for r in self._records if start <= r.created_at <= end]

    async def messages_between(self, start: datetime, end: datetime) -> list[tuple[str, str, str]]:
        """``(conversation id, sender, timestamp)`` of the committed messages in ``[start, end]``.

        Read from the ``messages`` table (timestamps are stored as ISO 8601 text in UTC with
        milliseconds, so they compare as text).
        """
        sql = (
            "SELECT conversation_id, sender, timestamp FROM messages "
            "WHERE timestamp >= ? AND timestamp <= ?"
        )
        rows = await self._db.execute_fetchall(
            sql, (format_timestamp(start), format_timestamp(end))
        )
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]
