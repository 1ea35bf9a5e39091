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
    "AISuggestion",
    "Ack",
    "AckError",
    "ActiveArchived",
    "AgentActivity",
    "AgentCounts",
    "AgentData",
    "AgentIdRequest",
    "AgentListResponse",
    "AgentMessageCount",
    "AgentMessageEvent",
    "AgentRespondRequest",
    "AgentRespondResponse",
    "AgentSentMessageEvent",
    "AgentStatistics",
    "AgentStatisticsResponse",
    "AgentStatus",
    "AgentStatusResponse",
    "AgentTokenRequest",
    "AgentTokenResponse",
    "AgentTypingStatusEvent",
    "AllMessagesResponse",
    "AssignRequest",
    "AssignResponse",
    "BulkArchiveResponse",
    "BulkAssignRequest",
    "BulkAssignResponse",
    "BulkCategoryOptions",
    "BulkCategoryRequest",
    "BulkCategoryResponse",
    "BulkCategoryUpdates",
    "BulkConversationsRequest",
    "BulkCount",
    "BulkFailure",
    "BulkSummary",
    "CategoriesUpdatedEvent",
    "CategorizationResult",
    "CategorizationStats",
    "CategorizationStatsResponse",
    "CategorizeResponse",
    "Category",
    "CategoryAssignment",
    "CategoryCount",
    "CategoryListResponse",
    "CategoryOverrideRequest",
    "CategoryOverrideResponse",
    "CategoryRequest",
    "ChatSuggestionRequest",
    "ChatSuggestionResponse",
    "ConnectedAgentsResponse",
    "ConnectedAgentsUpdateEvent",
    "ContractInfo",
    "Conversation",
    "ConversationCounts",
    "ConversationListResponse",
    "ConversationMessagesResponse",
    "ConversationSeenUpdateEvent",
    "ConversationStatistics",
    "ConversationStatisticsResponse",
    "ConversationStatus",
    "ConversationSummary",
    "CreateConversationRequest",
    "CreateConversationResponse",
    "CurrentStateEvent",
    "CustomerTypingStatusEvent",
    "DashboardStatistics",
    "DashboardStatisticsResponse",
    "DateCount",
    "DayCount",
    "EndConversationRequest",
    "EndConversationResponse",
    "ErrorBody",
    "ErrorCode",
    "ErrorEvent",
    "Event",
    "FileMetadata",
    "GeneratedSuggestionResponse",
    "Granularity",
    "HealthResponse",
    "HeartbeatAckEvent",
    "HeartbeatPayload",
    "HourCount",
    "LoginData",
    "LoginRequest",
    "LoginResponse",
    "LogoutRequest",
    "LogoutResponse",
    "MarkSeenResponse",
    "Message",
    "MessageCounts",
    "MessagePreview",
    "MessageType",
    "NewConversationEvent",
    "NewMessageEvent",
    "Pagination",
    "PeakHours",
    "PendingSuggestionResponse",
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
    "SnakeWireModel",
    "StateType",
    "StatisticsMeta",
    "Suggestion",
    "SuggestionAction",
    "SuggestionStatisticsResponse",
    "SuggestionUsage",
    "SystemMode",
    "SystemModeRequest",
    "SystemModeResponse",
    "SystemModeUpdateEvent",
    "Template",
    "TemplateListResponse",
    "TicketCategoryAssignedEvent",
    "TicketCategoryRemovedEvent",
    "TicketCategoryState",
    "TicketsReassignedEvent",
    "TokenPair",
    "TrendStatistics",
    "TrendStatisticsResponse",
    "TypingPayload",
    "UnassignResponse",
    "UploadResponse",
    "UserSummary",
    "WidgetConfig",
    "WidgetConfigResponse",
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
    TICKET_CATEGORY_ASSIGNED = "ticket:category_assigned"
    TICKET_CATEGORY_REMOVED = "ticket:category_removed"


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

