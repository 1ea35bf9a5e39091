"""vilnius_client: a typed async Python SDK for the Vilnius Assistant support chat.

The public API is what this module exports: the clients, their options and states, the
events most handlers use, and the exception tree. Every payload model is in
`vilnius_client.events` (``from vilnius_client.events import TicketsReassignedEvent``).
"""

import logging as _logging

from ._auth import Credentials, TotpSource
from ._capabilities import ServerCapabilities, ServerKind
from ._client import ConnectionOptions
from ._dispatch import EventStream
from ._http import TokenSource
from ._state import ConnectionChange, ConnectionState, ConnectionStatus
from .agent import AgentClient
from .customer import CustomerClient
from .errors import (
    AuthError,
    ConflictError,
    ConnectionLostError,
    DroppedEventError,
    ForbiddenError,
    FrameTooLargeError,
    InternalServerError,
    InvalidEventError,
    InvalidPayloadError,
    NotConnectedError,
    NotFoundError,
    NotJoinedError,
    ProtocolError,
    QueueOverflowError,
    RateLimitedError,
    ReplyTimeoutError,
    SeqJumpError,
    ServerError,
    StateError,
    TransportError,
    VilniusError,
)
from .events import (
    AgentData,
    AgentMessageEvent,
    Conversation,
    Event,
    Message,
    NewMessageEvent,
    PersonalStatus,
    Sender,
    ServerEvent,
    SystemMode,
)
from .manager import ModernWebSocketManager
from .rest import RestClient

__version__ = "0.2.0"  # the one place: pyproject.toml reads it from here (hatch)

# Silent unless the application configures logging (a library must not print); what a
# user must hear of reaches the error listeners and run_forever() instead.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "AgentClient",
    "AgentData",
    "AgentMessageEvent",
    "AuthError",
    "ConflictError",
    "ConnectionChange",
    "ConnectionLostError",
    "ConnectionOptions",
    "ConnectionState",
    "ConnectionStatus",
    "Conversation",
    "Credentials",
    "CustomerClient",
    "DroppedEventError",
    "Event",
    "EventStream",
    "ForbiddenError",
    "FrameTooLargeError",
    "InternalServerError",
    "InvalidEventError",
    "InvalidPayloadError",
    "Message",
    "ModernWebSocketManager",
    "NewMessageEvent",
    "NotConnectedError",
    "NotFoundError",
    "NotJoinedError",
    "PersonalStatus",
    "ProtocolError",
    "QueueOverflowError",
    "RateLimitedError",
    "ReplyTimeoutError",
    "RestClient",
    "Sender",
    "SeqJumpError",
    "ServerCapabilities",
    "ServerError",
    "ServerEvent",
    "ServerKind",
    "StateError",
    "SystemMode",
    "TokenSource",
    "TotpSource",
    "TransportError",
    "VilniusError",
    "__version__",
]
