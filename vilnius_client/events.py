"""The wire contract: event names and one pydantic model per payload.

This module is the single source of truth for what travels between a Vilnius
server and its clients (the contract, `docs/contract.md` §3-§6). The SDK
parses every server event into these models, and the bundled reference server
(`mock_server`) validates every inbound payload with the very same models.

Why one module of this size: it *is* the contract, read top to bottom in the
contract's order (names, data, client -> server payloads, server -> client
events, REST bodies, production's login), and both sides import it whole. It
holds declarations only; the one piece of logic it needed (timestamp parsing)
lives in `vilnius_client._timestamps`.

Conventions:

* Attributes are snake_case in Python and camelCase on the wire
  (``conversation_id`` <-> ``conversationId``). Models accept either on input
  and `WireModel.to_wire` always produces camelCase.
* Unknown fields sent by a server are kept (``model.model_extra``), so a newer
  production server never breaks an older SDK.
* Timestamps accept ISO-8601 strings and epoch milliseconds and are exposed as
  timezone-aware `datetime` values (UTC when no zone is given).
  They serialise back as JavaScript does: ``2026-11-26T10:00:00.000Z``.
* The server -> client models accept the payloads of both kinds of server: the
  contract's and production's (`docs/production-server.md`). Fields only the
  contract has are optional (``Message.seq``, ``Conversation.status``, ...), production's
  extra fields are typed (``NewMessageEvent.conversation``, ``Message.message_type``,
  ...), and so are production's extra events (``agent-sent-message``, ...).
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ._timestamps import format_timestamp, parse_timestamp, utcnow

__all__ = [
    "CLIENT_EVENT_PAYLOADS",
    "SERVER_EVENT_MODELS",
    "Ack",
    "AckError",
    "AgentData",
    "AgentMessageEvent",
    "AgentRespondRequest",
    "AgentRespondResponse",
    "AgentSentMessageEvent",
    "AgentStatus",
    "AgentTokenRequest",
    "AgentTokenResponse",
    "AgentTypingStatusEvent",
    "AllMessagesResponse",
    "AssignRequest",
    "AssignResponse",
    "BulkAssignRequest",
    "BulkAssignResponse",
    "CategoriesUpdatedEvent",
    "ConnectedAgentsResponse",
    "ConnectedAgentsUpdateEvent",
    "ContractInfo",
    "Conversation",
    "ConversationListResponse",
    "ConversationMessagesResponse",
    "ConversationSeenUpdateEvent",
    "ConversationStatus",
    "ConversationSummary",
    "CreateConversationRequest",
    "CreateConversationResponse",
    "CurrentStateEvent",
    "CustomerTypingStatusEvent",
    "EndConversationRequest",
    "EndConversationResponse",
    "ErrorBody",
    "ErrorCode",
    "ErrorEvent",
    "Event",
    "HealthResponse",
    "HeartbeatAckEvent",
    "HeartbeatPayload",
    "LoginData",
    "LoginRequest",
    "LoginResponse",
    "Message",
    "MessagePreview",
    "NewConversationEvent",
    "NewMessageEvent",
    "PersonalStatus",
    "PersonalStatusRequest",
    "PersonalStatusResponse",
    "PostMessageRequest",
    "PostMessageResponse",
    "ReassignReason",
    "Reassignment",
    "RefreshData",
    "RefreshRequest",
    "RefreshResponse",
    "Sender",
    "ServerEvent",
    "StateType",
    "Suggestion",
    "SystemMode",
    "SystemModeRequest",
    "SystemModeResponse",
    "SystemModeUpdateEvent",
    "TicketsReassignedEvent",
    "TokenPair",
    "TypingPayload",
    "WireModel",
    "format_timestamp",
    "parse_timestamp",
    "utcnow",
]


class Event(enum.StrEnum):
    """Every event name of the contract, client -> server and server -> client."""

    # client -> server (CONTRACT.md §3)
    JOIN_AGENT_DASHBOARD = "join-agent-dashboard"
    AGENT_TYPING = "agent-typing"
    HEARTBEAT = "heartbeat"
    REQUEST_CURRENT_STATE = "request-current-state"
    JOIN_CONVERSATION = "join-conversation"
    CUSTOMER_TYPING = "customer-typing"
    JOIN_ROOM = "join-room"
    """Production only: join any room by name (its settings page joins ``settings``)."""
    # server -> client (CONTRACT.md §4)
    NEW_CONVERSATION = "new-conversation"
    NEW_MESSAGE = "new-message"
    AGENT_MESSAGE = "agent-message"
    CONNECTED_AGENTS_UPDATE = "connected-agents-update"
    SYSTEM_MODE_UPDATE = "system-mode-update"
    TICKETS_REASSIGNED = "tickets-reassigned"
    CUSTOMER_TYPING_STATUS = "customer-typing-status"
    AGENT_TYPING_STATUS = "agent-typing-status"
    HEARTBEAT_ACK = "heartbeat-ack"
    CURRENT_STATE = "current-state"
    ERROR_EVENT = "error-event"
    # server -> client, production only (PRODUCTION.md)
    AGENT_SENT_MESSAGE = "agent-sent-message"
    CONVERSATION_SEEN_UPDATE = "conversation-seen-update"
    CATEGORIES_UPDATED = "categories-updated"


class Sender(enum.StrEnum):
    """Who wrote a message."""

    VISITOR = "visitor"
    AGENT = "agent"
    AI = "ai"
    SYSTEM = "system"


class ConversationStatus(enum.StrEnum):
    """Lifecycle of a conversation."""

    ACTIVE = "active"
    ENDED = "ended"
    ARCHIVED = "archived"


class AgentStatus(enum.StrEnum):
    """Load status of an agent, as the server computes it."""

    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


class PersonalStatus(enum.StrEnum):
    """Status an agent sets for themself."""

    ONLINE = "online"
    AFK = "afk"
    OFFLINE = "offline"


class SystemMode(enum.StrEnum):
    """Operating mode of the whole system."""

    HITL = "hitl"
    AUTOPILOT = "autopilot"
    OFF = "off"


class StateType(enum.StrEnum):
    """What ``request-current-state`` may ask for."""

    CONNECTED_AGENTS = "connected-agents"
    SYSTEM_MODE = "system-mode"


class ReassignReason(enum.StrEnum):
    """Why ``tickets-reassigned`` was sent."""

    AGENT_JOINED = "agent_joined"
    AGENT_AFK = "agent_afk"
    AGENT_ONLINE = "agent_online"
    AGENT_OFFLINE = "agent_offline"
    MANUAL_ASSIGN = "manual_assign"
    BULK_ASSIGN = "bulk_assign"


class ErrorCode(enum.StrEnum):
    """Codes of ``error-event`` and of REST error bodies."""

    INVALID_PAYLOAD = "invalid_payload"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NOT_JOINED = "not_joined"
    RATE_LIMITED = "rate_limited"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INTERNAL = "internal"


# --------------------------------------------------------------------------
# Field types

Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
"""An aware datetime that accepts ISO-8601 strings and epoch milliseconds."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""A conversation, agent or visitor id: a non-empty string of at most 255 chars."""