Seq = Annotated[int, Field(strict=True, ge=0)]
"""A message's place in the server-wide order: a whole number, never a string, a boolean
or negative (a payload with one is invalid, not a duplicate to drop)."""

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
    seq: Seq | None = _unset()
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


class TicketCategoryAssignedEvent(ServerEvent):
    """``ticket:category_assigned`` (production): a conversation got a category (``agents``)."""

    model_config = ConfigDict(alias_generator=None)

    ticket_id: str
    category_id: str
    category_name: str | None = None


class TicketCategoryRemovedEvent(ServerEvent):
    """``ticket:category_removed`` (production): a conversation lost its category (``agents``)."""

    model_config = ConfigDict(alias_generator=None)

    ticket_id: str
    old_category_id: str | None = None


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
    Event.TICKET_CATEGORY_ASSIGNED: TicketCategoryAssignedEvent,
    Event.TICKET_CATEGORY_REMOVED: TicketCategoryRemovedEvent,
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
    enable_rag: bool | None = Field(default=None, alias="enableRAG", exclude_if=_is_none)
    """Production's ``enableRAG`` (spelled so on the wire)."""


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
    last_seq: Seq


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


# --------------------------------------------------------------------------
# Production's agent endpoints (docs/guides/production.md "Everything an agent can do"):
# suggestions, conversation actions, categories, templates, files, statistics.
#
# Several of production's bodies and events use snake_case keys (``category_id``,
# ``ticket_ids``); their models derive from `SnakeWireModel`, whose attributes are the wire
# names. Every answer keeps the fields production adds, as everywhere in this module.


class SnakeWireModel(WireModel):
    """Base of the payloads production writes in snake_case: attribute names are wire names."""

    model_config = ConfigDict(alias_generator=None)


class SuggestionAction(enum.StrEnum):
    """How an agent's reply used the AI suggestion (``suggestionAction`` of a reply).

    Production's statistics count ``as-is`` as ``sent_as_is``, ``edited`` as ``edited``,
    ``from-scratch`` as ``from_scratch``; any other value as none of them.
    """

    AS_IS = "as-is"
    EDITED = "edited"
    FROM_SCRATCH = "from-scratch"


class MessageType(enum.StrEnum):
    """Production's message types (``messageType``); it refuses a reply of any other type."""

    TEXT = "text"
    FILE = "file"
    SYSTEM_ACTION = "system_action"
    AI_RESPONSE = "ai_response"


class Granularity(enum.StrEnum):
    """Buckets of ``GET /api/statistics/trends``."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class FileMetadata(WireModel):
    """An uploaded file, as ``POST /api/upload`` answers it and a message carries it.

    Pass it as ``file_metadata`` of a reply: production checks that ``url`` starts with
    ``/api/uploads/`` and that ``mimetype`` is one it accepts.
    """

    filename: str
    stored_filename: str
    mimetype: str
    size: int
    url: str


class UploadResponse(WireModel):
    """Answer of ``POST /api/upload``."""

    success: bool
    file: FileMetadata


class AISuggestion(WireModel):
    """What production's AI service answers: the text and how it was made."""

    response: str
    metadata: JsonObject | None = None
    debug_info: Any = _unset()


def _suggestion_text(suggestion: str | AISuggestion) -> str:
    return suggestion if isinstance(suggestion, str) else suggestion.response


class PendingSuggestionResponse(WireModel):
    """``GET /api/conversations/{id}/pending-suggestion``: the newest AI suggestion.

    ``suggestion`` is the AI service's object for the suggestion made when the customer
    wrote, or the bare text of one an agent generated; ``text`` is the text either way.
    """

    suggestion: str | AISuggestion
    confidence: float
    message_id: str
    timestamp: Timestamp
    metadata: JsonObject | None = None

    @property
    def text(self) -> str:
        """The suggested reply."""
        return _suggestion_text(self.suggestion)


