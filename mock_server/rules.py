"""Assignment and status rules, as plain functions (no I/O).

* An agent is *available* for new conversations when it has a connected
  dashboard socket and its personal status is ``online`` (not ``afk``).
* Conversations go to the available agent with the fewest active chats; ties go
  to the smallest agent id, so the outcome is deterministic.
* An agent's computed ``status`` is ``offline`` without a connected socket,
  ``busy`` when it is ``afk`` or has ``BUSY_AT`` active chats or more, and
  ``online`` otherwise.
* The dashboard lists an agent while it has a connected socket, holds active
  conversations, or was seen within ``LISTED_FOR`` (so a dashboard sees it go
  offline); agents gone for longer drop off, and the list does not grow with every
  agent ever seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from vilnius_client.events import AgentData, AgentStatus, PersonalStatus

from .store import AgentRecord

__all__ = ["BUSY_AT", "LISTED_FOR", "agent_data", "available", "listed", "pick_agent"]

BUSY_AT = 5
"""Number of active chats from which a connected agent counts as ``busy``."""

LISTED_FOR = timedelta(minutes=10)
"""How long an agent without sockets or conversations stays listed after it was last seen."""


def listed(agent: AgentRecord, load: Mapping[str, int], now: datetime) -> bool:
    """Whether the dashboard lists ``agent`` (see the module docstring)."""
    if agent.connected or load.get(agent.id, 0) > 0:
        return True
    return agent.last_seen is not None and now - agent.last_seen <= LISTED_FOR


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
