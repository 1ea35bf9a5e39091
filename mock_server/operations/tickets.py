"""Production's conversation actions beyond the contract (profile ``lizdeika``).

Unassigning, archiving, categories (set by an agent, or by the categoriser) and how
production shows a conversation (its "ticket"). Each function answers the body production
answers, and raises ``ServiceError`` with production's own error body; the line of
production's ``conversationController.js`` each follows is named in its docstring.
"""

from __future__ import annotations

import re
from typing import Any

from vilnius_client.events import (
    Conversation,
    ErrorCode,
    Event,
    TicketCategoryAssignedEvent,
    TicketCategoryRemovedEvent,
    format_timestamp,
    utcnow,
)

from ..errors import ServiceError, fail
from ..hub import Hub
from ..rooms import AGENTS_ROOM
from ..store.catalog import Category

__all__ = [
    "archive",
    "bulk_set_category",
    "categorization_stats",
    "categorize",
    "conversation_view",
    "reopen_archived",
    "set_category",
    "set_category_override",
    "ticket_fields",
    "ticket_numbers",
    "unassign",
]


def ticket_numbers(conversations: list[Conversation]) -> dict[str, tuple[int, str]]:
    """Production's user number and ticket number (``LZD-YYYYMMDD-NNNN``) of each one.

    ``conversations`` oldest first, as the store lists them.
    """
    daily: dict[str, int] = {}
    numbers = {}
    for number, conversation in enumerate(conversations, start=1):
        day = conversation.started_at.strftime("%Y%m%d")
        daily[day] = daily.get(day, 0) + 1
        numbers[conversation.id] = (number, f"LZD-{day}-{daily[day]:04d}")
    return numbers


def ticket_fields(hub: Hub, conversation_id: str) -> dict[str, Any]:
    """The archived flag and category fields production lists with a conversation."""
    state = hub.store.tickets.get(conversation_id)
    category = hub.store.categories.get(state.category_id)
    return {
        "archived": state.archived,
        "category": "general",
        "categoryId": state.category_id,
        "category_id": state.category_id,
        "categoryData": None
        if category is None
        else {"id": category.id, "name": category.name, "color": category.color},
    }


async def conversation_view(hub: Hub, conversation: Conversation) -> dict[str, Any]:
    """``conversationService.getConversation``: production's view of one conversation."""
    conversations = hub.store.conversations.all()
    number, ticket = ticket_numbers(conversations).get(conversation.id, (0, ""))
    fields = ticket_fields(hub, conversation.id)
    del fields["archived"]
    history = await hub.store.messages.history(conversation.id)
    return {
        "id": conversation.id,
        "visitorId": "anonymous-session",
        "userNumber": number,
        "assignedAgent": conversation.assigned_agent,
        "startedAt": format_timestamp(conversation.started_at),
        "ticketNumber": ticket,
        "subject": "Website Support Request",
        **fields,
        "messageCount": len(history),
    }


def reopen_archived(hub: Hub, conversation: Conversation) -> Conversation:
    """A new message unarchives an archived conversation, and leaves it unassigned.

    ``autoUnarchiveOnNewMessage`` (conversationService.js:1156) asks for an agent through a
    function production does not have, so the conversation always ends up unassigned,
    whoever wrote. Call it inside the message's transaction.
    """
    if not hub.store.tickets.get(conversation.id).archived:
        return conversation
    hub.store.tickets.update(conversation.id, archived=False)
    hub.store.conversations.assign(conversation.id, None)
    return conversation.model_copy(update={"assigned_agent": None})


async def unassign(hub: Hub, conversation_id: str) -> dict[str, Any]:
    """``unassignConversation`` (conversationController.js:586): any agent may unassign."""
    async with hub.transaction():
        conversation = hub.store.conversations.get(conversation_id)
        if conversation is None:
            raise fail(404, {"error": "Conversation not found"})
        view = await conversation_view(hub, conversation)
        hub.store.conversations.assign(conversation.id, None)
    return {"success": True, "conversation": {**view, "assignedAgent": None, "assignedAt": None}}


async def archive(hub: Hub, conversation_ids: list[Any], archived: bool) -> int:
    """``bulkArchiveConversations`` / ``bulkUnarchiveConversations`` (:740, :826).

    Counts the conversations that changed; archiving also unassigns them. An id that is
    not a string fails the whole request (500), as production's database query does.
    """
    if not all(isinstance(c, str) for c in conversation_ids):
        verb = "archive" if archived else "unarchive"
        raise fail(500, {"error": f"Failed to {verb} conversations"})
    count = 0
    async with hub.transaction():
        for conversation_id in dict.fromkeys(conversation_ids):
            conversation = hub.store.conversations.get(conversation_id)
            if conversation is None or hub.store.tickets.get(conversation_id).archived == archived:
                continue
            hub.store.tickets.update(conversation_id, archived=archived)
            if archived:
                hub.store.conversations.assign(conversation_id, None)
            count += 1
    return count


