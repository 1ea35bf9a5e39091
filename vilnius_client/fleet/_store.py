"""The fleet's state in Redis: leases, positions, the leader, and the releases channel.

The only module that imports redis-py (its asyncio client). Every change is one Lua script,
so that what a replica reads and what it writes are one step for Redis (a lease is taken
only if absent, renewed or given away only by its holder, a position only moves forward).

Keys, for a group ``G``:

* ``vilnius:G:lease:<conversation>``: the token of the replica that owns the conversation
  (a string with a TTL);
* ``vilnius:G:pos:<conversation>``: the conversation's `Position` (a hash of ``at`` and
  ``ids``, kept ``position_ttl`` after it last moved);
* ``vilnius:G:leader``: the token of the replica that does the fleet-wide work (a TTL);
* ``vilnius:G:released``: a pub/sub channel: the leases a stopping replica gave away;
* ``vilnius:G:load``: a hash, per replica the leases it holds (counted by its claims and
  renewals) and when it was last heard of: a replica two or more leases ahead of another
  is told to wait (``"deferred"``), so that new conversations are spread over the fleet;
* ``vilnius:G:epoch``: a random value set by the first replica that finds it missing. A
  Redis that lost its data (restarted without persistence, a failover to a replica that
  lagged) has a new one: a claim made with the old one is refused (``"restarted"``), so
  that the replicas wait for the owners to re-assert their leases before claiming.

Every failure to reach Redis is raised as `FleetError` (temporary).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..errors import FleetError
from ._book import Position
from ._gate import Claim, ClaimKind

__all__ = ["RedisStore", "Renewal"]

_SEPARATOR = "\n"  # between the ids of a position (ids are never multi-line)

# The epoch: KEYS[e] holds it; ARGV[c] is the value set when it is missing.
_EPOCH = """
local epoch = redis.call('GET', KEYS[%(e)d])
if not epoch then
  epoch = ARGV[%(c)d]
  redis.call('SET', KEYS[%(e)d], epoch)
end
"""

# The load: KEYS[l] is the hash of "<leases held> <ms of the last renewal>" per replica
# (ARGV[1]); ``now`` and ``ttl`` are ms. Forgets replicas silent for 3 TTLs; ``least`` is
# the fewest leases another replica heard from within 2 TTLs holds (-1: none).
_LEAST = """
local least = -1
local loads = redis.call('HGETALL', KEYS[%(l)d])
for i = 1, #loads, 2 do
  local held, at = string.match(loads[i + 1], '^(%%d+) (%%d+)$')
  if not at or now - tonumber(at) > 3 * ttl then
    redis.call('HDEL', KEYS[%(l)d], loads[i])
  elseif loads[i] ~= ARGV[1] and now - tonumber(at) <= 2 * ttl then
    if least < 0 or tonumber(held) < least then
      least = tonumber(held)
    end
  end
end
"""

# KEYS: lease, position, epoch, load. ARGV: token, ttl ms, epoch known, epoch candidate, now ms,
# leases held, force (1/0). Notes this replica's load: the leases it holds (by its count, or by
# the claims it took since, whichever is more), one more if it takes this one. A free lease is
# not taken (4: deferred) by a replica holding two or more leases beyond another one, unless
# forced.
# -> {kind (1 ours already, 2 taken now, 0 elsewhere, 3 the epoch changed: not taken,
#     4 deferred), at, ids, pttl of the holder's lease, epoch, least (see _LEAST)}
_CLAIM = (
    _EPOCH % {"e": 3, "c": 4}
    + """
local now = tonumber(ARGV[5])
local ttl = tonumber(ARGV[2])
"""
    + _LEAST % {"l": 4}
    + """
local count = tonumber(ARGV[6])
local mine = redis.call('HGET', KEYS[4], ARGV[1])
if mine then
  local counted = tonumber(string.match(mine, '^(%d+) '))
  if counted and counted > count then
    count = counted
  end
end
redis.call('HSET', KEYS[4], ARGV[1], count .. ' ' .. ARGV[5])
if epoch ~= ARGV[3] then
  return {3, '', '', 0, epoch, least}
end
local owner = redis.call('GET', KEYS[1])
local at = redis.call('HGET', KEYS[2], 'at') or ''
local ids = redis.call('HGET', KEYS[2], 'ids') or ''
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, at, ids, 0, epoch, least}
elseif owner then
  return {0, at, ids, redis.call('PTTL', KEYS[1]), epoch, least}
end
if ARGV[7] ~= '1' and least >= 0 and count >= least + 2 then
  return {4, at, ids, 0, epoch, least}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], (count + 1) .. ' ' .. ARGV[5])