class GeneratedSuggestionResponse(WireModel):
    """Answer of ``POST /api/conversations/{id}/generate-suggestion``."""

    suggestion: str
    confidence: float
    message_id: str
    timestamp: Timestamp
    metadata: JsonObject | None = None

    @property
    def text(self) -> str:
        """The suggested reply."""
        return self.suggestion


class ChatSuggestionRequest(WireModel):
    """``POST /api/chat/suggestion`` (admins only): a suggestion for a given context."""

    conversation_id: Identifier
    context: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    enable_rag: bool = Field(default=False, alias="enableRAG")


class ChatSuggestionResponse(WireModel):
    """Answer of ``POST /api/chat/suggestion``: the AI service's answer and its provider."""

    success: bool
    suggestion: AISuggestion | str
    metadata: JsonObject | None = None

    @property
    def text(self) -> str:
        """The suggested reply."""
        return _suggestion_text(self.suggestion)


class AgentIdRequest(WireModel):
    """A body naming the acting agent: ``unassign`` and ``mark-seen``."""

    agent_id: Identifier | None = None


class UnassignResponse(WireModel):
    """Answer of ``POST /api/conversations/{id}/unassign``."""

    success: bool
    conversation: Conversation


class MarkSeenResponse(WireModel):
    """Answer of ``POST /api/conversations/{id}/mark-seen``."""

    success: bool
    message: str | None = None


class CategoryRequest(SnakeWireModel):
    """``PATCH /api/conversations/{id}/category``: ``category_id``, or ``None`` to remove it."""

    category_id: Identifier | None


class CategoryAssignment(SnakeWireModel):
    """Answer of ``PATCH /api/conversations/{id}/category``: the conversation's category now."""

    id: str
    category_id: str | None = None
    category_name: str | None = None
    category_color: str | None = None


class CategoryOverrideRequest(SnakeWireModel):
    """``PUT /api/conversations/{id}/category-override``."""

    manual_override: StrictBool


class TicketCategoryState(SnakeWireModel):
    """A conversation's category and who controls it (production's ticket fields)."""

    id: str
    manual_category_override: bool
    category_id: str | None = None
    category_metadata: JsonObject | None = None


class CategoryOverrideResponse(WireModel):
    """Answer of ``PUT /api/conversations/{id}/category-override``."""

    success: bool
    message: str | None = None
    data: TicketCategoryState


class CategorizationResult(WireModel):
    """``data`` of a successful categorisation."""

    category_id: str
    category_name: str | None = None
    confidence: float | None = None
    reasoning: str | None = None


class CategorizeResponse(WireModel):
    """Answer of ``POST /api/conversations/{id}/categorize``."""

    success: bool
    message: str | None = None
    data: CategorizationResult | None = None


class CategorizationStats(WireModel):
    """``data`` of ``GET /api/categorization/stats`` (conversations not archived)."""

    total: int
    categorized: int
    uncategorized: int
    ai_categorized: int
    manual_categorized: int
    manually_overridden: int
    avg_confidence: float
    low_confidence_attempts: int


class CategorizationStatsResponse(WireModel):
    """Answer of ``GET /api/categorization/stats``."""

    success: bool
    data: CategorizationStats


class BulkConversationsRequest(WireModel):
    """``POST /api/admin/conversations/bulk-archive`` and ``bulk-unarchive``."""

    conversation_ids: Annotated[list[Identifier], Field(min_length=1, max_length=1000)]


class BulkCount(WireModel):
    """``data`` of a bulk archive (``archived_count``) or unarchive (``unarchived_count``)."""

    archived_count: int | None = _unset()
    unarchived_count: int | None = _unset()


class BulkArchiveResponse(WireModel):
    """Answer of ``bulk-archive`` and ``bulk-unarchive``."""

    success: bool
    message: str | None = None
    data: BulkCount

    @property
    def count(self) -> int:
        """How many conversations changed (those already in the state asked are not)."""
        return self.data.archived_count or self.data.unarchived_count or 0