def _category(hub: Hub, category_id: Any, failure: str) -> Category | None:
    """``categoryService.getCategoryById``: a non-string id fails the query (500)."""
    if not isinstance(category_id, str):
        raise fail(500, {"error": failure})
    return hub.store.categories.get(category_id)


def _queue_category_event(
    hub: Hub, conversation_id: str, old: str | None, category: Category | None
) -> None:
    if category is None:
        removed = TicketCategoryRemovedEvent(ticket_id=conversation_id, old_category_id=old)
        hub.queue(Event.TICKET_CATEGORY_REMOVED, removed, AGENTS_ROOM)
    else:
        assigned = TicketCategoryAssignedEvent(
            ticket_id=conversation_id, category_id=category.id, category_name=category.name
        )
        hub.queue(Event.TICKET_CATEGORY_ASSIGNED, assigned, AGENTS_ROOM)


async def set_category(hub: Hub, conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """``assignCategory`` (:868): set or (``category_id: null``) remove a category by hand."""
    async with hub.transaction():
        if hub.store.conversations.get(conversation_id) is None:
            raise fail(404, {"error": "Conversation not found"})
        old = hub.store.tickets.get(conversation_id).category_id
        category = None
        if body.get("category_id", ...) is not None:
            category = _category(hub, body.get("category_id"), "Failed to assign category")
            if category is None:
                raise fail(404, {"error": "Category not found"})
            if category.is_archived:
                raise fail(403, {"error": "Cannot assign archived category"})
        hub.store.tickets.update(
            conversation_id,
            category_id=category.id if category else None,
            manual_category_override=True,
            category_metadata=None,
        )
        _queue_category_event(hub, conversation_id, old, category)
    return {
        "id": conversation_id,
        "category_id": category.id if category else None,
        "category_name": category.name if category else None,
        "category_color": category.color if category else None,
    }


async def bulk_set_category(hub: Hub, body: dict[str, Any]) -> dict[str, Any]:
    """``bulkAssignCategory`` (:963): one category (or none) for many conversations.

    Production reads ``updates.category_id``; without one it still marks each
    conversation as categorised by hand, then fails on the missing category's name
    (the conversation is listed both as changed and as failed), as it does there.
    """
    ids, updates = body.get("ticket_ids"), body.get("updates")
    if not isinstance(ids, list) or not ids:
        raise fail(400, {"error": "ticket_ids array is required"})
    if not isinstance(updates, dict | list):
        raise fail(400, {"error": "updates object is required"})
    given = body.get("options")
    options: dict[str, Any] = given if isinstance(given, dict) else {}
    wanted = updates.get("category_id", ...) if isinstance(updates, dict) else ...
    skip_archived = options.get("skip_archived", True)
    keep_going = options.get("continue_on_error", False)
    result: dict[str, Any] = {"success": [], "failed": []}
    async with hub.transaction():
        category = None
        if wanted is not ... and wanted is not None:
            category = _category(hub, wanted, "Failed to assign categories")
            if category is None:
                raise fail(404, {"error": "Category not found"})
            if category.is_archived and skip_archived:
                raise fail(403, {"error": "Cannot assign archived category"})
        for ticket_id in ids:
            if not isinstance(ticket_id, str) or hub.store.conversations.get(ticket_id) is None:
                result["failed"].append({"ticket_id": ticket_id, "error": "Conversation not found"})
                continue
            old = hub.store.tickets.get(ticket_id).category_id
            changes: dict[str, Any] = {"manual_category_override": True, "category_metadata": None}
            if wanted is not ...:
                changes["category_id"] = category.id if category else None
            hub.store.tickets.update(ticket_id, **changes)
            result["success"].append(ticket_id)
            if wanted is ...:
                error = "Cannot read properties of null (reading 'name')"
                result["failed"].append({"ticket_id": ticket_id, "error": error})
                if not keep_going:
                    break
                continue
            _queue_category_event(hub, ticket_id, old, category)
    result["summary"] = {
        "total": len(ids),
        "succeeded": len(result["success"]),
        "failed": len(result["failed"]),
    }
    return result


async def set_category_override(
    hub: Hub, conversation_id: str, manual_override: Any
) -> dict[str, Any]:
    """``toggleCategoryOverride`` (:1190): whether the categoriser may change the category.

    Turning it off also forgets how the category was chosen (``category_metadata``).
    """
    if not isinstance(manual_override, bool):
        raise fail(400, {"error": "manual_override must be a boolean value"})
    async with hub.transaction():
        if hub.store.conversations.get(conversation_id) is None:
            raise fail(
                500,
                {
                    "success": False,
                    "error": "Failed to update category override setting",
                    "details": f"Conversation {conversation_id} not found",
                },
            )
        old = hub.store.tickets.get(conversation_id)
        state = hub.store.tickets.update(
            conversation_id,
            manual_category_override=manual_override,
            category_metadata=old.category_metadata if manual_override else None,
        )
    message = (
        "Manual category control enabled - AI will not recategorize this ticket"
        if manual_override
        else "AI categorization re-enabled - ticket may be auto-categorized"
    )
    return {
        "success": True,
        "message": message,
        "data": {
            "id": conversation_id,
            "manual_category_override": state.manual_category_override,
            "category_id": state.category_id,
            "category_metadata": state.category_metadata,
        },
    }


_WORD = re.compile(r"\w{3,}")

BROADCAST_FAILURE = "ws.broadcastToAgents is not a function"
"""What production answers after it categorised a conversation (see ``categorize``)."""


def _pick(categories: list[Category], text: str) -> tuple[Category, str]:
    """The category whose name and description share the most words with ``text``."""
    said = {word.lower() for word in _WORD.findall(text)}
    best, best_score = categories[0], 0
    for category in categories:
        words = {w.lower() for w in _WORD.findall(f"{category.name} {category.description or ''}")}
        score = len(words & said)
        if score > best_score:
            best, best_score = category, score
    if best_score == 0:
        return best, f"No category matched the conversation; '{best.name}' comes first."
    return best, f"{best_score} word(s) of '{best.name}' appear in the conversation."


async def categorize(hub: Hub, conversation_id: str) -> dict[str, Any]:
    """``triggerAutoCategorization`` (:1084, aiCategorizationService.js:343).

    The categoriser stands in for production's AI: it picks the category whose words the
    conversation uses most (the first by name when none match). Production checks the same
    conditions first (``ProductionSettings.categorization_*``) and answers 400 with the
    reason when one fails. After categorising, production fails to broadcast the change
    (it calls a method its WebSocket service does not have), so it answers 400
    ``ws.broadcastToAgents is not a function`` *with the category stored* and no event
    sent; so does this.
    """
    settings = hub.production
    async with hub.transaction():
        conversation = hub.store.conversations.get(conversation_id)
        state = hub.store.tickets.get(conversation_id)
        reason = None
        history = await hub.store.messages.history(conversation_id)
        minimum = settings.categorization_min_messages
        idle = settings.categorization_idle_minutes
        categories = [c for c in hub.store.categories.all() if not c.is_archived]
        if conversation is None:
            reason = "Ticket not found"
        elif state.archived:
            reason = "Ticket is archived"
        elif state.category_id:
            reason = "Ticket already has a category"
        elif state.manual_category_override:
            reason = "Manual category override set"
        elif len(history) < minimum:
            reason = f"Not enough messages ({len(history)}/{minimum})"
        elif not history:
            reason = "No messages in conversation"
        else:
            minutes = (utcnow() - history[-1].timestamp).total_seconds() / 60
            if minutes < idle:
                reason = (
                    f"Conversation still active ({minutes:.0f}m since last message, need {idle:g}m)"
                )
            elif not categories:
                reason = "No categories available"
        if reason is None:
            category, reasoning = _pick(categories, " ".join(m.content for m in history))
            hub.store.tickets.update(
                conversation_id,
                category_id=category.id,
                manual_category_override=False,
                category_metadata={
                    "source": "ai",
                    "confidence": 1.0,
                    "reasoning": reasoning,
                    "categorized_at": format_timestamp(utcnow()),
                    "model_used": "rephrasing_model",
                },
            )
            reason = BROADCAST_FAILURE
    raise ServiceError(
        ErrorCode.INVALID_PAYLOAD,
        reason,
        status=400,
        body={"success": False, "message": reason},
    )


def categorization_stats(hub: Hub) -> dict[str, Any]:
    """``getCategorizationStats`` (aiCategorizationService.js:556): conversations not archived."""
    states = [
        hub.store.tickets.get(c.id)
        for c in hub.store.conversations.all()
        if not hub.store.tickets.get(c.id).archived
    ]
    ai = [s for s in states if (s.category_metadata or {}).get("source") == "ai"]
    confidences = [float(s.category_metadata["confidence"]) for s in ai if s.category_metadata]
    confidences = [c for c in confidences if c]
    return {
        "total": len(states),
        "categorized": sum(1 for s in states if s.category_id),
        "uncategorized": sum(1 for s in states if not s.category_id),
        "aiCategorized": len(ai),
        "manualCategorized": sum(
            1 for s in states if (s.category_metadata or {}).get("source") == "manual"
        ),
        "manuallyOverridden": sum(1 for s in states if s.manual_category_override),
        "avgConfidence": sum(confidences) / len(confidences) if confidences else 0,
        "lowConfidenceAttempts": sum(
            1 for s in states if (s.category_metadata or {}).get("low_confidence_attempt")
        ),
    }
