"""Which server the reference server plays: our contract (``vilnius``) or production (``lizdeika``).

Everything that differs between the two lives here, in one frozen ``Profile``: the
hub, the socket handlers, the operations and the REST layer ask it *what* to do (capability
flags: "are events acknowledged?", "does a disconnect mark the agent offline?") and *how*
to write it on the wire (its encoder, ``mock_server.encoders``), never which profile it
is. The state, the store, the models ([vilnius_client.events][vilnius_client.events]) and
the operations are the same for both.

``vilnius`` is ``shared/CONTRACT.md``. ``lizdeika`` is production as ``shared/PRODUCTION.md``
and the production backend at commit 0dec8e5 describe it (see ``docs/guides/server.md`` for
the list of reproduced behaviours and the few deliberately left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .encoders import ContractEncoder, ProductionEncoder
from .ratelimit import RateLimit

__all__ = [
    "LIZDEIKA",
    "PROFILES",
    "VILNIUS",
    "Profile",
    "ProfileName",
]

ProfileName = Literal["vilnius", "lizdeika"]

CONTRACT_FEATURES = (
    "acks",
    "seq",
    "catch-up",
    "idempotency",
    "agent-token",
    "customer-token",
    "error-event",
)
"""What the ``vilnius`` profile offers (CONTRACT.md §0)."""


@dataclass(frozen=True)
class Profile:
    """The behaviour of one kind of server (see the module docstring).

    Attributes:
        name: ``vilnius`` or ``lizdeika``.
        contract_features: What ``GET /health`` announces; empty: no ``contract`` object
            (production's health answer).
        acks: Socket.IO acknowledgements are answered (else never: a client that asks
            waits for ever).
        error_events: Bad socket input is answered with ``error-event`` (else nothing).
        socket_auth: Sockets are authenticated (in auth mode ``token``); else any socket
            may join anything.
        agent_tokens: ``POST /api/auth/agent-token`` and customer tokens (CONTRACT.md §8).
        user_login: Agents are users: ``POST /api/auth/login`` / ``refresh``, JWT-only
            endpoints, agent ids are user UUIDs.
        idempotency: ``Idempotency-Key`` is honoured.
        dashboard_rooms: Rooms ``join-agent-dashboard`` puts a socket in.
        join_room: The ``join-room`` event (join any non-conversation room by name).
        heartbeat_echo: ``heartbeat-ack`` echoes the client's timestamp (else the
            server's clock).
        disconnect_marks_offline: An agent's last socket closing marks it offline (else
            only inactivity does, after ``activity_timeout``).
        activity_timeout: Seconds without activity after which an agent is no longer
            listed (``None``: listed while it has a socket, or ever seen).
        agents_broadcast_every: Seconds between periodic ``connected-agents-update``
            broadcasts (``None``: only on changes).
        check_conversations: Socket events naming a conversation need it to exist (and
            the caller's right to it); else they act on whatever room the id names.
        lenient_heartbeat: ``heartbeat`` takes any payload (or none) and reads
            ``source`` if there is one.
        least_loaded_assignment: New conversations go to the available agent with the
            fewest active chats (else to the first available agent, as production).
        assign_on_join: Unassigned conversations given out when an agent joins.
        mode_update_on_change_only: ``system-mode-update`` only when the mode changes.
        new_message_for_every_message: ``new-message`` for every stored message (else only
            for visitor messages in ``hitl``).
        agent_sent_message: ``agent-sent-message`` to ``agents`` on every agent reply.
        pending_suggestions: In ``hitl`` a customer message gets a stored system message
            carrying an AI suggestion (superseded by the next message or reply).
        announce_autopilot: Autopilot replies are sent as ``agent-message`` (else they
            are only in the ``POST /api/messages`` answer).
        offline_notice_replaces: In ``off`` the first customer message is overwritten by
            the offline notice (production's behaviour) instead of a new system message.
        personal_statuses: Values ``POST /api/agent/personal-status`` accepts.
        max_message: Longest message text; ``trim_messages``: text is trimmed, both by
            JavaScript's rules (``mock_server.jstext``: UTF-16 units, ``trim()``).
        default_message_type: ``messageType`` of messages that name none (production:
            ``text``).
        null_metadata: Customer messages are stored with ``null`` metadata (production).
        message_rate_limit: Default limit of ``POST /api/messages`` per client IP.
        encoder: How data is written on the wire.
    """

    name: ProfileName
    contract_features: tuple[str, ...]
    acks: bool
    error_events: bool
    socket_auth: bool
    agent_tokens: bool
    user_login: bool
    idempotency: bool
    dashboard_rooms: tuple[str, ...]
    join_room: bool
    heartbeat_echo: bool
    disconnect_marks_offline: bool
    activity_timeout: float | None
    agents_broadcast_every: float | None
    check_conversations: bool
    lenient_heartbeat: bool
    least_loaded_assignment: bool
    assign_on_join: int
    mode_update_on_change_only: bool
    new_message_for_every_message: bool
    agent_sent_message: bool
    pending_suggestions: bool
    announce_autopilot: bool
    offline_notice_replaces: bool
    personal_statuses: tuple[str, ...]
    max_message: int
    trim_messages: bool
    default_message_type: str | None
    null_metadata: bool
    message_rate_limit: RateLimit | None
    encoder: ContractEncoder | ProductionEncoder = field(compare=False)


VILNIUS = Profile(
    name="vilnius",
    contract_features=CONTRACT_FEATURES,
    acks=True,
    error_events=True,
    socket_auth=True,
    agent_tokens=True,
    user_login=False,
    idempotency=True,
    dashboard_rooms=("agents",),
    join_room=False,
    heartbeat_echo=True,
    disconnect_marks_offline=True,
    activity_timeout=None,
    agents_broadcast_every=None,
    check_conversations=True,
    lenient_heartbeat=False,
    least_loaded_assignment=True,
    assign_on_join=2,
    mode_update_on_change_only=True,
    new_message_for_every_message=True,
    agent_sent_message=False,
    pending_suggestions=False,
    announce_autopilot=True,
    offline_notice_replaces=False,
    personal_statuses=("online", "afk"),
    max_message=10_000,
    trim_messages=False,
    default_message_type=None,
    null_metadata=False,
    message_rate_limit=None,
    encoder=ContractEncoder(),
)
"""CONTRACT.md: the default."""

LIZDEIKA = Profile(
    name="lizdeika",
    contract_features=(),
    acks=False,
    error_events=False,
    socket_auth=False,
    agent_tokens=False,
    user_login=True,
    idempotency=False,
    dashboard_rooms=("agents", "settings"),
    join_room=True,
    heartbeat_echo=False,
    disconnect_marks_offline=False,
    activity_timeout=5 * 60.0,
    agents_broadcast_every=30.0,
    check_conversations=False,
    lenient_heartbeat=True,
    least_loaded_assignment=False,
    assign_on_join=0,
    mode_update_on_change_only=False,
    new_message_for_every_message=False,
    agent_sent_message=True,
    pending_suggestions=True,
    announce_autopilot=False,
    offline_notice_replaces=True,
    personal_statuses=("online", "offline"),
    max_message=5_000,
    trim_messages=True,
    default_message_type="text",
    null_metadata=True,
    message_rate_limit=RateLimit(10, 60.0),
    encoder=ProductionEncoder(),
)
"""Production (Lizdeika at commit 0dec8e5)."""

PROFILES: dict[str, Profile] = {VILNIUS.name: VILNIUS, LIZDEIKA.name: LIZDEIKA}
"""Every profile by name."""
