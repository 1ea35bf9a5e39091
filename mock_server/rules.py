"""Assignment and status rules, as plain functions (no I/O).

* An agent is *available* for new conversations when it has a connected
  dashboard socket and its personal status is ``online`` (not ``afk``).
* Conversations go to the available agent with the fewest active chats; ties go
  to the smallest agent id, so the outcome is deterministic.
* An agent's computed ``status`` is ``offline`` without a connected socket,
  ``busy`` when it is ``afk`` or has :data:`BUSY_AT` active chats or more, and
  ``online`` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vilnius_client.events import AgentData, AgentStatus, PersonalStatus

from .store import AgentRecord

__all__ = ["BUSY_AT", "agent_data", "available", "pick_agent"]

BUSY_AT = 5
"""Number of active chats from which a connected agent counts as ``busy``."""


def available(agents: Iterable[AgentRecord], *, exclude: str | None = None) -> list[str]:
    """Return the ids of agents that may receive conversations."""
    return [
        agent.id
        for agent in agents
        if agent.connected
        and agent.personal_status is PersonalStatus.ONLINE
        and agent.id != exclude
    ]


def pick_agent(candidates: Iterable[str], load: Mapping[str, int]) -> str | None:
    """Return the candidate with the fewest active chats (smallest id on ties)."""
    ranked = sorted(candidates, key=lambda agent_id: (load.get(agent_id, 0), agent_id))
    return ranked[0] if ranked else None


def agent_data(agent: AgentRecord, load: Mapping[str, int]) -> AgentData:
    """Return the dashboard view of an agent."""
    active = load.get(agent.id, 0)
    if not agent.connected:
        status = AgentStatus.OFFLINE
    elif agent.personal_status is PersonalStatus.AFK or active >= BUSY_AT:
        status = AgentStatus.BUSY
    else:
        status = AgentStatus.ONLINE
    return AgentData(
        id=agent.id,
        name=agent.name,
        status=status,
        personal_status=agent.personal_status,
        last_seen=agent.last_seen,
        active_chats=active,
        connected=agent.connected,
    )
