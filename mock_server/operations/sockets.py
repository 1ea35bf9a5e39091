"""What each Socket.IO event does (CONTRACT.md §3), over a ``Hub``.

Each function takes the hub, the socket's id and the event's validated payload;
``mock_server.handlers`` validates, calls it and acknowledges. A refusal is a
``ServiceError`` (the handler answers ``error-event``).
"""

from __future__ import annotations

import logging

from vilnius_client.events import (
    AgentData,
    AgentTypingStatusEvent,
    CurrentStateEvent,
    CustomerTypingStatusEvent,
    ErrorCode,
    Event,
    HeartbeatAckEvent,
    HeartbeatPayload,
    PersonalStatus,
    ReassignReason,
    StateType,
    SystemModeUpdateEvent,
    TypingPayload,
    utcnow,
)

from ..errors import ServiceError
from ..hub import Hub
from ..rooms import AGENTS_ROOM, CONVERSATION_ROOM_PREFIX, conversation_room

__all__ = [
    "agent_typing",
    "current_state",
    "customer_typing",
    "disconnect",
    "heartbeat",
    "join_conversation",
    "join_dashboard",
    "join_room",
]

logger = logging.getLogger("mock_server")


async def disconnect(hub: Hub, sid: str) -> None:
    """Forget socket ``sid``; mark its agent offline if it was the last socket.

    Without ``Profile.disconnect_marks_offline`` (production) the agent stays
    online until it is inactive for ``Profile.activity_timeout``; the agents
    room still gets ``connected-agents-update``.
    """
    agent_id = hub.forget(sid)
    if agent_id is None:
        return
    async with hub.transaction():
        if hub.profile.disconnect_marks_offline:
            _detach(hub, sid, agent_id)
        else:
            hub.queue_agents_update()


def _detach(hub: Hub, sid: str, agent_id: str) -> None:
    agent = hub.agent_record(agent_id)
    if sid in agent.sockets:
        agent.sockets.remove(sid)
    agent.last_seen = utcnow()
    if not agent.sockets and agent.personal_status is PersonalStatus.ONLINE:
        agent.personal_status = PersonalStatus.OFFLINE
    hub.store.agents.save(agent)
    if not agent.sockets:
        hub.queue_agents_update()


async def join_dashboard(hub: Hub, sid: str, agent_id: str) -> None:
    """``join-agent-dashboard``: the socket becomes agent ``agent_id``'s dashboard."""
    hub.identity_of(sid).require_agent(agent_id)
    assert hub.transport is not None
    for room in hub.profile.dashboard_rooms:
        await hub.transport.enter_room(sid, room)
    if hub.profile.user_login:
        await _join_as_user(hub, sid, agent_id)
        return
    async with hub.transaction():
        previous = hub.agent_of(sid)
        if previous is not None and previous != agent_id:
            _detach(hub, sid, previous)
        hub.set_agent(sid, agent_id)
        agent = hub.agent_record(agent_id)
        if sid not in agent.sockets:
            agent.sockets.append(sid)
        if agent.personal_status is PersonalStatus.OFFLINE:
            agent.personal_status = PersonalStatus.ONLINE
        agent.last_seen = utcnow()
        hub.store.agents.save(agent)
        mode = hub.store.settings.system_mode()
        hub.queue(Event.SYSTEM_MODE_UPDATE, SystemModeUpdateEvent(mode=mode), sid)
        hub.assign_orphans(hub.profile.assign_on_join, ReassignReason.AGENT_JOINED)
        hub.queue_agents_update()


async def _join_as_user(hub: Hub, sid: str, agent_id: str) -> None:
    """Production's join: the user the id names goes online; other ids change nothing."""
    async with hub.transaction():
        hub.set_agent(sid, agent_id)
        hub.touch_user(agent_id, PersonalStatus.ONLINE)
        mode = hub.store.settings.system_mode()
        hub.queue(Event.SYSTEM_MODE_UPDATE, SystemModeUpdateEvent(mode=mode), sid)
        hub.queue_agents_update()


