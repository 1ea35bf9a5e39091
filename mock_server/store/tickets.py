"""The ``tickets`` table: what production keeps on a conversation beyond the contract's fields.

Profile ``lizdeika`` only: whether it is archived, its category, and whether an agent set
that category by hand (production's ``manual_category_override``, which stops its AI from
recategorising) or its AI did (``category_metadata``). A conversation without a row is
neither archived nor categorised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from .journal import Table

__all__ = ["TicketState", "Tickets"]


@dataclass(frozen=True)
class TicketState:
    """Production's fields of one conversation."""

    archived: bool = False
    category_id: str | None = None
    manual_category_override: bool = False
    category_metadata: dict[str, Any] | None = None


_NONE = TicketState()


class Tickets(Table):
    """Every conversation's production fields, in memory."""

    _by_id: dict[str, TicketState]

    async def load(self) -> None:
        """(Re)read the table."""
        sql = (
            "SELECT conversation_id, archived, category_id, manual_category_override, "
            "category_metadata FROM tickets"
        )
        self._by_id = {
            str(row[0]): TicketState(
                archived=bool(row[1]),
                category_id=row[2],
                manual_category_override=bool(row[3]),
                category_metadata=json.loads(row[4]) if row[4] is not None else None,
            )
            for row in await self._db.execute_fetchall(sql)
        }

    def get(self, conversation_id: str) -> TicketState:
        """The fields of a conversation (the defaults when it has none)."""
        return self._by_id.get(conversation_id, _NONE)

    def all(self) -> dict[str, TicketState]:
        """Every conversation that has a row, by id."""
        return dict(self._by_id)

    def update(self, conversation_id: str, **changes: Any) -> TicketState:
        """Change some fields of a conversation; return its new state."""
        state = replace(self.get(conversation_id), **changes)
        journal = self._journal()
        journal.stage(
            "tickets",
            "INSERT INTO tickets (conversation_id, archived, category_id, "
            "manual_category_override, category_metadata) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(conversation_id) DO UPDATE SET archived = excluded.archived, "
            "category_id = excluded.category_id, "
            "manual_category_override = excluded.manual_category_override, "
            "category_metadata = excluded.category_metadata",
            (
                conversation_id,
                int(state.archived),
                state.category_id,
                int(state.manual_category_override),
                None if state.category_metadata is None else json.dumps(state.category_metadata),
            ),
        )
        journal.put(self._by_id, conversation_id, state)
        return state