MessageText = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
"""The text of a message: non-empty, at most 10,000 characters."""

JsonObject = dict[str, Any]

MAX_METADATA_DEPTH: Final = 32
"""Deepest nesting of a client's free-form JSON (``metadata``) a server accepts."""

MAX_METADATA_BYTES: Final = 16 * 1024
"""Largest client free-form JSON (``metadata``), in bytes of compact JSON."""


def _bounded(value: Any) -> Any:
    """Refuse free-form JSON nested deeper or larger than a server can store and serve back."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_METADATA_DEPTH:
                raise ValueError(f"nested deeper than {MAX_METADATA_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"larger than {MAX_METADATA_BYTES} bytes")
    return value


BoundedJsonObject = Annotated[JsonObject, AfterValidator(_bounded)]
"""A client's free-form JSON object, bounded in depth and size (see the limits above)."""


def _is_none(value: Any) -> bool:
    return value is None


def _unset() -> Any:
    """Default of a field one kind of server does not send: ``None``, left out on the wire."""
    return Field(default=None, exclude_if=_is_none)


class WireModel(BaseModel):
    """Base of every payload model: camelCase aliases, extra fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready camelCase dict that goes on the wire."""
        return self.model_dump(mode="json", by_alias=True)


# --------------------------------------------------------------------------
# Data (CONTRACT.md §5)