async def join_room(hub: Hub, sid: str, room: str) -> None:
    """``join-room`` (profile ``lizdeika``): join any room by name, as production lets."""
    assert hub.transport is not None
    if room.startswith(CONVERSATION_ROOM_PREFIX):
        return  # conversation rooms are joined with join-conversation
    try:
        await hub.transport.enter_room(sid, room)
    except ValueError:  # python-socketio refuses another socket's own room
        logger.info("socket %s may not join room %r", sid, room)


async def agent_typing(hub: Hub, sid: str, payload: TypingPayload) -> None:
    """``agent-typing``: tell the conversation room, sender excluded."""
    identity = hub.identity_of(sid)
    if identity.kind == "customer":
        raise ServiceError(ErrorCode.FORBIDDEN, "customers may not type as an agent")
    if hub.profile.check_conversations:
        hub.conversation(payload.conversation_id)
    async with hub.transaction():
        agent_id = hub.agent_of(sid)
        if agent_id is not None:
            _activity(hub, agent_id)
        event = AgentTypingStatusEvent(is_typing=payload.is_typing, timestamp=utcnow())
        room = conversation_room(payload.conversation_id)
        hub.queue(Event.AGENT_TYPING_STATUS, event, room, sid)


def _activity(hub: Hub, agent_id: str) -> None:
    """Note that the agent is active (production: only if the id names a user)."""
    if hub.profile.user_login:
        hub.touch_user(agent_id)
        return
    agent = hub.agent_record(agent_id)
    agent.last_seen = utcnow()
    hub.store.agents.save(agent)


async def heartbeat(hub: Hub, sid: str, payload: HeartbeatPayload | None) -> None:
    """``heartbeat``: note the activity and answer ``heartbeat-ack``.

    Production counts only dashboard heartbeats (or ones without a ``source``) as
    activity, and its ack carries its own clock rather than the client's.
    """
    agent_id = hub.agent_of(sid)
    if agent_id is None:
        raise ServiceError(ErrorCode.NOT_JOINED, "send join-agent-dashboard before heartbeat")
    async with hub.transaction():
        if payload is None or payload.source != "settings":
            _activity(hub, agent_id)
        if not hub.faults.withhold_heartbeat_acks:
            echo = hub.profile.heartbeat_echo and payload is not None
            stamp = payload.timestamp if echo and payload is not None else utcnow()
            ack = HeartbeatAckEvent(timestamp=stamp, agent_id=agent_id)
            hub.queue(Event.HEARTBEAT_ACK, ack, sid)


async def current_state(hub: Hub, sid: str, state: StateType) -> None:
    """``request-current-state``: answer ``current-state`` to the sender."""
    if state is StateType.CONNECTED_AGENTS:
        if hub.profile.socket_auth:
            hub.identity_of(sid).require_agent()
        data: list[AgentData] | object = hub.agent_list()
    else:
        data = hub.store.settings.system_mode()
    event = CurrentStateEvent.model_validate({"type": state, "data": data})
    await hub.send(Event.CURRENT_STATE, event, sid)


async def join_conversation(hub: Hub, sid: str, conversation_id: str) -> None:
    """``join-conversation``: put the socket in the conversation's room."""
    hub.identity_of(sid).require_conversation(conversation_id)
    if hub.profile.check_conversations:
        hub.conversation(conversation_id)
    assert hub.transport is not None
    await hub.transport.enter_room(sid, conversation_room(conversation_id))


async def customer_typing(hub: Hub, sid: str, payload: TypingPayload) -> None:
    """``customer-typing``: tell the agents room."""
    hub.identity_of(sid).require_conversation(payload.conversation_id)
    if hub.profile.check_conversations:
        hub.conversation(payload.conversation_id)
    event = CustomerTypingStatusEvent(
        conversation_id=payload.conversation_id,
        is_typing=payload.is_typing,
        timestamp=utcnow(),
    )
    await hub.send(Event.CUSTOMER_TYPING_STATUS, event, AGENTS_ROOM)
