"""The ``agents`` table: every agent ever seen, what it set for itself, its sockets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime

from vilnius_client.events import PersonalStatus, format_timestamp

from .journal import Table
from .schema import Row, read_timestamp

__all__ = ["AgentRecord", "Agents"]

_COLUMNS = "id, name, personal_status, last_seen, sockets"


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


def _agent(row: Row) -> AgentRecord:
    return AgentRecord(
        id=row[0],
        name=row[1],
        personal_status=PersonalStatus(row[2]),
        last_seen=read_timestamp(row[3]) if row[3] else None,
        sockets=json.loads(row[4]),
    )


def _copy(agent: AgentRecord) -> AgentRecord:
    return replace(agent, sockets=list(agent.sockets))


class Agents(Table):
    """Every agent, in memory; records go in and out as copies."""

    _by_id: dict[str, AgentRecord]

    async def load(self) -> None:
        """(Re)read the table."""
        sql = f"SELECT {_COLUMNS} FROM agents ORDER BY id"
        self._by_id = {str(row[0]): _agent(row) for row in await self._db.execute_fetchall(sql)}

    def get(self, agent_id: str) -> AgentRecord | None:
        """Return (a copy of) one agent, or ``None``."""
        agent = self._by_id.get(agent_id)
        return None if agent is None else _copy(agent)

    def all(self) -> list[AgentRecord]:
        """Return (copies of) every agent ever seen, by id."""
        return [_copy(self._by_id[agent_id]) for agent_id in sorted(self._by_id)]

    def save(self, agent: AgentRecord) -> None:
        """Insert or update an agent."""
        journal = self._journal()
        journal.stage(
            "agents",
            f"INSERT INTO agents ({_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
            "personal_status = excluded.personal_status, last_seen = excluded.last_seen, "
            "sockets = excluded.sockets",
            (
                agent.id,
                agent.name,
                agent.personal_status.value,
                format_timestamp(agent.last_seen) if agent.last_seen else None,
                json.dumps(agent.sockets),
            ),
        )
        journal.put(self._by_id, agent.id, _copy(agent))

    def disconnect_all(self) -> None:
        """Mark every agent disconnected (at start: no socket survives a restart)."""
        journal = self._journal()
        journal.stage(
            "agents",
            "UPDATE agents SET sockets = '[]', personal_status = CASE personal_status "
            "WHEN 'online' THEN 'offline' ELSE personal_status END",
            (),
        )
        old = self._by_id
        self._by_id = {
            agent_id: replace(
                agent,
                sockets=[],
                personal_status=PersonalStatus.OFFLINE
                if agent.personal_status is PersonalStatus.ONLINE
                else agent.personal_status,
            )
            for agent_id, agent in old.items()
        }
        journal.on_undo(lambda: setattr(self, "_by_id", old))
