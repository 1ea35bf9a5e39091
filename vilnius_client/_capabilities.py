"""What a server offers: one `ServerCapabilities` value, consulted wherever an extra is used.

A server that follows the contract lists its features on ``GET /health``
(CONTRACT.md §0); the production server (Lizdeika, PRODUCTION.md) lists none and
has email/password login instead. The clients derive one value from that answer
when they start (or take the one they are told, ``server="vilnius"`` /
``"lizdeika"``) and every feature asks it, never "is this production?" (asyncpg's
``ServerCapabilities`` and redis-py's RESP2/RESP3 work the same way).

What each field changes (the ``without`` side is production's):

* ``acks``: joins wait for their acknowledgement; without, a join is done
  when sent, and one ``request-current-state`` answer confirms the joins.
* ``seq``: de-duplication by seq and ``last_seq``; without, de-duplication by
  message id and ``last_message_at`` (the server's timestamps).
* ``catch_up``: agents recover with ``GET /api/messages?after=``; without, from
  ``GET /api/admin/conversations`` and each changed conversation's messages.
* ``idempotency``: sends are retried after ambiguous failures under one key;
  without, only when the server surely did not act (the error says which).
* ``agent_token``: ``agent_key`` is traded for a token; without, it is refused.
* ``customer_token``: customers keep their conversation's token.
* ``error_event``: bad input is answered with ``error-event`` (the SDK does not
  depend on it; it validates what it sends).
* ``user_login``: ``email``/``password`` log in (JWTs, refreshed); without, refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from .events import HealthResponse, PersonalStatus

__all__ = ["CONTRACT_FEATURES", "ServerCapabilities", "ServerKind", "resolve_server"]

ServerKind = Literal["auto", "vilnius", "lizdeika"]
"""``"auto"``: ask ``GET /health``; ``"vilnius"``: a contract server; ``"lizdeika"``: production."""

CONTRACT_FEATURES = frozenset(
    {"acks", "seq", "catch-up", "idempotency", "agent-token", "customer-token", "error-event"}
)
"""Every feature CONTRACT.md §0 defines; each sets the `ServerCapabilities` field of its
name in snake_case (``catch-up``: ``catch_up``)."""


@dataclass(frozen=True)
class ServerCapabilities:
    """What one server offers (CONTRACT.md §0), as the SDK consults it.

    Build one with [`contract`][], [`production`][] or [`from_health`][];
    ``dataclasses.replace(caps, acks=False)`` switches one feature off.

    Attributes:
        name: ``"vilnius"`` (or the contract name a server announces) or
            ``"lizdeika"`` (production). For display only: nothing branches on it.
        acks: Client -> server events are acknowledged.
        seq: Stored messages carry ``seq``.
        catch_up: ``GET /api/messages?after=`` exists.
        idempotency: ``Idempotency-Key`` is honoured on the sends.
        agent_token: ``POST /api/auth/agent-token`` trades an agent key for a token.
        customer_token: Creating a conversation answers a customer token.
        error_event: Bad socket input is answered with ``error-event``.
        user_login: Agents log in with e-mail and password
            (``POST /api/auth/login``, ``/api/auth/refresh``).
        away_status: The personal status that means "away": ``afk`` on the
            contract, ``offline`` on production.
    """

    name: str
    acks: bool
    seq: bool
    catch_up: bool
    idempotency: bool
    agent_token: bool
    customer_token: bool
    error_event: bool
    user_login: bool
    away_status: PersonalStatus

    @classmethod
    def contract(
        cls, features: frozenset[str] | set[str] = CONTRACT_FEATURES, *, name: str = "vilnius"
    ) -> ServerCapabilities:
        """A contract server offering ``features`` (by default all of them)."""
        on = {_field(feature): feature in features for feature in CONTRACT_FEATURES}
        return cls(name=name, user_login=False, away_status=PersonalStatus.AFK, **on)

    @classmethod
    def production(cls) -> ServerCapabilities:
        """The production server (PRODUCTION.md): no extra, e-mail/password login."""
        return cls(
            name="lizdeika",
            acks=False,
            seq=False,
            catch_up=False,
            idempotency=False,
            agent_token=False,
            customer_token=False,
            error_event=False,
            user_login=True,
            away_status=PersonalStatus.OFFLINE,
        )

    @classmethod
    def from_health(cls, health: HealthResponse) -> ServerCapabilities:
        """What a ``GET /health`` answer says: its ``contract`` features, or production."""
        if health.contract is None:
            return cls.production()
        return cls.contract(frozenset(health.contract.features), name=health.contract.name)

    @property
    def features(self) -> frozenset[str]:
        """The contract features on, by their CONTRACT.md names."""
        return frozenset(f for f in CONTRACT_FEATURES if getattr(self, _field(f)))

    @property
    def seq_recovery(self) -> bool:
        """Whether agents can recover by seq (``seq`` and ``catch-up`` both on)."""
        return self.seq and self.catch_up

    def replace(self, **changes: bool | str | PersonalStatus) -> ServerCapabilities:
        """A copy with some fields changed (``caps.replace(acks=False)``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _field(feature: str) -> str:
    """The `ServerCapabilities` field a contract feature sets."""
    return feature.replace("-", "_")


def resolve_server(server: ServerKind | ServerCapabilities) -> ServerCapabilities | None:
    """The capabilities ``server`` names, or ``None`` for ``"auto"`` (ask ``GET /health``).

    Raises:
        ValueError: ``server`` is none of the accepted values.
    """
    if isinstance(server, ServerCapabilities):
        return server
    if server == "auto":
        return None
    if server == "vilnius":
        return ServerCapabilities.contract()
    if server == "lizdeika":
        return ServerCapabilities.production()
    raise ValueError(
        f"server must be 'auto', 'vilnius', 'lizdeika' or ServerCapabilities: {server!r}"
    )
