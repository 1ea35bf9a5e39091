"""The ``conversations`` table: conversations, their agents' active counts, offline notices."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

from vilnius_client.events import Conversation, ConversationStatus, format_timestamp, utcnow

from .journal import Table
from .schema import Row, read_timestamp

__all__ = ["Conversations"]

_COLUMNS = "id, visitor_id, started_at, assigned_agent, status, metadata"


def _conversation(row: Row) -> Conversation:
    return Conversation(
        id=row[0],
        visitor_id=row[1],
        started_at=read_timestamp(row[2]),
        assigned_agent=row[3],
        status=ConversationStatus(row[4]),
        metadata=json.loads(row[5]),
    )


class Conversations(Table):
    """Every conversation, in memory (``Conversation`` objects are shared: never change one)."""

    _by_id: dict[str, Conversation]
    _active: Counter[str]  # active conversations of each agent
    _noticed: set[str]  # conversations that got the offline notice

    async def load(self) -> None:
        """(Re)read the table."""
        sql = f"SELECT {_COLUMNS}, offline_notice_sent FROM conversations ORDER BY rowid"
        rows = list(await self._db.execute_fetchall(sql))
        self._by_id = {}
        self._active = Counter()
        for row in rows:
            self._set(row[0], _conversation(row))
        self._noticed = {str(row[0]) for row in rows if row[6]}

    def _set(self, conversation_id: str, conversation: Conversation | None) -> None:
        """Put (``None``: remove) a conversation, keeping the active counts right."""
        old = self._by_id.get(conversation_id)
        if old is not None and old.status is ConversationStatus.ACTIVE and old.assigned_agent:
            self._active[old.assigned_agent] -= 1
        if conversation is None:
            self._by_id.pop(conversation_id, None)
            return
        self._by_id[conversation_id] = conversation
        if conversation.status is ConversationStatus.ACTIVE and conversation.assigned_agent:
            self._active[conversation.assigned_agent] += 1

    def _put(self, conversation: Conversation) -> None:
        old = self._by_id.get(conversation.id)
        self._set(conversation.id, conversation)
        self._journal().on_undo(lambda: self._set(conversation.id, old))

    def create(
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
        self._journal().stage(
            "conversations",
            f"INSERT INTO conversations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                conversation.id,
                conversation.visitor_id,
                format_timestamp(conversation.started_at),
                None,
                ConversationStatus.ACTIVE.value,
                json.dumps(metadata),
            ),
        )
        self._put(conversation)
        return conversation

    def get(self, conversation_id: str) -> Conversation | None:
        """Return one conversation, or ``None``."""
        return self._by_id.get(conversation_id)

    def all(
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
            for conversation in self._by_id.values()
            if (status is None or conversation.status is status)
            and (assigned_to is None or conversation.assigned_agent == assigned_to)
            and not (unassigned and conversation.assigned_agent is not None)
        ]
        found.sort(key=lambda conversation: conversation.started_at)  # stable: ties by creation
        return found if limit < 0 else found[:limit]

    def assign(self, conversation_id: str, agent_id: str | None) -> None:
        """Set (or clear) the agent a conversation is assigned to."""
        self._update(conversation_id, "assigned_agent", agent_id, assigned_agent=agent_id)

    def set_status(self, conversation_id: str, status: ConversationStatus) -> None:
        """Change the lifecycle status of a conversation."""
        self._update(conversation_id, "status", status.value, status=status)

    def _update(self, conversation_id: str, column: str, value: Any, **changes: Any) -> None:
        """Set ``column`` to ``value`` (and the model's fields to ``changes``), if it exists."""
        conversation = self._by_id.get(conversation_id)
        if conversation is None:
            return
        self._journal().stage(
            "conversations",
            f"UPDATE conversations SET {column} = ? WHERE id = ?",
            (value, conversation_id),
        )
        self._put(conversation.model_copy(update=changes))

    def active_counts(self) -> dict[str, int]:
        """Return the number of active conversations of each assigned agent."""
        return {agent_id: count for agent_id, count in self._active.items() if count > 0}

    def offline_notice_sent(self, conversation_id: str) -> bool:
        """Whether the ``off``-mode notice was already sent in this conversation."""
        return conversation_id in self._noticed

    def mark_offline_notice(self, conversation_id: str, sent: bool = True) -> None:
        """Remember that the offline notice went out in this conversation."""
        self._journal().stage(
            "conversations",
            "UPDATE conversations SET offline_notice_sent = ? WHERE id = ?",
            (int(sent), conversation_id),
        )
        self._replace_noticed(
            self._noticed | {conversation_id} if sent else self._noticed - {conversation_id}
        )

    def reset_offline_notices(self) -> None:
        """Forget every offline notice (the system went ``off`` again)."""
        self._journal().stage(
            "conversations", "UPDATE conversations SET offline_notice_sent = 0", ()
        )
        self._replace_noticed(set())

    def _replace_noticed(self, noticed: set[str]) -> None:
        old = self._noticed
        self._noticed = noticed
        self._journal().on_undo(lambda: setattr(self, "_noticed", old))
