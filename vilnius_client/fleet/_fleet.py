"""RedisFleet: one replica of a bot among several, coordinated through Redis.

The fleet object serves one `AgentClient` (``fleet=``). It puts its `Gate` in front of the
client's dispatcher and runs three background tasks while the client is up:

* the *keeper*, every ``renew_every`` seconds: takes or renews the leader's lease, renews
  the leases of the conversations this replica owns while it is healthy (connected, or
  polling as the leader), gives away the leases of conversations idle for ``idle_after``
  seconds, and notices that Redis is back after an outage;
* the *marker*: stores the positions of the conversations whose messages were handled,
  batched (one round trip for whatever accumulated meanwhile);
* the *listener*: hears of the conversations other replicas give away (``SIGTERM``), so
  that a message they left unanswered is taken over at once, not after the TTL.

A Redis outage is reported once to the client's error listeners (`FleetError`); claims wait
until Redis answers again, conversations owned keep their events for as long as their lease
was last renewed for (a TTL), and positions not stored yet are stored when Redis is back.

A Redis that comes back *empty* (restarted without persistence, or a failover to a replica
that had not received the last writes) is told by its new epoch (`RedisStore`). Every
replica then waits one ``lease_ttl`` before claiming anything, while the owners renew
their leases (set again, as they were) and store their positions again: a conversation
keeps its owner instead of being taken by whichever replica asked first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._dispatch import DEFAULT_QUEUE_MAXSIZE
from .._scripts import install_hint
from .._state import ConnectionChange, ConnectionState
from ..errors import FleetError, StateError
from ..events import Message
from ._book import Position
from ._catchup import Stream, missed_in
from ._gate import Claim, Gate, GateCounts

if TYPE_CHECKING:
    from .._client import ClientBase
    from ._store import RedisStore

__all__ = ["FleetStatus", "RedisFleet"]

ENVIRONMENT_VARIABLE = "VILNIUS_FLEET"
"""Where `RedisFleet.from_env` reads the Redis URL."""

_SCHEMES = ("redis://", "rediss://", "unix://")

CLAIM_DEFER = 0.005
"""Seconds (on average) between two claims of a replica told to wait for a less loaded one."""

CLAIM_ROUNDS = 8
"""Claims told to wait before a replica takes the lease anyway."""


@dataclass(frozen=True)
class FleetStatus:
    """A snapshot of one replica's place in its fleet.

    Attributes:
        group: The fleet's name (``None`` until known: the agent id, after the login).
        replica: This replica's lease token (host, process id, a random part).
        redis: Whether Redis answered last time it was asked.
        leading: Whether this replica does the fleet-wide work now.
        holding: Conversations whose lease this replica holds.
        waiting: Events waiting for a conversation to be claimed.
    """

    group: str | None
    replica: str
    redis: bool
    leading: bool
    holding: int
    waiting: int


class RedisFleet:
    """Run an agent bot as one replica of a fleet: each conversation answered once.

    ```python
    fleet = RedisFleet("redis://127.0.0.1:6379/0", group="support-bot")
    async with AgentClient(url, agent_id="bot", agent_key=key, fleet=fleet) as bot:
        ...
    ```

    Every replica receives every event; each conversation is owned by one replica at a
    time through a lease in Redis (taken if absent, with a TTL, renewed while the replica
    is connected), and only the owner's handlers see its events. A message is marked
    handled in Redis after the owner's handlers ran; a replica that takes a conversation
    over (its owner died: the lease expired; or stopped: it gave the lease away) first
    answers what the last owner never handled, in order. The guide: ``docs/guides/fleet.md``.

    Needs the ``fleet`` extra (redis-py): ``pip install 'vilnius-client[fleet]'``.

    Args:
        url: Redis's URL (``redis://host:port/db``, ``rediss://`` for TLS, ``unix://``).
        group: The fleet's name: replicas of one bot share it (the keys are
            ``vilnius:<group>:...``). Default: the agent id (on production, the agent
            user's id, known after the login).
        lease_ttl: Seconds a conversation stays with a replica that stopped renewing its
            lease (crashed, lost its connection): the longest takeover.
        renew_every: Seconds between renewals (default a third of ``lease_ttl``).
        idle_after: Seconds without an event after which an owned conversation's lease is
            given away (the next event goes to whichever replica claims it).
        position_ttl: Seconds a conversation's stored position is kept after it last moved.
        redis_timeout: Seconds one Redis command may take (default a quarter of
            ``lease_ttl``, at most one).
        start_timeout: Seconds ``connect()`` waits for Redis to answer at the start.
        waiting_limit: Events that may wait for one conversation to be claimed.

    Raises:
        ImportError: redis-py is not installed (the ``fleet`` extra).
        ValueError: A URL that is not Redis's, or times that do not fit together.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        group: str | None = None,
        lease_ttl: float = 10.0,
        renew_every: float | None = None,
        idle_after: float = 60.0,
        position_ttl: float = 7 * 24 * 3600.0,
        redis_timeout: float | None = None,
        start_timeout: float = 10.0,
        waiting_limit: int = DEFAULT_QUEUE_MAXSIZE,
    ) -> None:
        if not url.startswith(_SCHEMES):
            raise ValueError(f"not a Redis URL (redis://, rediss://, unix://): {url!r}")
        if lease_ttl <= 0 or idle_after <= 0 or position_ttl <= lease_ttl:
            raise ValueError("lease_ttl and idle_after must be positive, position_ttl longer")
        renew_every = lease_ttl / 3 if renew_every is None else renew_every
        if not 0 < renew_every < lease_ttl:
            raise ValueError("renew_every must be positive and shorter than lease_ttl")
        if group is not None and not group:
            raise ValueError("group must not be empty")
        if waiting_limit < 1:
            raise ValueError("waiting_limit must be at least 1")
        self.url = url
        self.group = group
        self.lease_ttl = lease_ttl
        self.renew_every = renew_every
        self.idle_after = idle_after
        self.position_ttl = position_ttl
        self.redis_timeout = min(1.0, lease_ttl / 4) if redis_timeout is None else redis_timeout
        self.start_timeout = start_timeout
        self.waiting_limit = waiting_limit
        #: Events are taken for this much less than a lease runs (this process's clock).
        self.margin = lease_ttl / 10
        #: Seconds between retries of a failed catch-up or Redis command.
        self.retry_interval = min(1.0, lease_ttl / 4)
        self.replica = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.logger = logging.getLogger("vilnius_client.fleet")
        self._store_class = _redis_store()
        self._store: RedisStore | None = None
        self._group: str | None = None  # the group in use (``group``, or the agent id)
        self._client: ClientBase | None = None
        self._gate: Gate | None = None
        self._redis_up = True
        self._epoch: str | None = None  # Redis's, as last seen
        self._grace_until = 0.0  # no claim before (Redis lost its data: owners re-assert)
        #: How often Redis was found to have lost its data.
        self.restarts = 0
        self._leader_until = 0.0
        self._wake = asyncio.Event()  # Redis back, or the connection changed
        self._connected = asyncio.Event()  # the client (re)connected: the keeper runs now
        self._marks: dict[str, Position] = {}
        self._marking: dict[str, Position] = {}
        self._marks_due = asyncio.Event()
        self._marks_done = asyncio.Event()
        self._marks_done.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = False

    @classmethod
    def from_env(cls, variable: str = ENVIRONMENT_VARIABLE, **options: Any) -> RedisFleet | None:
        """A fleet on the Redis URL in the environment variable ``variable``, or ``None``
        when it is unset or empty (the bot then runs alone): one argument turns a bot
        into a fleet, ``AgentClient(..., fleet=RedisFleet.from_env())``.

        Args:
            variable: The variable's name (default ``VILNIUS_FLEET``).
            **options: The other arguments of `RedisFleet`.
        """
        url = os.environ.get(variable, "")
        return cls(url, **options) if url else None

    # -- the client's side (vilnius_client._client.Fleet) ----------------------------

    def attach(self, client: ClientBase) -> None:
        """Serve ``client``: its gate goes in front of the client's dispatcher.

        Raises:
            StateError: This fleet serves another client already.
        """
        if self._client is not None:
            raise StateError("a RedisFleet serves one client: make one per client")
        recovery = client._recovery
        self._client = client
        self._gate = Gate(
            recovery.sink,
            self,
            event=recovery.event.value,
            waiting_limit=self.waiting_limit,
            logger=self.logger,
        )
        recovery.sink = self._gate
        recovery.polls = lambda: self.leading
        client.on_connection_change(self._changed)

    async def start(self) -> None:
        """Reach Redis (retried for ``start_timeout`` seconds) and start the tasks.

        Raises:
            FleetError: Redis did not answer in time.
        """
        if self._started:
            return
        self._started = True
        store = self._store = self._store_class(
            self.url,
            token=self.replica,
            ttl=self.lease_ttl,
            position_ttl=self.position_ttl,
            timeout=self.redis_timeout,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while True:
            try:
                await store.ping()
                break
            except FleetError as exc:
                if loop.time() >= deadline:
                    await store.aclose()
                    raise FleetError(f"cannot start the fleet: {exc}") from exc
                await asyncio.sleep(min(self.retry_interval, 0.5))
        self._tasks = [
            loop.create_task(self._keep(), name="vilnius-fleet-keeper"),
            loop.create_task(self._write_marks(), name="vilnius-fleet-marker"),
            loop.create_task(self._listen(), name="vilnius-fleet-listener"),
        ]

    def stop(self) -> None:
        """Take no more events (the client is disconnecting)."""
        self._stopped = True
        if self._gate is not None:
            self._gate.stop()

    async def aclose(self) -> None:
        """Store what was handled, give every lease away (the others take over at once),
        close the connections; idempotent."""
        self.stop()
        store, self._store = self._store, None
        tasks, self._tasks = self._tasks, []
        keeper = [task for task in tasks if task.get_name() != "vilnius-fleet-marker"]
        for task in keeper:
            task.cancel()
        await asyncio.gather(*keeper, return_exceptions=True)
        if self._gate is not None:
            await self._gate.wait_stopped()
        if store is None:
            return
        try:
            async with asyncio.timeout(self.redis_timeout * 4):
                await self._flush()
            if store.prefix and self._gate is not None:
                given = await store.release(self._gate.holds(), leader=True)
                await store.leave()
                self._gate.let_go()
                self._leader_until = 0.0
                self.logger.info("gave %d lease(s) away", given)
        except (TimeoutError, FleetError) as exc:
            why = str(exc) or type(exc).__name__
            self.logger.warning("could not give the leases away (they expire): %s", why)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await store.aclose()

    def reads(self, conversation_id: str) -> bool:
        """Whether this replica reads a listed conversation when it catches up (production):
        its own conversations, and on the leader those nobody owns."""
        gate = self._gate
        return gate is None or gate.reads(conversation_id, leading=self.leading)

    # -- status ------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        """Whether this replica does the fleet-wide work (the polling fallback, reading
        conversations nobody owns)."""
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return False
        return now < self._leader_until

    @property
    def counts(self) -> GateCounts:
        """What the gate did so far (leases taken over and lost, messages passed by)."""
        return self._gate.counts if self._gate is not None else GateCounts()

    def status(self) -> FleetStatus:
        """A snapshot of this replica's place in the fleet."""
        gate = self._gate
        return FleetStatus(
            group=self._group,
            replica=self.replica,
            redis=self._redis_up,
            leading=self.leading,
            holding=gate.holding if gate is not None else 0,
            waiting=gate.waiting if gate is not None else 0,
        )

    # -- what the gate asks (vilnius_client.fleet._gate.Coordination) -------------------

    async def ready(self) -> None:
        """Return once a claim may be tried: Redis answers, the replica is healthy, and
        no owner may still have to re-assert its leases (Redis lost its data)."""
        loop = asyncio.get_running_loop()
        while True:
            wait = self.retry_interval
            if self._redis_up and self._healthy() and self._group_known():
                if self._epoch is None:
                    try:
                        held = self._gate.holding if self._gate is not None else 0
                        renewal = await self._require_store().renew([], held=held)
                        self._learn_epoch(renewal.epoch)
                    except FleetError as exc:
                        self.failed(exc)
                    continue
                wait = self._grace_until - loop.time()
                if wait <= 0:
                    return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def claim(self, conversation_id: str) -> Claim:
        """Take a conversation's lease if free (after a grace if Redis lost its data).

        A replica two or more leases ahead of another one is told to wait (Redis counts
        them, `RedisStore`): it asks again about every `CLAIM_DEFER` seconds, and takes the
        lease anyway after `CLAIM_ROUNDS` answers (the other may be gone). A burst of new
        conversations is so spread over the fleet instead of going to whichever replica
        hears of them first; a replica alone takes them at once.
        """
        store = self._require_store()
        rounds = 0
        while True:
            held = self._gate.holding if self._gate is not None else 0
            force = rounds >= CLAIM_ROUNDS
            claim = await store.claim(conversation_id, self._epoch or "", held, force=force)
            self._learn_epoch(claim.epoch)
            if claim.kind == "restarted":
                await self.ready()
            elif claim.kind == "deferred":
                rounds += 1
                await asyncio.sleep(CLAIM_DEFER * random.uniform(0.5, 1.5))
            else:
                return claim

    def _learn_epoch(self, epoch: str) -> None:
        """Redis's epoch as just read: a new one means it lost its data (see the module
        docstring): no claim for a TTL, and what was handled here is stored again."""
        if self._epoch is None or not epoch:
            self._epoch = epoch or self._epoch
            return
        if epoch == self._epoch:
            return
        self._epoch = epoch
        self.restarts += 1
        self._grace_until = asyncio.get_running_loop().time() + self.lease_ttl
        self.logger.warning(
            "Redis lost its data (restarted?): no new conversation for %g s while the owners "
            "take their leases back",
            self.lease_ttl,
        )
        if self._gate is not None:
            for conversation_id, position in self._gate.positions().items():
                self.mark(conversation_id, position)

    def failed(self, error: FleetError) -> None:
        """A Redis call failed: report it once per outage; claims wait until it is back."""
        if self._stopped:
            return
        if self._redis_up:
            self._redis_up = False
            self.logger.warning("Redis is away; no new conversation until it is back: %s", error)
            self.report(error)

    def mark(self, conversation_id: str, position: Position) -> None:
        """Store a conversation's position (batched, in the background)."""
        self._marks[conversation_id] = position.merge(self._marks.get(conversation_id))
        self._marks_done.clear()
        self._marks_due.set()

    async def missed(self, conversation_id: str, after: Position) -> list[Message]:
        """The conversation's messages of the client's stream after ``after``, over REST."""
        client = self._require_client()
        capabilities = await client.rest.probe()
        path = client._recovery.path
        stream = Stream(
            senders=path.senders if path is not None else None,
            listing=not capabilities.seq_recovery,
        )
        # By seq, from just before ``after.at``: the messages at it may be missed too.
        cursor = max(after.at - 1, 0) if capabilities.seq else None
        return missed_in(await client._history(conversation_id, cursor), stream, after)

    def replayed(self, message: Message) -> Any:
        """A fetched message as the event it would have been (``replayed=True``)."""
        return self._require_client()._recovery._replayed(message)

    def report(self, error: BaseException) -> None:
        """Tell the client's error listeners."""
        self._require_client()._manager._report(error)

    # -- the background tasks ------------------------------------------------------------

    async def _keep(self) -> None:
        """Leader, renewals, idle leases, Redis's return; every ``renew_every`` seconds."""
        gate = self._require_gate()
        store = self._require_store()
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                if not self._redis_up:
                    await store.ping()
                    self._redis_up = True
                    self.logger.warning("Redis is back")
                    self._wake.set()
                if self._group_known():
                    leading, epoch = await store.lead()
                    self._learn_epoch(epoch)
                    self._leader_until = started + self.lease_ttl - self.margin if leading else 0
                    if self._healthy():
                        renewal = await store.renew(gate.held())
                        self._learn_epoch(renewal.epoch)
                        gate.renewed(renewal.results, started)
                    await self._give_idle_away(gate, store, loop.time())
                    gate.sweep(loop.time() - self.lease_ttl)
            except FleetError as exc:
                self.failed(exc)
            delay = self.renew_every if self._redis_up else min(self.renew_every, 0.25)
            self._connected.clear()
            with contextlib.suppress(TimeoutError):  # connected again: renew (and be known) now
                async with asyncio.timeout(max(0.0, delay - (loop.time() - started))):
                    await self._connected.wait()

    async def _give_idle_away(self, gate: Gate, store: RedisStore, now: float) -> None:
        idle = gate.idle(now - self.idle_after)
        if not idle:
            return
        try:
            await self._flush()
            await store.release(idle, leader=False)
        finally:
            gate.released(idle)

    async def _write_marks(self) -> None:
        """Store the positions marked, batched; kept and retried while Redis is away."""
        store = self._require_store()
        while True:
            await self._marks_due.wait()
            self._marks_due.clear()
            batch, self._marks = self._marks, {}
            self._marking = batch
            try:
                await store.mark(batch)
            except FleetError as exc:
                self.failed(exc)
                for key, position in batch.items():
                    self._marks[key] = position.merge(self._marks.get(key))
                self._marks_due.set()
                await asyncio.sleep(self.retry_interval)
            finally:
                self._marking = {}
            if not self._marks:
                self._marks_done.set()

    async def _flush(self) -> None:
        """Wait until every position marked so far is stored."""
        if self._marks or self._marking:
            await self._marks_done.wait()

    async def _listen(self) -> None:
        """Hear of the conversations other replicas give away."""
        gate = self._require_gate()
        store = self._require_store()
        while True:
            await self.ready()
            try:
                async for conversation_ids in store.released():
                    gate.freed(conversation_ids)
            except FleetError as exc:
                self.failed(exc)
                await asyncio.sleep(self.retry_interval)

    # -- helpers -----------------------------------------------------------------------

    def _changed(self, change: ConnectionChange) -> None:
        self._wake.set()
        if change.new is ConnectionState.CONNECTED:
            self._connected.set()

    def _healthy(self) -> bool:
        """Connected, or polling (which only the leader does)."""
        client = self._client
        if client is None:
            return False
        status = client.get_connection_status()
        return status.connected or status.mode == "polling"

    def _group_known(self) -> bool:
        """Whether the keys can be named (the group is the agent id by default)."""
        store = self._store
        if store is None:
            return False
        if not store.prefix:
            group = self.group or getattr(self._client, "agent_id", None)
            if not group:
                return False
            store.prefix = f"vilnius:{group}:"
            self._group = group
        return True

    def _require_client(self) -> ClientBase:
        if self._client is None:
            raise StateError("the fleet serves no client yet: pass it as AgentClient(fleet=)")
        return self._client

    def _require_gate(self) -> Gate:
        if self._gate is None:
            raise StateError("the fleet serves no client yet: pass it as AgentClient(fleet=)")
        return self._gate

    def _require_store(self) -> RedisStore:
        if self._store is None:
            raise StateError("the fleet is not started (the client connects it)")
        return self._store


def _redis_store() -> type[RedisStore]:
    """The Redis store's class, importing redis-py; one clear line when it is missing."""
    try:
        from ._store import RedisStore
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "redis":
            raise
        raise ModuleNotFoundError(
            f"RedisFleet needs redis-py (no module named {exc.name!r}); install it with:"
            f" {install_hint('fleet')}",
            name="redis",
        ) from None
    return RedisStore
