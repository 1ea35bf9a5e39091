"""`AgentActions`: what an agent does in production beyond replying, as one-line calls.

Mixed into [`AgentClient`][vilnius_client.AgentClient]; every method speaks as the
client's agent (``agent_id``) through its REST client (``rest``), whose methods
(`vilnius_client.rest.RestClient`) answer the full response models. These return the
part a bot uses.

In production's ``hitl`` mode an AI suggestion waits for each customer message, and
production's statistics read how each reply used it (``suggestionAction`` ``as-is``,
``edited`` or ``from-scratch``, and whether a suggestion was there at all). The reply
helpers set both the way production's own dashboard means them:

```python
suggestion = await bot.pending_suggestion(conversation_id)
if suggestion is not None:
    await bot.send_suggestion(conversation_id, suggestion)                 # as-is
    # or: await bot.send_suggestion(conversation_id, suggestion, text=...)  # edited
    # or: await bot.reply_from_scratch(conversation_id, "...")             # from-scratch
```
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .errors import NotFoundError, StateError
from .events import (
    Category,
    CategoryAssignment,
    Conversation,
    FileMetadata,
    GeneratedSuggestionResponse,
    Message,
    MessageType,
    PendingSuggestionResponse,
    SuggestionAction,
    SuggestionUsage,
    Template,
)
from .rest import DateLike, RestClient

__all__ = ["AgentActions"]

Suggestion = PendingSuggestionResponse | GeneratedSuggestionResponse | str
"""A suggestion as the server gave it, or its text."""


class _Agent(Protocol):
    """What the actions need of the client they are mixed into."""

    agent_id: str | None

    @property
    def rest(self) -> RestClient:
        """The client's REST client."""
        ...


def _me(agent: _Agent) -> str:
    if agent.agent_id is None:
        raise StateError("the agent id comes from the login: connect first")
    return agent.agent_id


def _text(suggestion: Suggestion) -> str:
    return suggestion if isinstance(suggestion, str) else suggestion.text


class AgentActions:
    """Production's agent actions: suggestions, conversation actions, categories, files.

    Every method raises what the REST call it makes raises
    ([`ServerError`][vilnius_client.ServerError] subclasses,
    [`TransportError`][vilnius_client.TransportError]), and
    [`StateError`][vilnius_client.StateError] when the agent id is not known yet
    (production: before the first connect).
    """

    # -- suggestions -------------------------------------------------------------

    async def pending_suggestion(
        self: _Agent, conversation_id: str
    ) -> PendingSuggestionResponse | None:
        """The AI suggestion waiting in a conversation, or ``None`` when there is none."""
        try:
            return await self.rest.pending_suggestion(conversation_id)
        except NotFoundError:
            return None

    async def generate_suggestion(
        self: _Agent, conversation_id: str
    ) -> GeneratedSuggestionResponse:
        """Ask for a fresh AI suggestion (it replaces the pending one)."""
        return await self.rest.generate_suggestion(conversation_id)

    async def send_suggestion(
        self: _Agent, conversation_id: str, suggestion: Suggestion, *, text: str | None = None
    ) -> Message:
        """Reply with a suggestion: as it is, or edited to ``text``.

        Sent as ``as-is`` when ``text`` is ``None`` or the suggestion's very text, else
        as ``edited``; either way as a reply that had a suggestion.
        """
        suggested = _text(suggestion)
        sent = suggested if text is None else text
        action = SuggestionAction.AS_IS if sent == suggested else SuggestionAction.EDITED
        answer = await self.rest.agent_respond(
            conversation_id, sent, _me(self), used_suggestion=True, suggestion_action=action
        )
        return answer.message

    async def reply_from_scratch(
        self: _Agent, conversation_id: str, text: str, *, suggestion_offered: bool = True
    ) -> Message:
        """Reply with a text of one's own instead of the suggestion (``from-scratch``).

        Production counts a ``from-scratch`` reply among the suggestions only when one
        was offered for it (``suggestion_offered``); a reply with no suggestion at all
        is better sent with [`respond`][vilnius_client.AgentClient.respond].
        """
        answer = await self.rest.agent_respond(
            conversation_id,
            text,
            _me(self),
            used_suggestion=suggestion_offered,
            suggestion_action=SuggestionAction.FROM_SCRATCH,
        )
        return answer.message

    async def send_template(self: _Agent, conversation_id: str, template: Template) -> Message:
        """Reply with a response template's text (a canned answer: no suggestion used)."""
        answer = await self.rest.agent_respond(conversation_id, template.content, _me(self))
        return answer.message

    # -- files -------------------------------------------------------------------

    async def upload_file(
        self: _Agent, content: bytes, filename: str, content_type: str
    ) -> FileMetadata:
        """Upload a file to attach to a reply; returns what to attach."""
        return (await self.rest.upload_file(content, filename, content_type)).file

    async def reply_with_file(
        self: _Agent, conversation_id: str, text: str, file: FileMetadata
    ) -> Message:
        """Reply with an uploaded file attached (production's ``file`` message)."""
        answer = await self.rest.agent_respond(
            conversation_id,
            text,
            _me(self),
            message_type=MessageType.FILE,
            file_metadata=file,
        )
        return answer.message

    # -- conversation actions ------------------------------------------------------

    async def unassign(self: _Agent, conversation_id: str) -> Conversation:
        """Unassign a conversation (any agent may); returns it as the server now shows it."""
        answer = await self.rest.unassign(conversation_id, agent_id=_me(self))
        return answer.conversation

    async def mark_seen(self: _Agent, conversation_id: str) -> None:
        """Mark a conversation seen by this agent (agents get ``conversation-seen-update``)."""
        await self.rest.mark_seen(conversation_id, agent_id=_me(self))

    async def set_category(
        self: _Agent, conversation_id: str, category: Category | str | None
    ) -> CategoryAssignment:
        """Give a conversation a category (a `Category` or its id), or none (``None``)."""
        category_id = category.id if isinstance(category, Category) else category
        return await self.rest.set_category(conversation_id, category_id)

    async def archive(self: _Agent, conversation_ids: Iterable[str]) -> int:
        """Archive conversations (they lose their agent); returns how many were not yet."""
        return (await self.rest.bulk_archive(conversation_ids)).count

    async def unarchive(self: _Agent, conversation_ids: Iterable[str]) -> int:
        """Unarchive conversations; returns how many were archived."""
        return (await self.rest.bulk_unarchive(conversation_ids)).count

    # -- what admins set up ------------------------------------------------------

    async def categories(self: _Agent, *, include_archived: bool = False) -> list[Category]:
        """Every ticket category, by name (all pages)."""
        found: list[Category] = []
        page = 1
        while True:
            answer = await self.rest.categories(
                include_archived=include_archived, page=page, limit=100
            )
            found.extend(answer.categories)
            if answer.pagination is None or not answer.pagination.has_more:
                return found
            page += 1

    async def templates(self: _Agent) -> list[Template]:
        """The active response templates (canned answers), by title."""
        return (await self.rest.templates()).templates

    # -- statistics --------------------------------------------------------------

    async def suggestion_usage(
        self: _Agent, *, start: DateLike | None = None, end: DateLike | None = None
    ) -> SuggestionUsage:
        """How this agent's replies used suggestions, as production's statistics count them."""
        answer = await self.rest.statistics_suggestions(start=start, end=end, agent_id=_me(self))
        return answer.data
