"""Agents and the system: personal status, the mode, who is connected."""

from __future__ import annotations

from typing import Any

from vilnius_client.events import (
    ConnectedAgentsResponse,
    ConversationStatus,
    Event,
    PersonalStatus,
    PersonalStatusRequest,
    PersonalStatusResponse,
    Reassignment,
    ReassignReason,
    SystemMode,
    SystemModeRequest,
    SystemModeResponse,
    SystemModeUpdateEvent,
    format_timestamp,
    utcnow,
)

from .. import rules
from ..auth import Identity
from ..hub import Hub
from ..rooms import AGENTS_ROOM
from ..users import display_name

__all__ = [
    "connected_agents",
    "get_mode",
    "personal_status_production",
    "set_mode",
    "set_personal_status",
]


async def set_personal_status(
    hub: Hub, identity: Identity, request: PersonalStatusRequest
) -> PersonalStatusResponse:
    """``POST /api/agent/personal-status``: ``afk`` hands chats over, ``online`` takes orphans."""
    identity.require_agent(request.agent_id)
    async with hub.transaction():
        agent = hub.agent_record(request.agent_id)
        agent.personal_status = PersonalStatus(request.personal_status)
        agent.last_seen = utcnow()
        hub.store.agents.save(agent)
        moves: list[Reassignment] = []
        if agent.personal_status is PersonalStatus.AFK:
            candidates = rules.available(hub.store.agents.all(), exclude=agent.id)
            load = hub.store.conversations.active_counts()
            mine = hub.store.conversations.all(
                status=ConversationStatus.ACTIVE, assigned_to=agent.id
            )
            for conversation in mine:
                target = rules.pick_agent(candidates, load)
                hub.store.conversations.assign(conversation.id, target)
                if target is not None:
                    load[target] = load.get(target, 0) + 1
                moves.append(
                    Reassignment(
                        conversation_id=conversation.id, from_agent_id=agent.id, to_agent_id=target
                    )
                )
            hub.queue_reassigned(moves, ReassignReason.AGENT_AFK)
        else:
            moves = hub.assign_orphans(-1, ReassignReason.AGENT_ONLINE)
        hub.queue_agents_update()
        view = hub.agent_view(agent)
    return PersonalStatusResponse(success=True, agent=view, reassignments=moves)


def get_mode(hub: Hub, identity: Identity) -> dict[str, Any]:
    """``GET /api/system/mode``: ``{mode}``."""
    identity.require_authenticated()
    return {"mode": hub.store.settings.system_mode().value}


async def set_mode(hub: Hub, identity: Identity, request: SystemModeRequest) -> SystemModeResponse:
    """``POST /api/system/mode``: agents change the mode; agents hear of it."""
    identity.require_agent()
    async with hub.transaction():
        changed = hub.store.settings.system_mode() is not request.mode
        if changed:
            hub.store.settings.set_system_mode(request.mode)
            if request.mode is SystemMode.OFF:
                hub.store.conversations.reset_offline_notices()
        if changed or not hub.profile.mode_update_on_change_only:
            event = SystemModeUpdateEvent(mode=request.mode)
            hub.queue(Event.SYSTEM_MODE_UPDATE, event, AGENTS_ROOM)
    return SystemModeResponse(success=True, mode=request.mode)


def connected_agents(hub: Hub, identity: Identity) -> ConnectedAgentsResponse:
    """``GET /api/agents/connected``."""
    identity.require_agent()
    return ConnectedAgentsResponse(
        agents=hub.agent_list(), system_mode=hub.store.settings.system_mode()
    )


async def personal_status_production(
    hub: Hub, agent_id: str, status: PersonalStatus
) -> dict[str, Any]:
    """Production's ``POST /api/agent/personal-status`` (``online`` | ``offline``).

    Any id is answered; only a user's is recorded. No conversation changes hands
    (``reassignments`` is always 0 at production's commit); the agents hear of it.
    """
    async with hub.transaction():
        user = hub.touch_user(agent_id, status)
        hub.queue_agents_update()
    now = format_timestamp(utcnow())
    agent: dict[str, Any] = {
        "id": agent_id,
        "name": display_name(agent_id),
        "status": status.value,
        "personalStatus": status.value,
        "lastSeen": now,
        "connected": status is not PersonalStatus.OFFLINE,
    }
    if user is not None:
        agent["user_id"] = user.id
    return {"success": True, "agent": agent, "reassignments": 0}