class Message(WireModel):
    """One stored chat message.

    ``seq`` is ``None`` on a server without the ``seq`` feature (production);
    ``metadata`` may be ``None`` there, and ``sender_id`` / ``message_type`` are
    production's (``None`` on the contract's servers).
    """

    id: str
    conversation_id: str
    content: str
    sender: Sender
    timestamp: Timestamp
    agent_id: str | None = None
    metadata: JsonObject | None = Field(default_factory=dict)
    seq: int | None = _unset()
    sender_id: str | None = _unset()
    message_type: str | None = _unset()


class Suggestion(Message):
    """An AI-suggested reply attached to ``new-message``.

    Like a [`Message`][vilnius_client.Message]; a suggestion that was never stored has no ``seq``.
    """


class MessagePreview(WireModel):
    """Production's ``lastMessage`` of a listed conversation (no ``conversationId``)."""

    id: str
    content: str
    sender: Sender
    timestamp: Timestamp


class Conversation(WireModel):
    """A conversation between a visitor and the agents.

    ``status`` is ``None`` from production, which has no such field;
    ``last_message``, ``message_count`` and ``archived`` are what production's
    ``GET /api/admin/conversations`` adds (``None`` elsewhere).
    """

    id: str
    visitor_id: str
    started_at: Timestamp
    assigned_agent: str | None = None
    status: ConversationStatus | None = _unset()
    metadata: JsonObject | None = Field(default_factory=dict)
    last_message: MessagePreview | None = _unset()
    message_count: int | None = _unset()
    archived: bool | None = _unset()


class ConversationSummary(WireModel):
    """Production's ``conversation`` of ``new-message``: where the conversation stands."""

    id: str
    assigned_agent: str | None = None
    last_message_timestamp: Timestamp | None = None
    unseen_by_agent: bool | None = None


class AgentData(WireModel):
    """An agent as the dashboard lists it."""

    id: str
    name: str
    status: AgentStatus
    personal_status: PersonalStatus
    last_seen: Timestamp | None = None
    active_chats: int | None = _unset()
    """``None`` from production, which does not count them."""
    connected: bool
    user_id: str | None = _unset()
    """Production: the agent's user UUID (the same as ``id`` there)."""


class Reassignment(WireModel):
    """One conversation changing hands."""

    conversation_id: str
    from_agent_id: str | None = None
    to_agent_id: str | None = None


# --------------------------------------------------------------------------
# Client -> server payloads (CONTRACT.md §3)


class TypingPayload(WireModel):
    """Payload of ``agent-typing`` and ``customer-typing``."""

    conversation_id: Identifier
    is_typing: StrictBool


class HeartbeatPayload(WireModel):
    """Payload of ``heartbeat``: the client's clock, epoch ms on the wire.

    ``source`` is production's (``dashboard`` or ``settings``): only dashboard
    heartbeats (or ones without a source) count as the agent's activity there.
    """

    timestamp: Timestamp
    source: str | None = _unset()


class AckError(WireModel):
    """The error part of a negative acknowledgement."""

    code: str
    message: str


class Ack(WireModel):
    """What the server passes to a Socket.IO acknowledgement callback."""

    ok: bool
    error: AckError | None = None


CLIENT_EVENT_PAYLOADS: Final[dict[Event, TypeAdapter[Any]]] = {
    Event.JOIN_AGENT_DASHBOARD: TypeAdapter(Identifier),
    Event.AGENT_TYPING: TypeAdapter(TypingPayload),
    Event.HEARTBEAT: TypeAdapter(HeartbeatPayload),
    Event.REQUEST_CURRENT_STATE: TypeAdapter(StateType),
    Event.JOIN_CONVERSATION: TypeAdapter(Identifier),
    Event.CUSTOMER_TYPING: TypeAdapter(TypingPayload),
    Event.JOIN_ROOM: TypeAdapter(Identifier),
}
"""Validator of each client -> server event's payload."""