class BulkCategoryUpdates(SnakeWireModel):
    """``updates`` of a bulk category change: the category, or ``None`` to remove it."""

    category_id: Identifier | None


class BulkCategoryOptions(SnakeWireModel):
    """``options`` of a bulk category change."""

    skip_archived: bool = True
    """Refuse an archived category (403) instead of assigning it."""
    continue_on_error: bool = False


class BulkCategoryRequest(SnakeWireModel):
    """``PATCH /api/admin/conversations/bulk-category``."""

    ticket_ids: Annotated[list[Identifier], Field(min_length=1, max_length=1000)]
    updates: BulkCategoryUpdates
    options: BulkCategoryOptions = Field(default_factory=BulkCategoryOptions)


class BulkFailure(SnakeWireModel):
    """A conversation a bulk category change could not change."""

    ticket_id: str
    error: str


class BulkSummary(SnakeWireModel):
    """Counts of a bulk category change."""

    total: int
    succeeded: int
    failed: int


class BulkCategoryResponse(SnakeWireModel):
    """Answer of ``PATCH /api/admin/conversations/bulk-category``.

    ``success`` lists the conversations changed (production's name for it).
    """

    success: list[str]
    failed: list[BulkFailure]
    summary: BulkSummary


class UserSummary(SnakeWireModel):
    """A user as production embeds it (the creator of a category or template)."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class Category(SnakeWireModel):
    """A ticket category (``GET /api/categories``)."""

    id: str
    name: str
    description: str | None = None
    color: str
    created_by: str | None = None
    creator: UserSummary | None = None
    creator_name: str | None = None
    is_archived: bool = False
    ticket_count: int | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    can_edit: bool | None = None
    can_delete: bool | None = None


class Pagination(SnakeWireModel):
    """A page of a listing."""

    page: int
    limit: int
    total: int
    has_more: bool


class CategoryListResponse(WireModel):
    """Answer of ``GET /api/categories``."""

    success: bool
    categories: list[Category]
    pagination: Pagination | None = None


class Template(SnakeWireModel):
    """A response template: a canned answer an agent may send (``GET /api/templates``)."""

    id: str
    title: str
    content: str
    created_by: str | None = None
    updated_by: str | None = None
    is_active: bool = True
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    creator: UserSummary | None = None


class TemplateListResponse(WireModel):
    """Answer of ``GET /api/templates``: the active templates, by title."""

    success: bool
    templates: list[Template]


class StatisticsMeta(WireModel):
    """``meta`` of every statistics answer: the range counted (whole UTC days)."""

    start_date: Timestamp
    end_date: Timestamp
    generated_at: Timestamp
    granularity: str | None = _unset()
    note: str | None = _unset()


class SuggestionUsage(WireModel):
    """How agents' replies used AI suggestions (``hitl`` replies that had one).

    ``agent_id`` and ``average_edit_ratio`` are set for one agent's breakdown.
    """

    total_suggestions: int
    sent_as_is: int
    sent_as_is_percentage: float
    edited: int
    edited_percentage: float
    from_scratch: int
    from_scratch_percentage: float
    agent_id: str | None = _unset()
    average_edit_ratio: float | None = _unset()


class AgentMessageCount(WireModel):
    """An agent's replies in the range, and their share of all replies."""

    agent_id: str
    name: str
    email: str | None = None
    message_count: int
    percentage: float
    suggestion_usage: float | None = _unset()
    """Percentage of the agent's replies that had a suggestion (the agents listing)."""


class AgentActivity(WireModel):
    """One agent's replies in the range, by how they used suggestions."""

    agent_id: str
    name: str
    email: str | None = None
    total_messages: int
    ai_suggestion_used: int
    sent_as_is: int
    edited: int
    from_scratch: int
    suggestion_usage_percentage: float


class ConversationCounts(WireModel):
    """Conversations started in the range."""

    total: int
    active: int
    archived: int


class MessageCounts(WireModel):
    """Messages stored in the range."""

    total: int
    average_per_conversation: float


