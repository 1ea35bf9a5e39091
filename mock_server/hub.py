"""The server's core: state changes and the events they cause, free of any transport.

``Hub`` owns the ``Store``, a ``Transport`` (emit to a room, put a socket in a room)
and who each socket is. Every change runs in ``Hub.transaction``: writes are committed
first (the store batches the commits of concurrent changes), then the events queued
during the change are emitted, in the order the changes ran, so that events follow
``seq`` order. What each socket event and REST request does is in
``mock_server.operations``, over the hub; the socket handlers (``mock_server.handlers``)
and the REST layer (``mock_server.rest``) are thin layers over those. The hub keeps what
they share: the agents' view and the assignment of conversations.
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
    ConnectedAgentsUpdateEvent,
    Conversation,
    ConversationStatus,
    ErrorCode,
    Event,
    PersonalStatus,
    Reassignment,
    ReassignReason,
    TicketsReassignedEvent,
    WireModel,
    utcnow,
)

from . import rules
from .auth import ANONYMOUS, OPEN, Identity, TokenSigner
from .console.feed import Feed
from .errors import ServiceError
from .faults import Faults
from .production_settings import ProductionSettings
from .profile import VILNIUS, Profile
from .rooms import AGENTS_ROOM
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

        Conversation rooms are always named by ``rooms.conversation_room``.
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
        profile: Which server to play (``mock_server.profile``).
        jwt: Issues the JWTs of agent users (profile ``lizdeika``).
        production: What stands in for production's admin data and AI provider (profile
            ``lizdeika``; the defaults when ``None``).
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
        production: ProductionSettings | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.auth = auth if profile.socket_auth or profile.agent_tokens else "none"
        self.agent_key = agent_key
        self.faults = faults
        self.profile = profile
        self.jwt = jwt
        self.production = production or ProductionSettings()
        self.transport: Transport | None = None
        self.feed = Feed()
        """What the browser console shows (``mock_server.console``); idle unless one is open."""
        self._identities: dict[str, Identity] = {}
        self._socket_agent: dict[str, str] = {}
        self._outbox: list[_Queued] = []
        self._emitting = asyncio.Lock()

    # -- plumbing ---------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run a change alone; once it is committed, send the events it queued.

        The store commits transactions in the order their blocks ran, and their
        events leave in that order too (``_emitting``), so events follow ``seq``.
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
                await self.send(event, data, room, skip_sid)

    def queue(self, event: Event, data: WireModel, room: str, skip_sid: str | None = None) -> None:
        """Send an event once the running transaction has committed."""
        self._outbox.append((event, data, room, skip_sid))

    async def send(
        self, event: Event, data: WireModel, room: str, skip_sid: str | None = None
    ) -> None:
        """Send an event now (a failure is logged, never raised)."""
        if self.transport is None:
            return
        try:
            await self.transport.emit(event, data, room, skip_sid)
        except Exception:  # a socket that went away must not fail the change
            logger.exception("emit of %s to %s failed", event, room)

    def identify(self, token: object) -> Identity:
        """Return the identity a token proves (``OPEN`` in auth mode ``none``)."""
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
        """Return the agents the dashboard lists (``rules.listed``).

        With ``Profile.activity_timeout`` (production), the agent users whose status
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

    def touch_user(self, agent_id: str, status: PersonalStatus | None = None) -> User | None:
        """Record activity of the agent user ``agent_id`` names (and set its status).

        Returns that user, or ``None`` (production records nothing for other ids).
        """
        user = self.find_user(agent_id)
        if user is None:
            return None
        agent = self.agent_record(user.id)
        agent.name = user.name
        agent.last_seen = utcnow()
        if status is not None:
            agent.personal_status = status
        self.store.agents.save(agent)
        return user

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
        return self._identities.get(sid, OPEN if self.auth == "none" else ANONYMOUS)

    def agent_of(self, sid: str) -> str | None:
        """The agent whose dashboard socket ``sid`` is, or ``None``."""
        return self._socket_agent.get(sid)

    def set_agent(self, sid: str, agent_id: str) -> None:
        """Socket ``sid`` is now agent ``agent_id``'s dashboard."""
        self._socket_agent[sid] = agent_id

    def forget(self, sid: str) -> str | None:
        """Forget socket ``sid``; return the agent whose dashboard it was, if any."""
        self._identities.pop(sid, None)
        return self._socket_agent.pop(sid, None)
