"""Setting up one connection after another: the link, the rooms, the session steps.

`Connection.open` is one attempt of `vilnius_client._supervisor.Supervisor`,
in the order the manager's docstring gives: the steps before connecting (the
clients' login), what the server offers (``GET /health``, once), the socket,
``join-agent-dashboard`` and the heartbeats, every remembered room, the
confirmation of the joins on a server without acknowledgements
(`vilnius_client._joins`), the session steps (the catch-up). Live events are
held back by `Inbound` from the moment the link exists until the supervisor
declares the connection up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from . import _rpc
from ._capabilities import ServerCapabilities
from ._heartbeat import Heartbeat
from ._inbound import Inbound
from ._joins import JoinConfirmations
from ._tokens import TokenSource, resolve_token
from ._transport import SocketLink
from .errors import ForbiddenError, NotFoundError, ReplyTimeoutError, TransportError
from .events import Event
from .rest import RestClient

__all__ = ["Connection", "SessionStep"]

SessionStep = Callable[[], Awaitable[Any]]
"""A step run on every connection (``await step()``)."""


class Connection:
    """How the manager connects: everything one attempt does, and the current link.

    Attributes:
        agent_id: The dashboard joined on every connect (``None``: no dashboard).
        capabilities: What the server offers; asked on the first attempt when ``None``.
        token: The credential sent with every attempt.
    """

    def __init__(
        self,
        url: str,
        *,
        token: TokenSource,
        agent_id: str | None,
        capabilities: ServerCapabilities | None,
        inbound: Inbound,
        heartbeat: Heartbeat,
        joins: JoinConfirmations,
        report_error: Callable[[BaseException], None],
        logger: logging.Logger,
        ack_timeout: float,
        connect_timeout: float,
        transports: tuple[str, ...],
        compression: bool,
        max_message_size: int | None,
    ) -> None:
        self.url = url
        self.token = token
        self.agent_id = agent_id
        self.capabilities = capabilities
        self.ack_timeout = ack_timeout
        self.connect_timeout = connect_timeout
        self._inbound = inbound
        self._heartbeat = heartbeat
        self._joins = joins
        self._report_error = report_error
        self._logger = logger
        self._transports = transports
        self._compression = compression
        self._max_message_size = max_message_size
        self.before: list[SessionStep] = []
        self.steps: list[SessionStep] = []
        self.rooms: dict[str, None] = {}
        self.link: SocketLink | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._closers: set[asyncio.Task[None]] = set()

    @property
    def live_link(self) -> SocketLink | None:
        """The link, when it is connected."""
        link = self.link
        return link if link is not None and link.connected else None

    async def open(self) -> SocketLink:
        """One attempt: connect, join, run the session steps; return the link.

        Raises:
            AuthError: The credentials were refused.
            TransportError: The link failed or dropped meanwhile.
        """
        for prepare in list(self.before):
            await prepare()
        capabilities = self.capabilities or await self._probe()
        acks = capabilities.acks
        token = await resolve_token(self.token)
        link = SocketLink(
            self.url,
            on_event=lambda name, args: self._on_event(link, name, args),
            on_close=lambda reason: self._on_close(link, reason),
            logger=self._logger,
            transports=self._transports,
            compression=self._compression,
            max_message_size=self._max_message_size,
        )
        self._inbound.hold()
        self.link = link
        await link.open({"token": token} if token is not None else None, wait=self.connect_timeout)
        self._logger.info("socket connected to %s (sid %s)", self.url, link.sid)
        if self.agent_id is not None:
            await self._join(link, Event.JOIN_AGENT_DASHBOARD, self.agent_id, acks=acks)
            self._heartbeat_task = asyncio.create_task(
                self._heartbeat.run(link), name="vilnius-heartbeat"
            )
        for room in list(self.rooms):
            try:
                await self._join(link, Event.JOIN_CONVERSATION, room, acks=acks)
            except (NotFoundError, ForbiddenError) as exc:
                self.rooms.pop(room, None)
                self._report_error(exc)
        if not acks and (self.agent_id is not None or self.rooms):
            await self._confirm_joins(link)
        for step in list(self.steps):
            try:
                await step()
            except TransportError:
                raise
            except Exception as exc:
                self._report_error(exc)
        if not link.connected:
            raise TransportError(f"connection lost while joining: {link.close_reason}")
        return link

    async def drop(self, reason: str) -> None:
        """Tear the current link down (closed aside: see `closed`), stop its heartbeats."""
        link, self.link = self.link, None
        self._inbound.hold()
        if link is not None:
            link.abort(reason)
            # A half-open socket may take a moment to close: do it aside (it
            # is bounded, and the manager's disconnect() waits for it).
            closer = asyncio.create_task(link.close(), name="vilnius-link-close")
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)
        heartbeat, self._heartbeat_task = self._heartbeat_task, None
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def closed(self) -> None:
        """Wait until every dropped link is closed."""
        await asyncio.gather(*self._closers, return_exceptions=True)

    async def join(self, conversation_id: str) -> None:
        """Remember a room, and join it now when connected (see the manager's method)."""
        self.rooms[conversation_id] = None
        link = self.live_link
        if link is None:
            return
        acks = self.capabilities is None or self.capabilities.acks
        try:
            await self._join(link, Event.JOIN_CONVERSATION, conversation_id, acks=acks)
        except (NotFoundError, ForbiddenError):
            self.rooms.pop(conversation_id, None)
            raise
        if not acks:
            await self._confirm_joins(link)

    async def _join(self, link: SocketLink, event: Event, room: str, *, acks: bool) -> None:
        """Send a join: acknowledged where the server acknowledges, else just sent."""
        await _rpc.emit(link, event, _rpc.encode(event, room), ack=acks, within=self.ack_timeout)

    async def _confirm_joins(self, link: SocketLink) -> None:
        """No acks on this server: wait until it handled the joins (see `_joins`).

        A join is done when sent there; the confirmation only closes the gap before
        the catch-up. A server that does not answer costs ``ack_timeout`` and a
        reported error, not the connection.
        """
        try:
            await self._joins.confirm(link, self.ack_timeout)
        except ReplyTimeoutError as exc:
            self._logger.warning("%s; going on without", exc)
            self._report_error(exc)

    async def _probe(self) -> ServerCapabilities:
        """Ask ``GET /health`` what the server offers (once; kept for every reconnect)."""
        probe = RestClient(self.url, request_timeout=self.connect_timeout, retry_attempts=1)
        async with probe:
            capabilities = await probe.capabilities()
        self.capabilities = capabilities
        self._logger.info(
            "server %s offers %s", self.url, sorted(capabilities.features) or "no extras"
        )
        return capabilities

    def _on_event(self, link: SocketLink, name: str, args: tuple[Any, ...]) -> None:
        if link is self.link:
            self._inbound.receive(name, args)

    def _on_close(self, link: SocketLink, reason: str) -> None:
        if link is self.link:
            self._logger.debug("link closed: %s", reason)
