"""AgentClient: an agent bot's connection to a Vilnius server, socket and REST together.

(Longer than most modules because every public method carries its reference
docstring; the work is done by `_client`, `_auth`, `_recovery` and the manager.)

```python
async with AgentClient(url, agent_id="bot-1", agent_key=key) as bot:  # our server
# or, on production (Lizdeika), as an agent user:
# AgentClient(url, email="bot@example.com", password=os.environ["BOT_PASSWORD"])

    @bot.on(Event.NEW_MESSAGE)
    async def reply(event: NewMessageEvent) -> None:
        if event.message.sender is Sender.VISITOR:
            await bot.respond(event.conversation_id, "Hello!")

    await bot.run_forever()
```

What the server offers is asked once, when the client starts
([`ServerCapabilities`][vilnius_client.ServerCapabilities], or ``server=``),
and decides how the client logs in (`_auth.AgentLogin`) and recovers
(`_recovery.Recovery`); the code of a bot is the same for both kinds.

Recovery (the guide: `docs/guides/recovery.md`): after every reconnect the messages
missed are delivered to the same handlers as
[`NewMessageEvent`][vilnius_client.NewMessageEvent]s with ``replayed=True``, each once,
before the live ones: by ``seq`` with ``GET /api/messages?after=`` on our server, by
message id from ``GET /api/admin/conversations`` on production. To resume after a
restart of your process, persist the position and pass it back:
[`last_seq`][vilnius_client.AgentClient.last_seq] on our server,
[`last_message_at`][vilnius_client.AgentClient.last_message_at] on production (a client
started without one starts at the end: history is not replayed). The position never
passes a message your code did not take (its handlers ran, or a waiter or stream got
it); messages that arrive before your first handler is registered are held for it.

Decisions:

* Only ``new-message`` is de-duplicated and replayed. An agent that joins a
  conversation room also receives ``agent-message`` there; those are passed
  through as they come (the same messages also arrive as ``new-message``).
* With ``email`` and ``password`` (production) the agent id is the user's
  UUID from the login; the access token is refreshed before it expires and
  after a 401, within production's refresh limit.
* ``set_personal_status("afk")`` and ``("offline")`` both mean "away" and are
  sent as the server spells it (``afk`` on the contract, ``offline`` on
  production).
* With ``agent_key`` the bearer token is fetched from
  ``POST /api/auth/agent-token`` and cached until a minute (or a tenth of its
  lifetime) before it expires. The cache is dropped whenever the socket loses
  its connection and whenever a REST call is refused with 401, so a server that
  restarted with a new signing key is handled.
* The read helpers ([`conversations`][vilnius_client.AgentClient.conversations],
  [`history`][vilnius_client.AgentClient.history], ...) return plain values;
  the full response models are one attribute away, on
  [`rest`][vilnius_client.AgentClient.rest].
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, Unpack, overload

from ._agent_actions import AgentActions, _me
from ._auth import AgentLogin, Credentials, TotpSource
from ._capabilities import ServerCapabilities, ServerKind
from ._client import ClientBase, ConnectionOptions
from ._connection import Attempt
from ._http import TokenSource, resolve_token
from ._recovery import DEFAULT_PAGE_SIZE, Path, replay_all, replay_listing
from ._resume import ResumeFile
from ._state import LOST, ConnectionChange
from ._trackers import MessageLedger, SeqTracker, epoch_ms, from_epoch_ms
from .errors import ReplyTimeoutError
from .events import (
    AgentData,
    AllMessagesResponse,
    Conversation,
    ConversationStatus,
    CurrentStateEvent,
    Event,
    FileMetadata,
    Message,
    MessageType,
    NewMessageEvent,
    PersonalStatus,
    PersonalStatusResponse,
    Reassignment,
    Sender,
    StateType,
    SuggestionAction,
    SystemMode,
    TypingPayload,
)
from .fleet import RedisFleet
from .rest import RestClient

__all__ = ["AgentClient"]


class AgentClient(ClientBase, AgentActions):
    """An agent (human dashboard or bot) connected to a Vilnius server.

    Use it as an async context manager: entering connects (retrying until the
    server answers), joins the agent dashboard and starts heartbeats; leaving
    stops every task. Handlers receive the typed model of their event.

    Args:
        url: The server's root URL, e.g. ``"http://127.0.0.1:3002"``.
        agent_id: This agent's id; the dashboard is joined under it on every
            (re)connect. Taken from the login with ``email``/``credentials``
            (production: the user's UUID).
        agent_key: The server's agent key (``auth="token"`` servers). The token
            is then fetched and refreshed automatically.
        token: A ready bearer token, or a function (plain or async) returning
            one, asked on every connect attempt and REST call.
        email: An agent user's e-mail, on a server where agents log in
            (production); with ``password`` and, for two-factor accounts, ``totp``.
        password: The agent user's password.
        totp: A function returning the current TOTP code (or one code).
        credentials: ``email``, ``password`` and ``totp`` as one
            [`Credentials`][vilnius_client.Credentials].
        server: What the server offers: ``"auto"`` (ask ``GET /health`` when
            connecting), ``"vilnius"``, ``"lizdeika"`` or a
            [`ServerCapabilities`][vilnius_client.ServerCapabilities].
        last_seq: Resume position from a previous run on a server with ``seq``
            (see [`last_seq`][]).
        last_message_at: Resume position from a previous run on a server without
            ``seq`` (production; see [`last_message_at`][]).
        fallback_after: Seconds the socket may stay down before the client
            falls back to polling over REST (``None``: never). An open circuit
            breaker starts polling at once. Polled messages reach the
            ``new-message`` handlers with ``replayed=True``; the client returns to
            the socket as soon as it reconnects, and
            ``get_connection_status().mode`` says which is active.
        poll_interval: Seconds between two polls while falling back.
        request_timeout: Seconds for one REST request attempt.
        retry_attempts: Attempts for retryable REST calls (the first included).
        page_size: Messages per catch-up request.
        resume_file: A file where the client keeps its resume position across restarts
            of your process (``last_seq``, or ``last_message_at`` on production): read
            when the client is made, written as messages are handled (at most every
            ``save_every`` seconds) and when it closes. With it, a restarted bot gets
            every message sent while it was down, once (after a crash, up to
            ``save_every`` seconds of messages come again). Instead of ``last_seq`` and
            ``last_message_at``.
        save_every: Seconds between two writes of ``resume_file``.
        fleet: Run this bot as one replica of a fleet
            ([`RedisFleet`][vilnius_client.fleet.RedisFleet]): each conversation is
            answered by one replica at a time, each message once across the fleet
            (the guide: ``docs/guides/fleet.md``). ``None``: a single bot.
        **options: The connection's options
            ([`ConnectionOptions`][vilnius_client.ConnectionOptions]:
            ``reconnection_delay``, ``heartbeat_interval``, ``connect_timeout``, ...),
            passed to the [`ModernWebSocketManager`][vilnius_client.ModernWebSocketManager].

    Raises:
        ValueError: More than one kind of credential, neither ``agent_id`` nor a
            login, or a URL that is not ``http://`` or ``https://``.

    Connecting raises [`AuthError`][vilnius_client.AuthError] when the server
    refuses the credentials, or has no use for them (an ``agent_key`` on a
    server without agent tokens, an ``email`` on one without logins).
    """

    def __init__(
        self,
        url: str,
        *,
        agent_id: str | None = None,
        agent_key: str | None = None,
        token: TokenSource = None,
        email: str | None = None,
        password: str | None = None,
        totp: TotpSource | None = None,
        credentials: Credentials | None = None,
        server: ServerKind | ServerCapabilities = "auto",
        last_seq: int | None = None,
        last_message_at: datetime | None = None,
        fallback_after: float | None = 10.0,
        poll_interval: float = 2.0,
        request_timeout: float = 10.0,
        retry_attempts: int = 5,
        page_size: int = DEFAULT_PAGE_SIZE,
        resume_file: str | os.PathLike[str] | None = None,
        save_every: float = 1.0,
        fleet: RedisFleet | None = None,
        **options: Unpack[ConnectionOptions],
    ) -> None:
        self._resume = None if resume_file is None else ResumeFile(resume_file, url)
        if self._resume is not None:
            if last_seq is not None or last_message_at is not None:
                raise ValueError("pass resume_file, or last_seq / last_message_at, not both")
            last_seq, last_message_at = self._resume.load()
        self._save_every = save_every
        self._saver: asyncio.Task[None] | None = None
        rest = RestClient(
            url, request_timeout=request_timeout, retry_attempts=retry_attempts, server=server
        )
        self._login = AgentLogin(
            rest,
            agent_id=agent_id,
            agent_key=agent_key,
            token=token,
            email=email,
            password=password,
            totp=totp,
            credentials=credentials,
        )
        self.agent_id: str | None = agent_id
        self._last_seq = last_seq
        self._last_message_at = last_message_at
        self._assemble(
            url,
            rest,
            Event.NEW_MESSAGE,
            replayed=_replayed,
            applies=lambda event: True,
            fallback_after=fallback_after,
            poll_interval=poll_interval,
            page_size=page_size,
            options=options,
            fleet=fleet,
        )

    # ------------------------------------------------------------------
    # Lifecycle: the resume file

    async def connect(self) -> None:
        """Connect (what entering ``async with`` does); see the manager's
        [`connect`][vilnius_client.ModernWebSocketManager.connect] for its bounds."""
        await super().connect()
        if self._resume is not None:
            self._saver = asyncio.create_task(self._keep_saving(), name="vilnius-resume-file")

    async def disconnect(self) -> None:
        """Disconnect and release everything; idempotent (see `ClientBase.disconnect`).

        With ``resume_file``, the position after the last handled message is written.
        """
        try:
            await super().disconnect()
        finally:
            saver, self._saver = self._saver, None
            if saver is not None:
                saver.cancel()
                await asyncio.gather(saver, return_exceptions=True)
            if self._resume is not None and self._recovery.path is not None:
                self._resume.save(self.last_seq, self.last_message_at)

    async def _keep_saving(self) -> None:
        assert self._resume is not None
        while True:
            await asyncio.sleep(self._save_every)
            if self._recovery.path is not None:
                try:
                    self._resume.save(self.last_seq, self.last_message_at)
                except OSError as exc:
                    self._manager._report(exc)

    # ------------------------------------------------------------------
    # The connection's session

    async def _prepare(self) -> Attempt:
        """Before every attempt: what the server offers; the first time, the login."""
        capabilities = await self._rest.probe()
        if self._recovery.path is None:
            user_id = await self._login.log_in(capabilities)
            if user_id is not None:
                self.agent_id = user_id
            self._recovery.path = self._path(capabilities)
        return Attempt(
            token=await resolve_token(self._login.token),
            agent_id=self.agent_id,
            capabilities=capabilities,
            fresh_credentials=callable(self._login.token),
        )

    def _path(self, capabilities: ServerCapabilities) -> Path:
        if capabilities.seq_recovery:
            tracker = SeqTracker(self._last_seq)
            return Path(
                tracker,
                lambda starting: replay_all(
                    tracker, self._fetch_page, page_size=self._page_size, on_reset=self._on_reset
                ),
            )
        at = self._last_message_at
        ledger = MessageLedger(epoch_ms(at) if at is not None else None)
        return Path(
            ledger,
            lambda starting: replay_listing(
                ledger, self._list_conversations, self._read_missed, starting=starting
            ),
            senders=frozenset({Sender.VISITOR}),
            started=at is not None,
        )

    def _changed(self, change: ConnectionChange) -> None:
        if change.new in LOST:
            self._login.connection_lost()
        super()._changed(change)

    async def _fetch_page(self, after: int, limit: int) -> AllMessagesResponse:
        return await self._rest.all_messages(after=after, limit=limit)

    async def _list_conversations(self) -> list[Conversation]:
        return (await self._rest.admin_conversations()).conversations

    async def _read_missed(self, conversation_id: str) -> list[Message]:
        """A listed conversation's messages; in a fleet only those of the conversations
        this replica reads (its own, and on its leader those nobody owns)."""
        if self._fleet is not None and not self._fleet.reads(conversation_id):
            return []
        return await self._conversation_messages(conversation_id)

    def _on_reset(self, position: int, head: int) -> None:
        self._manager.logger.warning(
            "the server's message history was reset (head %d is behind our position %d): "
            "delivering its new history from the start",
            head,
            position,
        )

    # ------------------------------------------------------------------
    # Parts and status

    @property
    def user(self) -> dict[str, Any] | None:
        """The agent user of a login (production's ``data.user``), else ``None``."""
        session = self._login.session
        return dict(session.user) if session is not None else None

    @property
    def last_seq(self) -> int | None:
        """The position to resume from on a server with ``seq`` (``None`` elsewhere).

        Every ``new-message`` at or below it was taken by your code (its handlers
        ran, or a waiter or stream got it). Store it (any time, also after
        [`disconnect`][vilnius_client.AgentClient.disconnect]) and pass it back as
        ``last_seq=`` to a new client: it receives every message after it, once.
        """
        tracker = self._recovery.path.tracker if self._recovery.path else None
        if tracker is None:
            return self._last_seq
        return tracker.position if isinstance(tracker, SeqTracker) else None

    @property
    def last_message_at(self) -> datetime | None:
        """The position to resume from on a server without ``seq`` (production): the
        server's time of the newest message your code took, with none before it left
        untaken. Pass it back as ``last_message_at=``. ``None`` elsewhere."""
        tracker = self._recovery.path.tracker if self._recovery.path else None
        if tracker is None:
            return self._last_message_at
        if not isinstance(tracker, MessageLedger):
            return None
        position = tracker.position
        return from_epoch_ms(position) if position is not None else None

    @property
    def received_seq(self) -> int | None:
        """The highest seq received, including messages not handled yet."""
        tracker = self._recovery.path.tracker if self._recovery.path else None
        return tracker.high if isinstance(tracker, SeqTracker) else self._last_seq

    async def join_conversation(self, conversation_id: str) -> None:
        """Join a conversation's room (re-joined after every reconnect)."""
        await self._manager.join_conversation(conversation_id)

    async def typing(self, conversation_id: str, is_typing: bool) -> None:
        """Send ``agent-typing``; dropped (not queued) while disconnected."""
        payload = TypingPayload(conversation_id=conversation_id, is_typing=is_typing)
        await self._manager.send(Event.AGENT_TYPING, payload, volatile=True)

    @overload
    async def request_current_state(
        self,
        state: Literal["connected-agents", StateType.CONNECTED_AGENTS],
        *,
        timeout: float = ...,  # noqa: ASYNC109 - bounds a reply, not this call's work
    ) -> list[AgentData]: ...

    @overload
    async def request_current_state(
        self,
        state: Literal["system-mode", StateType.SYSTEM_MODE],
        *,
        timeout: float = ...,  # noqa: ASYNC109
    ) -> SystemMode: ...

    async def request_current_state(
        self,
        state: StateType | str,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[AgentData] | SystemMode:
        """Ask the server for a piece of state over the socket and return the typed answer.

        Sends ``request-current-state`` and waits for the ``current-state`` of
        that type.

        Args:
            state: ``"connected-agents"`` or ``"system-mode"``.
            timeout: Seconds to wait for the answer.

        Returns:
            The list of agents, or the system mode.

        Raises:
            ValueError: ``state`` is not one of the two types.
            ReplyTimeoutError: No answer within ``timeout``.
        """
        wanted = StateType(state)
        # Waiting before sending, so that a fast answer cannot be missed, and for an
        # answer to this request only (not one held from before).
        answer = asyncio.ensure_future(
            self._events().wait_for(
                Event.CURRENT_STATE, lambda event: event.type == wanted, timeout, held=False
            )
        )
        await asyncio.sleep(0)  # the waiter is in place
        try:
            await self._manager.send(Event.REQUEST_CURRENT_STATE, wanted.value)
        except BaseException:
            answer.cancel()
            raise
        try:
            event: CurrentStateEvent = await answer
        except ReplyTimeoutError:
            raise ReplyTimeoutError(f"no current-state {wanted} within {timeout:g} s") from None
        return event.data

    # ------------------------------------------------------------------
    # REST

    async def respond(
        self,
        conversation_id: str,
        text: str,
        *,
        used_suggestion: bool | None = None,
        suggestion_action: SuggestionAction | str | None = None,
        auto_assign: bool | None = None,
        message_type: MessageType | str | None = None,
        file_metadata: FileMetadata | None = None,
        idempotency_key: str | None = None,
    ) -> Message:
        """Reply in a conversation as this agent; returns the stored message.

        Retried safely where the server de-duplicates sends; elsewhere a failure
        after which the reply may have been stored is raised with
        ``may_have_acted=True`` and not repeated. The other keywords are production's
        reply options (see [`agent_respond`][vilnius_client.RestClient.agent_respond];
        [`send_suggestion`][vilnius_client.AgentClient.send_suggestion] and
        [`reply_from_scratch`][vilnius_client.AgentClient.reply_from_scratch] set the
        suggestion ones as production's dashboard does).
        """
        answer = await self._rest.agent_respond(
            conversation_id,
            text,
            _me(self),
            used_suggestion=used_suggestion,
            suggestion_action=suggestion_action,
            auto_assign=auto_assign,
            message_type=message_type,
            file_metadata=file_metadata,
            idempotency_key=idempotency_key,
        )
        return answer.message

    async def set_personal_status(self, status: PersonalStatus | str) -> PersonalStatusResponse:
        """Set this agent ``online`` or away; the answer lists the reassignments.

        ``"afk"`` and ``"offline"`` both mean away and are sent as the server
        spells it (`ServerCapabilities.away_status`).
        """
        wanted = PersonalStatus(status)
        if wanted is not PersonalStatus.ONLINE:
            wanted = (await self._rest.probe()).away_status
        return await self._rest.set_personal_status(_me(self), wanted)

    async def get_system_mode(self) -> SystemMode:
        """The system mode (REST)."""
        return (await self._rest.get_system_mode()).mode

    async def set_system_mode(self, mode: SystemMode | str) -> SystemMode:
        """Change the system mode; returns the mode now in force."""
        return (await self._rest.set_system_mode(mode)).mode

    async def connected_agents(self) -> list[AgentData]:
        """The agents the server knows, with their status (REST)."""
        return (await self._rest.connected_agents()).agents

    async def conversations(
        self, status: ConversationStatus | str | None = None
    ) -> list[Conversation]:
        """Every conversation, optionally only those with ``status``.

        Production lists conversations without a status and ignores the filter;
        there ``archived`` tells active from archived ones, so the filter is
        applied here (no conversation is ever ``ended`` there).
        """
        listed = (await self._rest.admin_conversations(status)).conversations
        if status is None or all(c.status is not None for c in listed):
            return listed
        wanted = ConversationStatus(status)
        return [c for c in listed if _status_of(c) is wanted]

    async def history(self, conversation_id: str, *, after: int | None = None) -> list[Message]:
        """Every message of a conversation (``seq > after``), in order (all pages).

        On a server without ``seq`` (production): every message, in time order;
        ``after`` cannot be used there. One page is one call away:
        ``bot.rest.conversation_messages(conversation_id, after=, limit=)``.

        Raises:
            NotFoundError: No such conversation.
            ValueError: ``after`` on a server without ``seq``.
        """
        return await self._history(conversation_id, after)

    async def assign(self, conversation_id: str, agent_id: str | None = None) -> Conversation:
        """Assign a conversation to ``agent_id`` (default: this agent)."""
        answer = await self._rest.assign(conversation_id, agent_id or _me(self))
        return answer.conversation

    async def bulk_assign(
        self, conversation_ids: Iterable[str], agent_id: str | None = None
    ) -> list[Reassignment] | int:
        """Assign several conversations to ``agent_id`` (default: this agent).

        Returns:
            The reassignments made, or only their count when the server answers
            with a number (the contract leaves the shape open).
        """
        answer = await self._rest.bulk_assign(conversation_ids, agent_id or _me(self))
        if answer.reassigned is None:  # production: {data: {assignedCount}}
            return int((answer.data or {}).get("assignedCount", 0))
        return answer.reassigned

    async def end_conversation(self, conversation_id: str) -> None:
        """End a conversation as this agent."""
        await self._rest.end_conversation(conversation_id, agent_id=_me(self))


def _replayed(message: Message) -> NewMessageEvent:
    """A recovered message, as the ``new-message`` it would have been."""
    return NewMessageEvent(
        conversation_id=message.conversation_id,
        message=message,
        ai_suggestion=None,
        timestamp=message.timestamp,
        replayed=True,
    )


def _status_of(conversation: Conversation) -> ConversationStatus:
    """A conversation's status, from production's ``archived`` when it has none."""
    if conversation.status is not None:
        return conversation.status
    return ConversationStatus.ARCHIVED if conversation.archived else ConversationStatus.ACTIVE
