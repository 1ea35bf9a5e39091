"""The server's core: state changes and the events they cause, free of any transport.

:class:`Hub` owns the :class:`~mock_server.store.Store` and a
:class:`Transport` (emit to a room, put a socket in a room). Every change runs in
:meth:`Hub.transaction`: writes are committed first (the store batches the
commits of concurrent changes), then the events queued during the change are
emitted, in the order the changes ran, so that events follow ``seq`` order.
Socket event handlers (:mod:`mock_server.handlers`) and REST handlers
(:mod:`mock_server.api`) are thin layers over it; the REST operations live in
:mod:`mock_server.operations`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from vilnius_client.events import (
    AgentData,
    AgentStatus,
    AgentTypingStatusEvent,
    ConnectedAgentsUpdateEvent,
    Conversation,
    ConversationStatus,
    CurrentStateEvent,
    CustomerTypingStatusEvent,
    ErrorCode,
    Event,
    HeartbeatAckEvent,
    HeartbeatPayload,
    PersonalStatus,
    Reassignment,
    ReassignReason,
    StateType,
    SystemModeUpdateEvent,
    TicketsReassignedEvent,
    TypingPayload,
    WireModel,
    utcnow,
)

from . import rules
from .auth import OPEN, Identity, TokenSigner
from .console.feed import Feed
from .errors import ServiceError
from .faults import Faults
from .profile import VILNIUS, Profile
from .rooms import AGENTS_ROOM, CONVERSATION_ROOM_PREFIX, conversation_room
from .store import AgentRecord, Store
from .users import JwtIssuer, User

__all__ = ["Hub", "Transport"]

logger = logging.getLogger("mock_server")


class Transport(Protocol):
    """What the hub needs from the Socket.IO server."""

    async def emit(
        self, event: Event, data: WireModel, room: str, skip_sid: str | None = None
    ) -> None:
        """Send ``event`` to every socket of ``room`` (a room name or a socket id).

        Conversation rooms are always named by :func:`conversation_room`.
        """

    async def enter_room(self, sid: str, room: str) -> None:
        """Put socket ``sid`` into ``room``."""


_Queued = tuple[Event, WireModel, str, str | None]


class Hub:
    """State, rules and events of the reference server.

    Args:
        store: The open database.
        signer: Issues and checks tokens.
        auth: ``"token"`` or ``"none"``.
        agent_key: The key agents trade for a token (``None``: any key, mode ``none`` only).
        faults: The test hooks.
        profile: Which server to play (:mod:`mock_server.profile`).
        jwt: Issues the JWTs of agent users (profile ``lizdeika``).
    """

    def __init__(
        self,
        store: Store,
        signer: TokenSigner,
        *,
        auth: str,
        agent_key: str | None,
        faults: Faults,
        profile: Profile = VILNIUS,
        jwt: JwtIssuer | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.auth = auth if profile.socket_auth or profile.agent_tokens else "none"
        self.agent_key = agent_key
        self.faults = faults
        self.profile = profile
        self.jwt = jwt
        self.transport: Transport | None = None
        self.feed = Feed()
        """What the browser console shows (:mod:`mock_server.console`); idle unless one is open."""
        self._identities: dict[str, Identity] = {}
        self._socket_agent: dict[str, str] = {}
        self._outbox: list[_Queued] = []
        self._emitting = asyncio.Lock()

    # -- plumbing ---------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run a change alone; once it is committed, send the events it queued.

        The store commits transactions in the order their blocks ran, and their
        events leave in that order too (:attr:`_emitting`), so events follow ``seq``.
        """
        outbox: list[_Queued] = []
        async with self.store.transaction():
            self._outbox = outbox
            try:
                yield
            finally:
                self._outbox = []
        async with self._emitting:
            for event, data, room, skip_sid in outbox:
                await self._send(event, data, room, skip_sid)

    def queue(self, event: Event, data: WireModel, room: str, skip_sid: str | None = None) -> None:
        """Send an event once the running transaction has committed."""
        self._outbox.append((event, data, room, skip_sid))

    async def _send(self, event: Event, data: WireModel, room: str, skip: str | None) -> None:
        if self.transport is None:
            return
        try:
            await self.transport.emit(event, data, room, skip)
        except Exception:  # a socket that went away must not fail the change
            logger.exception("emit of %s to %s failed", event, room)

    def identify(self, token: object) -> Identity:
        """Return the identity a token proves (:data:`OPEN` in auth mode ``none``)."""
        if self.auth == "none":
            return OPEN
        if token is None:
            raise ServiceError(ErrorCode.UNAUTHORIZED, "a token is required")
        return self.signer.verify(token)

    def conversation(self, conversation_id: str) -> Conversation:
        """Return a conversation or raise ``not_found``."""
        found = self.store.conversations.get(conversation_id)
        if found is None:
            raise ServiceError(
                ErrorCode.NOT_FOUND,
                f"unknown conversation {conversation_id!r}",
                {"conversationId": conversation_id},
            )
        return found

    @staticmethod
    def new_id(prefix: str) -> str:
        """Return a fresh random id such as ``visitor-1f2e...``."""
        return f"{prefix}-{uuid.uuid4().hex[:16]}"

    # -- agents -----------------------------------------------------------

    def agent_list(self) -> list[AgentData]:
        """Return the agents the dashboard lists (:func:`rules.listed`).

        With :attr:`Profile.activity_timeout` (production), the agent users whose status
        is ``online`` and who were active within it, in the order they were created.
        """
        if self.profile.activity_timeout is not None:
            return self._active_users()
        load = self.store.conversations.active_counts()
        now = utcnow()
        return [
            rules.agent_data(agent, load)
            for agent in self.store.agents.all()
            if rules.listed(agent, load, now)
        ]

    def _active_users(self) -> list[AgentData]:
        timeout = self.profile.activity_timeout
        assert timeout is not None
        now = utcnow()
        listed = []
        for user in self.store.users.all():
            agent = self.store.agents.get(user.id)
            if (
                agent is not None
                and agent.personal_status is PersonalStatus.ONLINE
                and agent.last_seen is not None
                and (now - agent.last_seen).total_seconds() <= timeout
            ):
                listed.append(
                    AgentData(
                        id=user.id,
                        name=user.name,
                        status=AgentStatus.ONLINE,
                        personal_status=PersonalStatus.ONLINE,
                        last_seen=agent.last_seen,
                        connected=True,
                        user_id=user.id,
                    )
                )
        return listed

    def find_user(self, agent_id: object) -> User | None:
        """The agent user an agent id names, as production finds it.

        Its UUID, its exact e-mail, or else the first user whose e-mail *contains* it.
        """
        if not isinstance(agent_id, str) or not agent_id:
            return None
        users = self.store.users.all()
        for user in users:
            if agent_id in (user.id, user.email):
                return user
        return next((user for user in users if agent_id in user.email), None)

    def touch_user(self, agent_id: str, status: PersonalStatus | None = None) -> bool:
        """Record activity of the agent user ``agent_id`` names (and set its status).

        Returns whether a user was found (production records nothing for other ids).
        """
        user = self.find_user(agent_id)
        if user is None:
            return False
        agent = self.agent_record(user.id)
        agent.name = user.name
        agent.last_seen = utcnow()
        if status is not None:
            agent.personal_status = status
        self.store.agents.save(agent)
        return True

    def agent_view(self, agent: AgentRecord) -> AgentData:
        """Return one agent as the dashboard shows it."""
        return rules.agent_data(agent, self.store.conversations.active_counts())

    def agent_record(self, agent_id: str) -> AgentRecord:
        """Return the stored agent, or a new (unsaved) offline one."""
        return self.store.agents.get(agent_id) or AgentRecord(id=agent_id, name=agent_id)

    def queue_agents_update(self) -> None:
        """Queue ``connected-agents-update`` to the agents room."""
        agents = self.agent_list()
        self.queue(
            Event.CONNECTED_AGENTS_UPDATE, ConnectedAgentsUpdateEvent(agents=agents), AGENTS_ROOM
        )

    async def broadcast_agents(self) -> None:
        """Send ``connected-agents-update`` now (the periodic broadcast of production)."""
        async with self.transaction():
            self.queue_agents_update()

    def assign_orphans(self, limit: int, reason: ReassignReason) -> list[Reassignment]:
        """Give up to ``limit`` unassigned active conversations to available agents."""
        candidates = rules.available(self.store.agents.all())
        if not candidates or limit == 0:
            return []
        orphans = self.store.conversations.all(
            status=ConversationStatus.ACTIVE, unassigned=True, limit=limit
        )
        load = self.store.conversations.active_counts()
        moves = []
        for conversation in orphans:
            agent_id = rules.pick_agent(candidates, load)
            assert agent_id is not None
            self.store.conversations.assign(conversation.id, agent_id)
            load[agent_id] = load.get(agent_id, 0) + 1
            moves.append(Reassignment(conversation_id=conversation.id, to_agent_id=agent_id))
        self.queue_reassigned(moves, reason)
        return moves

    def auto_assign(self, conversation: Conversation) -> str | None:
        """Assign an unassigned conversation to an available agent; return its id.

        The least loaded one, or (production) the first agent user listed as online.
        """
        if self.profile.least_loaded_assignment:
            agent_id = rules.pick_agent(
                rules.available(self.store.agents.all()), self.store.conversations.active_counts()
            )
        else:
            listed = self.agent_list()
            agent_id = listed[0].id if listed else None
        if agent_id is not None:
            self.store.conversations.assign(conversation.id, agent_id)
        return agent_id

    def queue_reassigned(self, moves: list[Reassignment], reason: ReassignReason) -> None:
        """Queue ``tickets-reassigned`` to the agents room, if anything moved."""
        if moves:
            event = TicketsReassignedEvent(reassignments=moves, reason=reason)
            self.queue(Event.TICKETS_REASSIGNED, event, AGENTS_ROOM)

    def _touch(self, agent_id: str) -> None:
        agent = self.agent_record(agent_id)
        agent.last_seen = utcnow()
        self.store.agents.save(agent)

    # -- sockets ----------------------------------------------------------

    def reset_sockets(self) -> None:
        """Forget every socket (the Socket.IO server was replaced)."""
        self._identities.clear()
        self._socket_agent.clear()

    def connect(self, sid: str, identity: Identity) -> None:
        """Remember who socket ``sid`` is."""
        self._identities[sid] = identity

    def describe_socket(self, sid: str) -> str | None:
        """Who socket ``sid`` is, for the console: ``agent <id>``, ``customer <id>`` or ``None``."""
        agent_id = self._socket_agent.get(sid)
        if agent_id is not None:
            return f"agent {agent_id}"
        identity = self._identities.get(sid)
        if identity is not None and identity.kind in ("agent", "customer"):
            return f"{identity.kind} {identity.subject}"
        return None

    def identity_of(self, sid: str) -> Identity:
        """Return who socket ``sid`` is."""
        return self._identities.get(sid, OPEN if self.auth == "none" else Identity("anonymous"))

    async def disconnect(self, sid: str) -> None:
        """Forget socket ``sid``; mark its agent offline if it was the last socket.

        Without :attr:`Profile.disconnect_marks_offline` (production) the agent stays
        online until it is inactive for :attr:`Profile.activity_timeout`; the agents
        room still gets ``connected-agents-update``.
        """
        self._identities.pop(sid, None)
        agent_id = self._socket_agent.pop(sid, None)
        if agent_id is None:
            return
        async with self.transaction():
            if self.profile.disconnect_marks_offline:
                self._detach(sid, agent_id)
            else:
                self.queue_agents_update()

    def _detach(self, sid: str, agent_id: str) -> None:
        agent = self.agent_record(agent_id)
        if sid in agent.sockets:
            agent.sockets.remove(sid)
        agent.last_seen = utcnow()
        if not agent.sockets and agent.personal_status is PersonalStatus.ONLINE:
            agent.personal_status = PersonalStatus.OFFLINE
        self.store.agents.save(agent)
        if not agent.sockets:
            self.queue_agents_update()

    async def join_dashboard(self, sid: str, agent_id: str) -> None:
        """``join-agent-dashboard``: the socket becomes agent ``agent_id``'s dashboard."""
        self.identity_of(sid).require_agent(agent_id)
        assert self.transport is not None
        for room in self.profile.dashboard_rooms:
            await self.transport.enter_room(sid, room)
        if self.profile.user_login:
            await self._join_as_user(sid, agent_id)
            return
        async with self.transaction():
            previous = self._socket_agent.get(sid)
            if previous is not None and previous != agent_id:
                self._detach(sid, previous)
            self._socket_agent[sid] = agent_id
            agent = self.agent_record(agent_id)
            if sid not in agent.sockets:
                agent.sockets.append(sid)
            if agent.personal_status is PersonalStatus.OFFLINE:
                agent.personal_status = PersonalStatus.ONLINE
            agent.last_seen = utcnow()
            self.store.agents.save(agent)
            mode = self.store.settings.system_mode()
            self.queue(Event.SYSTEM_MODE_UPDATE, SystemModeUpdateEvent(mode=mode), sid)
            self.assign_orphans(self.profile.assign_on_join, ReassignReason.AGENT_JOINED)
            self.queue_agents_update()

    async def _join_as_user(self, sid: str, agent_id: str) -> None:
        """Production's join: the user the id names goes online; other ids change nothing."""
        async with self.transaction():
            self._socket_agent[sid] = agent_id
            self.touch_user(agent_id, PersonalStatus.ONLINE)
            mode = self.store.settings.system_mode()
            self.queue(Event.SYSTEM_MODE_UPDATE, SystemModeUpdateEvent(mode=mode), sid)
            self.queue_agents_update()

    async def join_room(self, sid: str, room: str) -> None:
        """``join-room`` (profile ``lizdeika``): join any room by name, as production lets."""
        assert self.transport is not None
        if room.startswith(CONVERSATION_ROOM_PREFIX):
            return  # conversation rooms are joined with join-conversation
        try:
            await self.transport.enter_room(sid, room)
        except ValueError:  # python-socketio refuses another socket's own room
            logger.info("socket %s may not join room %r", sid, room)

    async def agent_typing(self, sid: str, payload: TypingPayload) -> None:
        """``agent-typing``: tell the conversation room, sender excluded."""
        identity = self.identity_of(sid)
        if identity.kind == "customer":
            raise ServiceError(ErrorCode.FORBIDDEN, "customers may not type as an agent")
        if self.profile.check_conversations:
            self.conversation(payload.conversation_id)
        async with self.transaction():
            agent_id = self._socket_agent.get(sid)
            if agent_id is not None:
                self._activity(agent_id)
            event = AgentTypingStatusEvent(is_typing=payload.is_typing, timestamp=utcnow())
            room = conversation_room(payload.conversation_id)
            self.queue(Event.AGENT_TYPING_STATUS, event, room, sid)

    def _activity(self, agent_id: str) -> None:
        if self.profile.user_login:
            self.touch_user(agent_id)
        else:
            self._touch(agent_id)

    async def heartbeat(self, sid: str, payload: HeartbeatPayload | None) -> None:
        """``heartbeat``: note the activity and answer ``heartbeat-ack``.

        Production counts only dashboard heartbeats (or ones without a ``source``) as
        activity, and its ack carries its own clock rather than the client's.
        """
        agent_id = self._socket_agent.get(sid)
        if agent_id is None:
            raise ServiceError(ErrorCode.NOT_JOINED, "send join-agent-dashboard before heartbeat")
        async with self.transaction():
            if payload is None or payload.source != "settings":
                self._activity(agent_id)
            if not self.faults.withhold_heartbeat_acks:
                echo = self.profile.heartbeat_echo and payload is not None
                stamp = payload.timestamp if echo and payload is not None else utcnow()
                ack = HeartbeatAckEvent(timestamp=stamp, agent_id=agent_id)
                self.queue(Event.HEARTBEAT_ACK, ack, sid)

    async def current_state(self, sid: str, state: StateType) -> None:
        """``request-current-state``: answer ``current-state`` to the sender."""
        if state is StateType.CONNECTED_AGENTS:
            if self.profile.socket_auth:
                self.identity_of(sid).require_agent()
            data: list[AgentData] | object = self.agent_list()
        else:
            data = self.store.settings.system_mode()
        event = CurrentStateEvent.model_validate({"type": state, "data": data})
        await self._send(Event.CURRENT_STATE, event, sid, None)

    async def join_conversation(self, sid: str, conversation_id: str) -> None:
        """``join-conversation``: put the socket in the conversation's room."""
        self.identity_of(sid).require_conversation(conversation_id)
        if self.profile.check_conversations:
            self.conversation(conversation_id)
        assert self.transport is not None
        await self.transport.enter_room(sid, conversation_room(conversation_id))

    async def customer_typing(self, sid: str, payload: TypingPayload) -> None:
        """``customer-typing``: tell the agents room."""
        self.identity_of(sid).require_conversation(payload.conversation_id)
        if self.profile.check_conversations:
            self.conversation(payload.conversation_id)
        event = CustomerTypingStatusEvent(
            conversation_id=payload.conversation_id,
            is_typing=payload.is_typing,
            timestamp=utcnow(),
        )
        await self._send(Event.CUSTOMER_TYPING_STATUS, event, AGENTS_ROOM, None)