# --------------------------------------------------------------------------
# Server -> client events (CONTRACT.md §4)


class ServerEvent(WireModel):
    """Base of every server -> client event model.

    ``replayed`` is set by the SDK on messages it recovered over REST after a
    reconnect rather than received live; it never travels on the wire.
    """

    replayed: bool = Field(default=False, exclude=True)


class NewConversationEvent(ServerEvent):
    """``new-conversation``: a conversation was created."""

    conversation_id: str
    conversation: Conversation
    timestamp: Timestamp


class NewMessageEvent(ServerEvent):
    """``new-message``: a message was stored, in any conversation.

    Production sends it only for visitor messages in ``hitl`` mode, with a
    ``message`` of ``{id, content, sender, timestamp}`` (its ``conversation_id``
    is filled in from the event's), a ``conversation`` summary and no
    ``timestamp`` of its own.
    """

    conversation_id: str
    message: Message
    ai_suggestion: Suggestion | None = None
    timestamp: Timestamp | None = None
    conversation: ConversationSummary | None = _unset()
    type: str | None = _unset()

    @model_validator(mode="before")
    @classmethod
    def _message_conversation(cls, data: Any) -> Any:
        if isinstance(data, dict):
            message = data.get("message")
            conversation_id = data.get("conversationId", data.get("conversation_id"))
            if (
                isinstance(message, dict)
                and "conversationId" not in message
                and "conversation_id" not in message
                and conversation_id is not None
            ):
                data = {**data, "message": {**message, "conversationId": conversation_id}}
        return data


class AgentMessageEvent(ServerEvent):
    """``agent-message``: an agent (or autopilot) replied in the room."""

    message: Message
    timestamp: Timestamp

    @property
    def conversation_id(self) -> str:
        """The conversation the reply belongs to."""
        return self.message.conversation_id


class ConnectedAgentsUpdateEvent(ServerEvent):
    """``connected-agents-update``: the list of agents changed."""

    agents: list[AgentData]


class SystemModeUpdateEvent(ServerEvent):
    """``system-mode-update``: the system mode, on join and on change."""

    mode: SystemMode


class TicketsReassignedEvent(ServerEvent):
    """``tickets-reassigned``: conversations changed hands."""

    reassignments: list[Reassignment]
    reason: ReassignReason


class CustomerTypingStatusEvent(ServerEvent):
    """``customer-typing-status``: a customer started or stopped typing."""

    conversation_id: str
    is_typing: bool
    timestamp: Timestamp


class AgentTypingStatusEvent(ServerEvent):
    """``agent-typing-status``: an agent started or stopped typing in the room."""

    is_typing: bool
    timestamp: Timestamp


class HeartbeatAckEvent(ServerEvent):
    """``heartbeat-ack``: answer to ``heartbeat``.

    The contract's servers echo the client's timestamp; production sends its own
    clock (``new Date()``).
    """

    timestamp: Timestamp
    agent_id: str


class CurrentStateEvent(ServerEvent):
    """``current-state``: answer to ``request-current-state``.

    ``data`` is a list of [`AgentData`][vilnius_client.AgentData] for
    ``connected-agents`` and a [`SystemMode`][vilnius_client.SystemMode] for
    ``system-mode``.
    """

    type: StateType
    data: list[AgentData] | SystemMode


class ErrorEvent(ServerEvent):
    """``error-event``: the server rejected an event this client sent."""

    code: str
    message: str
    event: str | None = None
    details: Any = None


class AgentSentMessageEvent(ServerEvent):
    """``agent-sent-message`` (production): an agent replied; sent to ``agents``."""

    conversation_id: str
    message: Message
    timestamp: Timestamp


class ConversationSeenUpdateEvent(ServerEvent):
    """``conversation-seen-update`` (production): an agent marked a conversation seen."""

    conversation_id: str
    agent_id: str | None = None
    seen_at: Timestamp


class CategoriesUpdatedEvent(ServerEvent):
    """``categories-updated`` (production): the ticket categories changed (room ``settings``)."""

    categories: list[Any]


