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
* ``vilnius:G:released``: a pub/sub channel: the leases a stopping replica gave away.

Every failure to reach Redis is raised as `FleetError` (temporary).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..errors import FleetError
from ._book import Position
from ._gate import Claim

__all__ = ["RedisStore"]

_SEPARATOR = "\n"  # between the ids of a position (ids are never multi-line)

# KEYS: lease, position. ARGV: token, ttl ms.
# -> {kind (1 ours already, 2 taken now, 0 elsewhere), at, ids, pttl of the holder's lease}
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
local at = redis.call('HGET', KEYS[2], 'at') or ''
local ids = redis.call('HGET', KEYS[2], 'ids') or ''
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, at, ids, 0}
elseif owner then
  return {0, at, ids, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {2, at, ids, 0}
"""

# KEYS: leases. ARGV: token, ttl ms. -> per lease: 1 renewed, 2 set again (it was gone: Redis
# lost it), 0 lost (another replica holds it).
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
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

# KEYS: leader. ARGV: token, ttl ms. -> 1 leading, 0 another replica leads.
_LEAD = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] or not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

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

    async def claim(self, conversation_id: str) -> Claim:
        """Take a conversation's lease if nobody holds it (renew it if we do)."""
        keys = [self.lease_key(conversation_id), self.position_key(conversation_id)]
        try:
            kind, at, ids, pttl = await self._claim(keys=keys, args=[self.token, self._ttl_ms])
        except (RedisError, OSError) as exc:
            raise self._failed("a claim", exc) from exc
        position = _position(at, ids)
        if int(kind) == 0:
            return Claim("elsewhere", position, max(int(pttl), 0) / 1000)
        return Claim("ours" if int(kind) == 1 else "taken", position)

    async def renew(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """Renew these leases: per conversation 1 (renewed), 2 (set again), 0 (lost)."""
        results: dict[str, int] = {}
        try:
            for start in range(0, len(conversation_ids), _BATCH):
                batch = conversation_ids[start : start + _BATCH]
                keys = [self.lease_key(cid) for cid in batch]
                answer = await self._renew(keys=keys, args=[self.token, self._ttl_ms])
                results.update(zip(batch, (int(value) for value in answer), strict=True))
        except (RedisError, OSError) as exc:
            raise self._failed("renewing leases", exc) from exc
        return results

    async def lead(self) -> bool:
        """Take or renew the leader's lease; whether this replica leads."""
        try:
            answer = await self._lead(keys=[self.leader_key], args=[self.token, self._ttl_ms])
            return int(answer) == 1
        except (RedisError, OSError) as exc:
            raise self._failed("the leader's lease", exc) from exc

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
