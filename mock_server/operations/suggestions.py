"""Production's pending AI suggestions (profile ``lizdeika``, mode ``hitl``).

A customer message gets a stored system message carrying an AI suggestion; the next
message or agent reply supersedes (deletes) it.
"""

from __future__ import annotations

from vilnius_client.events import Conversation, Message, Sender

from ..hub import Hub

__all__ = [
    "AI_SUGGESTION",
    "PENDING_WITHOUT_AGENT",
    "PENDING_WITH_AGENT",
    "drop_pending",
    "is_pending",
    "pending_suggestion",
]

AI_SUGGESTION = "Thanks for reaching out! An agent will look at your question shortly."
"""The canned AI suggestion of profile ``lizdeika`` (production asks its AI provider)."""

PENDING_WITH_AGENT = "[Message pending agent response - AI suggestion available]"
PENDING_WITHOUT_AGENT = "[No agents online - Message awaiting assignment]"
"""Contents of production's pending system message (``hitl``), with and without an agent."""


def is_pending(message: Message) -> bool:
    """A pending-suggestion system message, as production recognises them."""
    metadata = message.metadata or {}
    return metadata.get("pendingAgent") is True or "[Message pending agent response" in (
        message.content
    )


async def drop_pending(hub: Hub, conversation_id: str) -> None:
    """Production: a new message or reply supersedes the pending suggestions."""
    history = await hub.store.messages.history(conversation_id)
    hub.store.messages.delete([m.id for m in history if is_pending(m)])


async def pending_suggestion(
    hub: Hub, conversation: Conversation, text: str, *, unassigned: bool
) -> Message:
    """Production (``hitl``): store a system message holding the AI suggestion."""
    history = await hub.store.messages.history(conversation.id)
    visitor_count = 1 + sum(1 for m in history if m.sender is Sender.VISITOR)
    return hub.store.messages.add(
        conversation.id,
        PENDING_WITHOUT_AGENT if unassigned else PENDING_WITH_AGENT,
        Sender.SYSTEM,
        metadata={
            "pendingAgent": True,
            "aiSuggestion": {
                "response": AI_SUGGESTION,
                "metadata": {"provider": "mock", "ragUsed": False, "fallbackUsed": True},
            },
            "confidence": 0.85,
            "customerMessage": text,
            "messageCount": visitor_count,
            "assignedAgent": conversation.assigned_agent,
            "unseenByAgents": unassigned,
            "needsManualAssignment": unassigned,
        },
        message_type=hub.profile.default_message_type,
    )
