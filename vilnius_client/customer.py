"""CustomerClient: a customer's chat widget, for QA scripts and load tests.

```python
async with CustomerClient(url, visitor_id="v-1") as customer:
    async with customer.stream(Event.AGENT_MESSAGE) as replies:  # subscribe, then send
        await customer.send_message("Hello, I need help")
        reply = await anext(replies)
    print(reply.message.content)
```

One client holds one conversation: it is created by
[`start_conversation`][vilnius_client.CustomerClient.start_conversation]
(``POST /api/conversations``) or, the widget's way, by the first
[`send_message`][vilnius_client.CustomerClient.send_message] (to a new
``session-…`` id), or given as ``conversation_id=`` (with its ``token=`` on
``auth="token"`` servers). The socket connects once the conversation is known,
because on ``auth="token"`` servers the customer's token comes with the
conversation; its room is joined on every (re)connect. On production,
``POST /api/conversations`` announces nothing to the agents; a conversation
begun by its first message is announced (``new-conversation``) as the widget's
are.

Recovery (the guide: `docs/guides/recovery.md`): after every reconnect, before
live events resume, the replies missed are delivered to the same handlers as
[`AgentMessageEvent`][vilnius_client.AgentMessageEvent]s with
``replayed=True``, each once: by ``seq`` from
``GET /api/conversations/{id}/messages?after=`` on our server (the agents' and
system messages; resume with
[`last_seq`][vilnius_client.CustomerClient.last_seq]), by message id from the
conversation's messages on production (the agents' replies; resume with
[`last_message_at`][vilnius_client.CustomerClient.last_message_at], the
server's timestamp of the newest reply handed over). Production sends
autopilot replies only in the answer to the customer's message: the client
hands them to the ``agent-message`` handlers too (``replayed=True``), so a
script sees every reply the same way on both kinds of server.

Decisions:

* A conversation created by this client starts at its beginning, so a reply
  stored before the socket joined the room is delivered (replayed) rather than lost.
* A conversation given as ``conversation_id`` without a position starts at
  its current end: its history is not replayed (read it with
  [`history`][vilnius_client.CustomerClient.history]).
* The customer's own messages are never delivered as events (the contract has
  no event for them in the room), and never move the position on their own: a
  message sent while the socket was down must not cover a reply stored before it.
* A first [`send_message`][vilnius_client.CustomerClient.send_message] that fails
  keeps its ``session-…`` id: the next one (a retry with the same idempotency key,
  or any other) goes to the same conversation, so a message the server stored
  although the call failed is never left in a conversation the client forgot.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Unpack

from ._capabilities import ServerCapabilities, ServerKind
from ._client import ClientBase, ConnectionOptions
from ._connection import Attempt
from ._http import TokenSource, resolve_token
from ._recovery import (
    DEFAULT_PAGE_SIZE,
    Path,
    replay_conversation,
    replay_conversation_by_id,
    seq_of,
)
from ._retry import full_jitter
from ._trackers import MessageLedger, SeqTracker, epoch_ms, from_epoch_ms
from .errors import NotFoundError, ServerError, StateError, VilniusError
from .events import AgentMessageEvent, Conversation, Event, Message, Sender, TypingPayload
from .rest import RestClient

__all__ = ["CustomerClient"]


class CustomerClient(ClientBase):
    """A customer (visitor) in one conversation: REST for sending, the socket for replies.

    Args:
        url: The server's root URL.
        visitor_id: The visitor's id (the server makes one up when ``None``).
        conversation_id: An existing conversation to continue.
        token: The customer's token for ``conversation_id`` (a string or a
            function returning one); ignored when the client creates the
            conversation, which brings its own token.
        last_seq: Resume position within ``conversation_id`` (see [`last_seq`][]).
        last_message_at: Resume position on a server without ``seq`` (see
            [`last_message_at`][]).
        server: What the server offers: ``"auto"`` (ask ``GET /health`` the first
            time it matters), ``"vilnius"``, ``"lizdeika"`` or a
            [`ServerCapabilities`][vilnius_client.ServerCapabilities].
        request_timeout: Seconds for one REST request attempt.
        retry_attempts: Attempts for retryable REST calls (the first included).
        page_size: Messages per catch-up request.
        fallback_after: Seconds the socket may stay down before the client
            polls the conversation's messages over REST (``None``: never); an
            open circuit breaker starts polling at once. Polled replies reach
            the ``agent-message`` handlers with ``replayed=True``.
        poll_interval: Seconds between two polls while falling back.
        **options: The connection's options
            ([`ConnectionOptions`][vilnius_client.ConnectionOptions]), passed to
            the [`ModernWebSocketManager`][vilnius_client.ModernWebSocketManager].

    Raises:
        ValueError: A URL that is not ``http://`` or ``https://``.
    """

    def __init__(
        self,
        url: str,
        *,
        visitor_id: str | None = None,
        conversation_id: str | None = None,
        token: TokenSource = None,
        last_seq: int | None = None,
        last_message_at: datetime | None = None,
        server: ServerKind | ServerCapabilities = "auto",
        request_timeout: float = 10.0,
        retry_attempts: int = 5,
        page_size: int = DEFAULT_PAGE_SIZE,
        fallback_after: float | None = 10.0,
        poll_interval: float = 2.0,
        **options: Unpack[ConnectionOptions],
    ) -> None:
        self.visitor_id = visitor_id
        self._conversation_id = conversation_id
        self._token: TokenSource = token
        self._last_seq = last_seq
        self._resume_at = epoch_ms(last_message_at) if last_message_at is not None else None
        self._planned: str | None = None  # the session id of a first send not yet answered
        self._connecting: asyncio.Task[None] | None = None
        self._entered = False
        rest = RestClient(
            url,
            token=self._current_token,
            request_timeout=request_timeout,
            retry_attempts=retry_attempts,
            server=server,
        )
        self._assemble(
            url,
            rest,
            Event.AGENT_MESSAGE,
            replayed=_replayed,
            applies=lambda event: event.message.conversation_id == self._conversation_id,
            fallback_after=fallback_after,
            poll_interval=poll_interval,
            page_size=page_size,
            options=options,
        )

    # ------------------------------------------------------------------
    # Lifecycle, and the connection's session

    async def connect(self) -> None:
        """Start (what entering the context manager does).

        Connects the socket at once when the conversation is already known;
        otherwise when it is created.
        """
        if self._entered:
            raise StateError("this CustomerClient was already started")
        self._entered = True
        if self._conversation_id is not None:
            await self._open_socket()

    async def _prepare(self) -> Attempt:
        """Before every attempt: what the server offers, and so how to recover."""
        capabilities = await self._rest.probe()
        conversation_id = self._conversation_id
        if self._recovery.path is None and conversation_id is not None:
            self._recovery.path = self._path(conversation_id, capabilities)
        return Attempt(
            token=await self._current_token(),
            agent_id=None,
            capabilities=capabilities,
            fresh_credentials=callable(self._token),
        )

    def _path(self, conversation_id: str, capabilities: ServerCapabilities) -> Path:
        if capabilities.seq:
            tracker = SeqTracker(self._last_seq)

            async def page(after: int, limit: int) -> list[Message]:
                answer = await self._rest.conversation_messages(
                    conversation_id, after=after, limit=limit
                )
                return answer.messages

            return Path(
                tracker,
                lambda starting: replay_conversation(tracker, page, page_size=self._page_size),
                senders=frozenset({Sender.AGENT, Sender.SYSTEM}),
            )
        ledger = MessageLedger(self._resume_at)
        return Path(
            ledger,
            lambda starting: replay_conversation_by_id(
                ledger, conversation_id, self._conversation_messages, starting=starting
            ),
            senders=frozenset({Sender.AGENT}),
            started=self._resume_at is not None,
        )

    async def _open_socket(self) -> None:
        conversation_id = self._conversation_id
        assert conversation_id is not None
        errors: list[BaseException] = []
        listener = self._manager.on_error(errors.append)
        try:
            # Remembered before connecting: joined during the connect, before the catch-up.
            await self._manager.join_conversation(conversation_id)
            await self._manager.connect()
        finally:
            self._manager.off_error(listener)
        if conversation_id not in self._manager.rooms:
            # The connection reports a refused join and forgets the room; raise it here.
            refused = next((exc for exc in errors if isinstance(exc, ServerError)), None)
            raise refused or NotFoundError(f"could not join conversation {conversation_id!r}")

    async def _current_token(self) -> str | None:
        return await resolve_token(self._token)

    # ------------------------------------------------------------------
    # Parts and status

    @property
    def conversation_id(self) -> str | None:
        """The conversation, once known."""
        return self._conversation_id

    @property
    def token(self) -> str | None:
        """The customer's token, when it is a plain string (``auth="token"`` servers)."""
        return self._token if isinstance(self._token, str) else None

    @property
    def last_seq(self) -> int | None:
        """The position to resume from within the conversation; persist it to resume.

        Every reply at or below it was taken by your code. ``None`` on a server
        without ``seq`` (use [`last_message_at`][] there).
        """
        tracker = self._recovery.path.tracker if self._recovery.path else None
        if tracker is None:
            return self._last_seq
        return tracker.position if isinstance(tracker, SeqTracker) else None

    @property
    def last_message_at(self) -> datetime | None:
        """The resume position on a server without ``seq``: the server's time of the
        newest reply your code took, with none before it left untaken. Pass it back
        as ``last_message_at=``. ``None`` elsewhere."""
        tracker = self._recovery.path.tracker if self._recovery.path else None
        if not isinstance(tracker, MessageLedger):
            return None
        position = tracker.position
        return from_epoch_ms(position) if position is not None else None

    # ------------------------------------------------------------------
    # Talking

    async def start_conversation(self, metadata: Mapping[str, Any] | None = None) -> Conversation:
        """Create the conversation, keep its token and join its room.

        Raises:
            StateError: This client already has a conversation.
            ServerError: The server refused.
        """
        self._require_no_conversation()
        created = await self._rest.create_conversation(
            visitor_id=self.visitor_id, metadata=metadata
        )
        await self._adopt(
            created.conversation_id,
            created.conversation.visitor_id,
            created.token,
            since=created.conversation.started_at,
        )
        return created.conversation

    async def send_message(self, text: str, *, idempotency_key: str | None = None) -> Message:
        """Send a message (``POST /api/messages``); returns the stored message.

        Retried safely with one idempotency key where the server de-duplicates
        sends; elsewhere (production) a failure after which the message may
        have been stored is raised with ``may_have_acted=True`` and not repeated
        (read [`history`][] before sending it again). A 429 is waited out.

        Without a conversation yet, this creates one, the widget's way: a new
        ``session-…`` id that the first message creates (keeping its token,
        where the server gives one). If that first send fails, the id is kept
        for the next one: retried with the same ``idempotency_key``, it is
        stored once, in the conversation the client then adopts.

        An autopilot reply reaches the ``agent-message`` handlers, on
        production too (where it comes only in the answer). For the whole
        answer, call
        [`rest.post_message`][vilnius_client.RestClient.post_message] instead.
        """
        conversation_id = self._conversation_id
        if conversation_id is None:
            self._require_no_conversation()
            if self.visitor_id is None:
                self.visitor_id = f"visitor-{uuid.uuid4().hex[:12]}"
            planned = self._planned = self._planned or new_session_id()
            answer = await self._rest.post_message(
                planned, text, visitor_id=self.visitor_id, idempotency_key=idempotency_key
            )
            self._planned = None
            await self._adopt(
                answer.conversation_id,
                self.visitor_id,
                answer.token,
                since=answer.user_message.timestamp,
            )
        else:
            answer = await self._rest.post_message(
                conversation_id, text, visitor_id=self.visitor_id, idempotency_key=idempotency_key
            )
        path = self._recovery.path
        if path is not None and isinstance(path.tracker, MessageLedger):
            # Production sends no event for an autopilot reply: it comes in the answer.
            reply = answer.ai_message
            if reply is not None and path.tracks(reply):
                self._recovery.hand_over(reply)
            return answer.user_message
        issues_tokens = (await self._rest.probe()).customer_token
        if conversation_id is not None and issues_tokens and answer.token is not None:
            # The server answered with a token, so it created the conversation anew: it
            # forgot it (a reset database, seqs counting from 1 again). Follow the new
            # numbering, or every reply would look handled.
            self._manager.logger.warning(
                "the server no longer knew conversation %s and created it anew "
                "(its history was reset): following its new seq numbering",
                conversation_id,
            )
            if path is not None and isinstance(path.tracker, SeqTracker):
                path.tracker.restart(seq_of(answer.user_message) - 1)
            self._token = answer.token
        return answer.user_message

    async def typing(self, is_typing: bool) -> None:
        """Send ``customer-typing``; dropped (not queued) while disconnected.

        Raises:
            StateError: No conversation yet.
        """
        if self._conversation_id is None:
            raise StateError("no conversation yet: start_conversation() or send_message() first")
        payload = TypingPayload(conversation_id=self._conversation_id, is_typing=is_typing)
        await self._manager.send(Event.CUSTOMER_TYPING, payload, volatile=True)

    async def history(self, *, after: int | None = None) -> list[Message]:
        """Every message of the conversation (``seq > after``), in order.

        On a server without ``seq`` (production): every message, in time order;
        ``after`` cannot be used there. Before the first send succeeded, the
        conversation that send was for (it may exist, if the server stored the
        message although the call failed).

        Raises:
            StateError: No conversation yet.
            ValueError: ``after`` on a server without ``seq``.
        """
        conversation_id = self._conversation_id or self._planned
        if conversation_id is None:
            raise StateError("no conversation yet: start_conversation() or send_message() first")
        try:
            return await self._history(conversation_id, after)
        except NotFoundError:
            if conversation_id == self._planned:
                return []  # the first send was not stored
            raise

    # ------------------------------------------------------------------
    # Internals

    def _require_no_conversation(self) -> None:
        if self._conversation_id is not None:
            raise StateError("a CustomerClient holds one conversation; create another client")
        if not self._entered:
            raise StateError("use 'async with CustomerClient(...)' (or connect()) first")

    async def _adopt(
        self, conversation_id: str, visitor_id: str, token: str | None, *, since: datetime
    ) -> None:
        """Keep a conversation this client created (at ``since``) and connect to it."""
        self._conversation_id = conversation_id
        self.visitor_id = visitor_id
        if token is not None and (await self._rest.probe()).customer_token:
            self._token = token
        # A conversation of its own: every reply in it is new (without seq, those after
        # its start, which is also the position a reload resumes from before any reply).
        self._last_seq = 0
        self._resume_at = epoch_ms(since) - 1
        try:
            await self._open_socket()
        except VilniusError as exc:
            if not exc.temporary:
                raise
            # What created the conversation succeeded (a message may be stored): it must
            # not fail, or a caller sending again would store it twice. The socket follows;
            # the catch-up then hands over any reply stored meanwhile.
            self._manager._report(exc)
            self._connecting = asyncio.create_task(
                self._connect_later(), name="vilnius-customer-connect"
            )

    async def _connect_later(self) -> None:
        """Keep trying to connect the socket (with the manager's backoff) until it is up."""
        timings = self._manager._connection.timings
        for attempt in itertools.count(1):
            await asyncio.sleep(
                full_jitter(attempt, timings.reconnection_delay, timings.max_reconnection_delay)
            )
            try:
                await self._open_socket()
            except VilniusError as exc:
                self._manager._report(exc)
                if not exc.temporary:
                    return
            else:
                return

    async def disconnect(self) -> None:
        """Disconnect and release everything; idempotent (what leaving ``async with`` does)."""
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
        await super().disconnect()


def _replayed(message: Message) -> AgentMessageEvent:
    """A recovered reply, as the ``agent-message`` it would have been."""
    return AgentMessageEvent(message=message, timestamp=message.timestamp, replayed=True)


def new_session_id() -> str:
    """A new conversation id as the widget makes them: ``session-`` and lower-case hex."""
    return f"session-{uuid.uuid4().hex}"