return {2, at, ids, 0, epoch, least}
"""
)

# KEYS: epoch, load, leases... ARGV: token, ttl ms, epoch candidate, leases held, now ms.
# Notes this replica's load (leases held), forgets replicas silent for 3 TTLs.
# -> {epoch, least (see _LEAST), per lease: 1 renewed, 2 set again (it was gone: Redis lost
#     it), 0 lost (another replica holds it)}
_RENEW = (
    _EPOCH % {"e": 1, "c": 3}
    + """
local now = tonumber(ARGV[5])
local ttl = tonumber(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4] .. ' ' .. ARGV[5])
"""
    + _LEAST % {"l": 2}
    + """
local out = {epoch, least}
for i = 3, #KEYS do
  local key = KEYS[i]
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  elseif owner then
    out[i] = 0
  else
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 2
  end
end
return out
"""
)

# KEYS: leader, epoch. ARGV: token, ttl ms, epoch candidate. -> {1 leading / 0 not, epoch}
_LEAD = (
    _EPOCH % {"e": 2, "c": 3}
    + """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] or not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, epoch}
end
return {0, epoch}
"""
)

# KEYS: position. ARGV: at, ids (separated), ttl ms. The position only moves forward.
_MARK = """
local at = tonumber(ARGV[1])
local stored = redis.call('HGET', KEYS[1], 'at')
if not stored or at > tonumber(stored) then
  redis.call('HSET', KEYS[1], 'at', ARGV[1], 'ids', ARGV[2])
elseif at == tonumber(stored) and ARGV[2] ~= '' then
  local ids = redis.call('HGET', KEYS[1], 'ids') or ''
  local known = '\\n' .. ids .. '\\n'
  for id in string.gmatch(ARGV[2], '[^\\n]+') do
    if not string.find(known, '\\n' .. id .. '\\n', 1, true) then
      if ids == '' then ids = id else ids = ids .. '\\n' .. id end
      known = known .. id .. '\\n'
    end
  end
  redis.call('HSET', KEYS[1], 'ids', ids)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: leases (and the leader). ARGV: token, channel. Deletes those held by the token and
# publishes the conversation ids among them. -> how many were held.
_RELEASE = """
local gone = {}
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    table.insert(gone, key)
  end
end
if #gone > 0 then
  redis.call('PUBLISH', ARGV[2], table.concat(gone, '\\n'))
end
return #gone
"""

_BATCH = 500  # keys per script call


@dataclass(frozen=True)
class Renewal:
    """What a renewal found.

    Attributes:
        epoch: Redis's epoch.
        results: Per conversation: 1 renewed, 2 set again (Redis had lost it), 0 lost.
    """

    epoch: str
    results: dict[str, int]


def _now_ms() -> int:
    """This host's clock in epoch ms (replicas silent for long are forgotten by it)."""
    return int(time.time() * 1000)


def _candidate() -> str:
    """A new epoch, should Redis have none."""
    return secrets.token_hex(8)


def _position(at: Any, ids: Any) -> Position | None:
    if at in ("", None):
        return None
    names = frozenset(name for name in str(ids or "").split(_SEPARATOR) if name)
    return Position(int(at), names)