class AgentCounts(WireModel):
    """Agents who replied in the range."""

    active_agents: int
    top_agent: AgentMessageCount | None = None


class DashboardStatistics(WireModel):
    """``data`` of ``GET /api/statistics/dashboard``."""

    conversations: ConversationCounts
    messages: MessageCounts
    agents: AgentCounts
    ai_suggestions: SuggestionUsage


class DashboardStatisticsResponse(WireModel):
    """Answer of ``GET /api/statistics/dashboard``."""

    success: bool
    data: DashboardStatistics
    meta: StatisticsMeta


class CategoryCount(WireModel):
    """Conversations of one category (``Uncategorized`` for none)."""

    category: JsonObject | None = None
    count: int


class ActiveArchived(WireModel):
    """Conversations started in the range, active and archived."""

    active: int
    archived: int


class ConversationStatistics(WireModel):
    """``data`` of ``GET /api/statistics/conversations``."""

    total: int
    by_category: list[CategoryCount]
    status: ActiveArchived


class ConversationStatisticsResponse(WireModel):
    """Answer of ``GET /api/statistics/conversations``."""

    success: bool
    data: ConversationStatistics
    meta: StatisticsMeta


class AgentStatistics(WireModel):
    """``data`` of ``GET /api/statistics/agents``.

    Every agent's counts (``agents``), or, for one ``agentId``, its activity (``agent``:
    ``None`` when it sent nothing in the range) and suggestion breakdown.
    """

    agents: list[AgentMessageCount] | None = _unset()
    agent: AgentActivity | None = None
    suggestions: SuggestionUsage | None = _unset()


class AgentStatisticsResponse(WireModel):
    """Answer of ``GET /api/statistics/agents``."""

    success: bool
    data: AgentStatistics
    meta: StatisticsMeta


class SuggestionStatisticsResponse(WireModel):
    """Answer of ``GET /api/statistics/ai-suggestions`` (``hitl`` replies only)."""

    success: bool
    data: SuggestionUsage
    meta: StatisticsMeta


class DateCount(WireModel):
    """Conversations started in one bucket (``YYYY-MM-DD``, or ``YYYY-MM`` by month)."""

    date: str
    count: int


class HourCount(WireModel):
    """Messages in one hour of the day (UTC)."""

    hour: int
    count: int


class DayCount(WireModel):
    """Messages on one day of the week (UTC)."""

    day: str
    count: int


class PeakHours(WireModel):
    """When agents and customers write."""

    by_hour: list[HourCount]
    by_day: list[DayCount]


class TrendStatistics(WireModel):
    """``data`` of ``GET /api/statistics/trends``."""

    conversation_trends: list[DateCount]
    peak_hours: PeakHours


class TrendStatisticsResponse(WireModel):
    """Answer of ``GET /api/statistics/trends``."""

    success: bool
    data: TrendStatistics
    meta: StatisticsMeta


class WidgetConfig(WireModel):
    """``data`` of ``GET /api/widget/config``."""

    name: str
    primary_color: str
    allowed_domains: list[str]
    server_url: str


class WidgetConfigResponse(WireModel):
    """Answer of ``GET /api/widget/config``."""

    success: bool
    data: WidgetConfig


class LogoutRequest(WireModel):
    """``POST /api/auth/logout``: the refresh token to revoke."""

    refresh_token: Annotated[str, StringConstraints(min_length=1)]


class LogoutResponse(WireModel):
    """Answer of ``POST /api/auth/logout`` (production answers success whatever happened)."""

    success: bool
    message: str | None = None


class AgentStatusResponse(WireModel):
    """``GET /api/agent/status``: production's legacy mode guess and recently active agents.

    ``status`` is always ``hitl`` at production's commit; ``agent_count`` counts the agent
    users active within the last minute.
    """

    success: bool
    status: str
    agent_count: int


class AgentListResponse(WireModel):
    """``GET /api/agents`` and ``GET /api/agents/all``."""

    agents: list[AgentData]
