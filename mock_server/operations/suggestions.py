"""Production's AI suggestions (profile ``lizdeika``, mode ``hitl``).

A customer message gets a stored system message carrying an AI suggestion; the next
message or agent reply supersedes (deletes) it. An agent may also ask for a fresh one
(``POST /api/conversations/{id}/generate-suggestion``). Production asks its AI provider;
the reference server answers with a text of ``ProductionSettings.suggestions``, chosen as
production chooses among its fallback texts when its provider is down.
"""

from __future__ import annotations

from typing import Any

from vilnius_client.events import Conversation, Message, Sender, format_timestamp, utcnow

from ..hub import Hub

__all__ = [
    "MANUAL_SUGGESTION",
    "PENDING_WITHOUT_AGENT",
    "PENDING_WITH_AGENT",
    "ai_suggestion",
    "context_of",
    "drop_pending",
    "generate_suggestion",
    "is_pending",
    "latest_pending",
    "pending_suggestion",
]

PENDING_WITH_AGENT = "[Message pending agent response - AI suggestion available]"
PENDING_WITHOUT_AGENT = "[No agents online - Message awaiting assignment]"
"""Contents of production's pending system message (``hitl``), with and without an agent."""

MANUAL_SUGGESTION = "[Manual AI suggestion generated]"
"""Content of the system message a generated suggestion is kept in."""


def is_pending(message: Message) -> bool:
    """A pending-suggestion system message, as production recognises them."""
    metadata = message.metadata or {}
    return metadata.get("pendingAgent") is True or "[Message pending agent response" in (
        message.content
    )


def context_of(history: list[Message], latest: str | None = None) -> str:
    """Production's conversation context: ``Customer: ...`` / ``Agent: ...`` lines.

    Visitor and agent messages only (and ``latest``, a visitor message not yet
    committed); the last five when the whole is over 2,000 characters.
    """
    said = [
        ("Customer" if m.sender is Sender.VISITOR else "Agent", m.content)
        for m in history
        if m.sender in (Sender.VISITOR, Sender.AGENT)
    ]
    if latest is not None:
        said.append(("Customer", latest))

    def lines(entries: list[tuple[str, str]]) -> str:
        return "\n\n".join(f"{who}: {content}" for who, content in entries)

    whole = lines(said)
    return lines(said[-5:]) if len(whole) > 2000 else whole


def ai_suggestion(hub: Hub, context: str) -> dict[str, Any]:
    """What production's AI service answers when it falls back (no provider here)."""
    text = hub.production.suggestion(context)
    return {
        "response": text,
        "debugInfo": {
            "timestamp": format_timestamp(utcnow()),
            "step2_providerCheck": {"status": "unavailable", "provider": "mock"},
            "finalResponse": text,
        },
        "metadata": {
            "provider": "mock",
            "ragUsed": False,
            "fallbackUsed": True,
            "reason": "No AI provider available",
        },
    }


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
    context = context_of(history, text)
    return hub.store.messages.add(
        conversation.id,
        PENDING_WITHOUT_AGENT if unassigned else PENDING_WITH_AGENT,
        Sender.SYSTEM,
        metadata={
            "pendingAgent": True,
            "aiSuggestion": ai_suggestion(hub, context),
            "confidence": 0.85,
            "customerMessage": text,
            "messageCount": visitor_count,
            "conversationContext": context[:200] + "...",
            "assignedAgent": conversation.assigned_agent,
            "unseenByAgents": unassigned,
            "needsManualAssignment": unassigned,
        },
        message_type=hub.profile.default_message_type,
    )


def latest_pending(history: list[Message]) -> Message | None:
    """``getPendingSuggestion``: the newest pending message with a suggestion, if any.

    Newest by ``metadata.lastUpdated``, else by timestamp; the first of equals wins.
    """
    best: Message | None = None
    best_time = ""
    for message in history:
        metadata = message.metadata or {}
        if not (metadata.get("pendingAgent") and metadata.get("aiSuggestion")):
            continue
        when = str(metadata.get("lastUpdated") or format_timestamp(message.timestamp))
        if best is None or when > best_time:
            best, best_time = message, when
    return best


async def generate_suggestion(hub: Hub, conversation_id: str) -> dict[str, Any]:
    """``generateAISuggestion``: replace the pending suggestions with a fresh one.

    Raises ``LookupError`` when the conversation has no messages and ``ValueError``
    when none of them is a visitor's or an agent's (production's 404 and 400).
    """
    async with hub.transaction():
        history = await hub.store.messages.history(conversation_id)
        if not history:
            raise LookupError(conversation_id)
        context = context_of(history)
        if not context.strip():
            raise ValueError(conversation_id)
        suggestion = ai_suggestion(hub, context)
        text = suggestion["response"]
        hub.store.messages.delete([m.id for m in history if (m.metadata or {}).get("pendingAgent")])
        visitors = sum(1 for m in history if m.sender is Sender.VISITOR)
        now = format_timestamp(utcnow())
        stored = hub.store.messages.add(
            conversation_id,
            MANUAL_SUGGESTION,
            Sender.SYSTEM,
            metadata={
                "pendingAgent": True,
                "aiSuggestion": text,
                "confidence": 0.8,
                "lastUpdated": now,
                "messageCount": len(history),
                "customerMessages": visitors,
                "manualGeneration": True,
                "debugInfo": suggestion["debugInfo"],
            },
            message_type=hub.profile.default_message_type,
        )
    metadata = suggestion["metadata"]
    return {
        "suggestion": text,
        "confidence": 0.8,
        "messageId": stored.id,
        "timestamp": now,
        "metadata": {
            "messageCount": len(history),
            "customerMessages": visitors,
            "manualGeneration": True,
            "provider": metadata["provider"],
            "ragUsed": metadata["ragUsed"],
            "fallbackUsed": metadata["fallbackUsed"],
            "sourcesUsed": 0,
            "contextsUsed": 0,
            "contextLength": 0,
            "processingSteps": 0,
            "debugInfo": suggestion["debugInfo"],
        },
    }