class RedisStore:
    """The Lua scripts and connections of one replica (see the module docstring).

    Args:
        url: ``redis://`` URL (``rediss://`` for TLS, ``unix://`` for a socket).
        token: This replica's lease value.
        ttl: Lease time-to-live, seconds.
        position_ttl: How long a conversation's position is kept after its last change.
        timeout: Seconds one Redis command may take (connect included).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str,
        ttl: float,
        position_ttl: float,
        timeout: float,
    ) -> None:
        self.url = url
        #: The group's key prefix, ``vilnius:<group>:`` (set once the group is known).
        self.prefix = ""
        self.token = token
        self._ttl_ms = max(1, round(ttl * 1000))
        self._position_ttl_ms = max(1, round(position_ttl * 1000))
        self._redis: Any = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # the fleet decides what to retry, and when
        )
        self._claim = self._redis.register_script(_CLAIM)
        self._renew = self._redis.register_script(_RENEW)
        self._lead = self._redis.register_script(_LEAD)
        self._mark = self._redis.register_script(_MARK)
        self._release = self._redis.register_script(_RELEASE)

    @property
    def channel(self) -> str:
        """The releases channel."""
        return f"{self.prefix}released"

    def lease_key(self, conversation_id: str) -> str:
        """The key of a conversation's lease."""
        return f"{self.prefix}lease:{conversation_id}"

    def position_key(self, conversation_id: str) -> str:
        """The key of a conversation's position."""
        return f"{self.prefix}pos:{conversation_id}"

    @property
    def leader_key(self) -> str:
        """The key of the leader's lease."""
        return f"{self.prefix}leader"

    @property
    def load_key(self) -> str:
        """The key of the replicas' loads."""
        return f"{self.prefix}load"

    @property
    def epoch_key(self) -> str:
        """The key of the epoch."""
        return f"{self.prefix}epoch"

    def _failed(self, what: str, exc: BaseException) -> FleetError:
        return FleetError(f"Redis at {self.url}: {what} failed: {exc}")

    async def ping(self) -> None:
        """Check that Redis answers.

        Raises:
            FleetError: It does not.
        """
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise self._failed("PING", exc) from exc

    async def claim(
        self, conversation_id: str, epoch: str, held: int, *, force: bool = False
    ) -> Claim:
        """Take a conversation's lease if nobody holds it (renew it if we do), unless the
        epoch is no longer ``epoch`` (Redis lost its data: ``"restarted"``), or another
        replica holds fewer leases (``"deferred"``, unless ``force``); ``held``: the
        leases this replica holds (its load, for the others)."""
        keys = [
            self.lease_key(conversation_id),
            self.position_key(conversation_id),
            self.epoch_key,
            self.load_key,
        ]
        args: list[str | int] = [
            self.token,
            self._ttl_ms,
            epoch,
            _candidate(),
            _now_ms(),
            held,
            1 if force else 0,
        ]
        try:
            kind, at, ids, pttl, now, _least = await self._claim(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise self._failed("a claim", exc) from exc
        position = _position(at, ids)
        kinds: dict[int, ClaimKind] = {
            0: "elsewhere",
            1: "ours",
            2: "taken",
            3: "restarted",
            4: "deferred",
        }
        expires_in = max(int(pttl), 0) / 1000
        return Claim(kinds[int(kind)], position, expires_in, str(now))

    async def renew(self, conversation_ids: Sequence[str], *, held: int | None = None) -> Renewal:
        """Renew these leases (setting those Redis lost again) and note this replica's load
        (``held``, default: as many leases as it renews)."""
        results: dict[str, int] = {}
        epoch = ""
        now = _now_ms()
        try:
            for start in range(0, max(len(conversation_ids), 1), _BATCH):
                batch = conversation_ids[start : start + _BATCH]
                keys = [self.epoch_key, self.load_key, *(self.lease_key(cid) for cid in batch)]
                args: list[str | int] = [
                    self.token,
                    self._ttl_ms,
                    _candidate(),
                    len(conversation_ids) if held is None else held,
                    now,
                ]
                answer = await self._renew(keys=keys, args=args)
                epoch = str(answer[0])  # then the fewest leases of another replica
                results.update(zip(batch, (int(value) for value in answer[2:]), strict=True))
        except (RedisError, OSError) as exc:
            raise self._failed("renewing leases", exc) from exc
        return Renewal(epoch, results)

    async def leave(self) -> None:
        """Take this replica's load off the fleet's (it stops)."""
        try:
            await self._redis.hdel(self.load_key, self.token)
        except (RedisError, OSError) as exc:
            raise self._failed("leaving", exc) from exc

    async def lead(self) -> tuple[bool, str]:
        """Take or renew the leader's lease: whether this replica leads, and the epoch."""
        keys = [self.leader_key, self.epoch_key]
        try:
            leading, epoch = await self._lead(
                keys=keys, args=[self.token, self._ttl_ms, _candidate()]
            )
        except (RedisError, OSError) as exc:
            raise self._failed("the leader's lease", exc) from exc
        return int(leading) == 1, str(epoch)

    async def mark(self, positions: Mapping[str, Position]) -> None:
        """Store conversations' positions (each only moves forward), in one round trip."""
        if not positions:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for conversation_id, position in positions.items():
                    await self._mark(
                        keys=[self.position_key(conversation_id)],
                        args=[
                            position.at,
                            _SEPARATOR.join(sorted(position.ids)),
                            self._position_ttl_ms,
                        ],
                        client=pipe,
                    )
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._failed("storing positions", exc) from exc

    async def release(self, conversation_ids: Iterable[str], *, leader: bool) -> int:
        """Give leases away (those this replica holds) and tell the others; how many."""
        keys = [self.lease_key(cid) for cid in conversation_ids]
        if leader:
            keys.append(self.leader_key)
        released = 0
        try:
            for start in range(0, len(keys), _BATCH):
                batch = keys[start : start + _BATCH]
                released += int(await self._release(keys=batch, args=[self.token, self.channel]))
        except (RedisError, OSError) as exc:
            raise self._failed("releasing leases", exc) from exc
        return released

    async def released(self) -> AsyncIterator[list[str]]:
        """The conversation ids other replicas give away, as they are published.

        Raises:
            FleetError: The subscription broke (Redis went away).
        """
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        lease_prefix = f"{self.prefix}lease:"
        try:
            await pubsub.subscribe(self.channel)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                keys = str(message.get("data", "")).split("\n")
                yield [key[len(lease_prefix) :] for key in keys if key.startswith(lease_prefix)]
        except (RedisError, OSError) as exc:
            raise self._failed("the releases channel", exc) from exc
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()