SERVER_EVENT_MODELS: Final[dict[Event, type[ServerEvent]]] = {
    Event.NEW_CONVERSATION: NewConversationEvent,
    Event.NEW_MESSAGE: NewMessageEvent,
    Event.AGENT_MESSAGE: AgentMessageEvent,
    Event.CONNECTED_AGENTS_UPDATE: ConnectedAgentsUpdateEvent,
    Event.SYSTEM_MODE_UPDATE: SystemModeUpdateEvent,
    Event.TICKETS_REASSIGNED: TicketsReassignedEvent,
    Event.CUSTOMER_TYPING_STATUS: CustomerTypingStatusEvent,
    Event.AGENT_TYPING_STATUS: AgentTypingStatusEvent,
    Event.HEARTBEAT_ACK: HeartbeatAckEvent,
    Event.CURRENT_STATE: CurrentStateEvent,
    Event.ERROR_EVENT: ErrorEvent,
    Event.AGENT_SENT_MESSAGE: AgentSentMessageEvent,
    Event.CONVERSATION_SEEN_UPDATE: ConversationSeenUpdateEvent,
    Event.CATEGORIES_UPDATED: CategoriesUpdatedEvent,
}
"""The model each server -> client event is parsed into."""


# --------------------------------------------------------------------------
# REST bodies (CONTRACT.md §6)


class ErrorBody(WireModel):
    """Body of a REST error answer.

    The contract's servers always send ``code``; production sends ``{error}``,
    ``{error, field}`` or ``{success: false, error, code}`` depending on the endpoint.
    """

    error: str
    code: str | None = None
    details: Any = None


class ContractInfo(WireModel):
    """``contract`` of ``GET /health``: what a contract server offers (CONTRACT.md §0)."""

    name: str
    version: int
    features: list[str]


class HealthResponse(WireModel):
    """``GET /health``; ``contract`` is ``None`` on production."""

    status: str
    contract: ContractInfo | None = _unset()


class CreateConversationRequest(WireModel):
    """``POST /api/conversations``; ``metadata`` is bounded (``MAX_METADATA_*``)."""

    visitor_id: Identifier | None = None
    metadata: BoundedJsonObject = Field(default_factory=dict)


class CreateConversationResponse(WireModel):
    """Answer of ``POST /api/conversations``."""

    conversation_id: str
    conversation: Conversation
    token: str | None = None


class PostMessageRequest(WireModel):
    """``POST /api/messages``: a customer's message.

    ``message_type``, ``file_metadata`` and ``enable_rag`` are production's.
    """

    conversation_id: Identifier
    message: MessageText
    visitor_id: Identifier | None = None
    message_type: str | None = _unset()
    file_metadata: BoundedJsonObject | None = _unset()
    enable_rag: bool | None = _unset()


class PostMessageResponse(WireModel):
    """Answer of ``POST /api/messages``."""

    conversation_id: str
    user_message: Message
    ai_message: Message | None = None
    token: str | None = None


class ConversationMessagesResponse(WireModel):
    """``GET /api/conversations/{id}/messages``."""

    conversation_id: str
    messages: list[Message]


class AllMessagesResponse(WireModel):
    """``GET /api/messages``: messages of every conversation after a seq."""

    messages: list[Message]
    last_seq: int


class ConversationListResponse(WireModel):
    """``GET /api/admin/conversations`` (production adds ``total``)."""

    conversations: list[Conversation]
    total: int | None = _unset()


class AgentRespondRequest(WireModel):
    """``POST /api/agent/respond``; the optional fields are production's."""

    conversation_id: Identifier
    message: MessageText
    agent_id: Identifier
    used_suggestion: Any = _unset()
    suggestion_action: str | None = _unset()
    auto_assign: bool | None = _unset()
    message_type: str | None = _unset()
    file_metadata: BoundedJsonObject | None = _unset()


class AgentRespondResponse(WireModel):
    """Answer of ``POST /api/agent/respond``."""

    success: bool
    message: Message


