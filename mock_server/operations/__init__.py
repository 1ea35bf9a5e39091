"""What each REST request and socket event does, over a ``Hub``.

Each function checks the caller's ``Identity``, changes the state in one transaction
and returns the answer (or queues the events); the HTTP layer (``mock_server.rest``) and
the socket handlers (``mock_server.handlers``) only parse, validate and serialise. By area:

- ``conversations``: start, list, assign, end, bulk-assign;
- ``messages``: a customer's message and what the system mode makes of it; message pages;
- ``replies``: an agent's reply;
- ``agents``: personal status, the system mode, the connected agents;
- ``tokens``: agent and customer tokens;
- ``sockets``: every Socket.IO event (joins, typing, heartbeats, state requests);

and what they share: ``common`` (the active-conversation check, message events),
``idempotency`` (``Idempotency-Key``), ``suggestions`` (production's pending AI
suggestions). The functions named ``*_production`` are production's own behaviour
(profile ``lizdeika``), next to the contract's.
"""

from .agents import (
    connected_agents,
    get_mode,
    personal_status_production,
    set_mode,
    set_personal_status,
)
from .conversations import (
    admin_conversations_production,
    assign,
    assign_production,
    bulk_assign,
    bulk_assign_production,
    create_conversation,
    create_conversation_production,
    end,
    list_conversations,
)
from .messages import all_messages, conversation_messages, post_message
from .replies import agent_respond
from .tokens import agent_token

__all__ = [
    "admin_conversations_production",
    "agent_respond",
    "agent_token",
    "all_messages",
    "assign",
    "assign_production",
    "bulk_assign",
    "bulk_assign_production",
    "connected_agents",
    "conversation_messages",
    "create_conversation",
    "create_conversation_production",
    "end",
    "get_mode",
    "list_conversations",
    "personal_status_production",
    "post_message",
    "set_mode",
    "set_personal_status",
]