class PersonalStatusRequest(WireModel):
    """``POST /api/agent/personal-status`` (production takes ``online`` | ``offline``)."""

    agent_id: Identifier
    personal_status: Literal[PersonalStatus.ONLINE, PersonalStatus.AFK]


class PersonalStatusResponse(WireModel):
    """Answer of ``POST /api/agent/personal-status``.

    Production answers the number of reassignments (always 0 at its commit).
    """

    success: bool
    agent: AgentData
    reassignments: list[Reassignment] | int


class SystemModeRequest(WireModel):
    """``POST /api/system/mode``."""

    mode: SystemMode


class SystemModeResponse(WireModel):
    """``GET /api/system/mode`` and the answer of ``POST /api/system/mode``."""

    mode: SystemMode
    success: bool | None = None


class ConnectedAgentsResponse(WireModel):
    """``GET /api/agents/connected``."""

    agents: list[AgentData]
    system_mode: SystemMode


class AssignRequest(WireModel):
    """``POST /api/conversations/{id}/assign``."""

    agent_id: Identifier


class AssignResponse(WireModel):
    """Answer of ``POST /api/conversations/{id}/assign``."""

    success: bool
    conversation: Conversation


class EndConversationRequest(WireModel):
    """``POST /api/conversations/{id}/end``."""

    agent_id: Identifier | None = None


class EndConversationResponse(WireModel):
    """Answer of ``POST /api/conversations/{id}/end``."""

    success: bool


class BulkAssignRequest(WireModel):
    """``POST /api/admin/conversations/bulk-assign``."""

    conversation_ids: Annotated[list[Identifier], Field(min_length=1, max_length=1000)]
    agent_id: Identifier


class BulkAssignResponse(WireModel):
    """Answer of ``POST /api/admin/conversations/bulk-assign``.

    Production answers ``{success, message, data: {assignedCount}}`` instead of
    ``reassigned``.
    """

    success: bool
    reassigned: list[Reassignment] | int | None = None
    """The reassignments made; a server may answer only their count."""
    message: str | None = _unset()
    data: JsonObject | None = _unset()


class AgentTokenRequest(WireModel):
    """``POST /api/auth/agent-token``."""

    agent_id: Identifier
    agent_key: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class AgentTokenResponse(WireModel):
    """Answer of ``POST /api/auth/agent-token``."""

    token: str
    agent_id: str
    expires_at: Timestamp


# --------------------------------------------------------------------------
# Production's email/password login (PRODUCTION.md "REST")


class LoginRequest(WireModel):
    """``POST /api/auth/login``: an agent user's credentials."""

    email: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    password: Annotated[str, StringConstraints(min_length=1)]
    totp_code: Annotated[str, StringConstraints(min_length=6, max_length=6)] | None = None
    backup_code: Annotated[str, StringConstraints(min_length=8, max_length=8)] | None = None


class TokenPair(WireModel):
    """The tokens of a login: a short-lived access token and a refresh token."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    """Lifetime of the access token, in seconds (900 in production)."""


class LoginData(WireModel):
    """``data`` of a successful login (``data.user.id`` is the agent id)."""

    user: JsonObject
    tokens: TokenPair


class LoginResponse(WireModel):
    """Answer of ``POST /api/auth/login``.

    ``data`` holds the user and tokens; a user with TOTP who sent no code gets
    ``requires_totp`` and no tokens.
    """

    success: bool
    message: str | None = _unset()
    data: JsonObject | None = _unset()
    requires_totp: bool | None = None

    def login_data(self) -> LoginData | None:
        """The user and tokens of a completed login, or ``None`` (TOTP required)."""
        if self.data is None or "tokens" not in self.data:
            return None
        return LoginData.model_validate(self.data)


class RefreshRequest(WireModel):
    """``POST /api/auth/refresh``."""

    refresh_token: Annotated[str, StringConstraints(min_length=1)]


class RefreshData(TokenPair):
    """``data`` of a successful refresh: a new access token and the refresh token to use
    from now on (production rotates it now and then; use the one answered)."""


class RefreshResponse(WireModel):
    """Answer of ``POST /api/auth/refresh``."""

    success: bool
    message: str | None = None
    data: RefreshData
