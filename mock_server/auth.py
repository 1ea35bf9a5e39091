"""Tokens and permissions (CONTRACT.md §8).

Tokens are HMAC-SHA256 signed and self-contained:

```text
base64url(json claims) "." base64url(signature)
```

Agent tokens carry ``{"kind": "agent", "sub": agentId, "exp": epoch seconds}``;
customer tokens ``{"kind": "customer", "sub": conversationId, "exp": ...}``. The
signing secret lives in the database, so tokens stay valid across a restart on
the same file. Agent tokens are signed with a key derived from that secret and the
agent key, so a server started with another agent key refuses every agent token
issued under the old one (rotating the key revokes them); customer tokens do not
depend on the agent key.

Every check goes through an ``Identity``. In auth mode ``none`` every caller
is ``OPEN`` and every check passes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from vilnius_client.events import ErrorCode

from .errors import ServiceError

__all__ = [
    "AGENT_TOKEN_TTL",
    "ANONYMOUS",
    "CUSTOMER_TOKEN_TTL",
    "OPEN",
    "Identity",
    "TokenSigner",
]

AGENT_TOKEN_TTL = 24 * 3600
"""Lifetime of an agent token, in seconds."""

CUSTOMER_TOKEN_TTL = 30 * 24 * 3600
"""Lifetime of a customer token, in seconds."""

Kind = Literal["open", "anonymous", "agent", "customer"]


@dataclass(frozen=True)
class Identity:
    """Who is calling: an agent, a customer of one conversation, nobody, or anyone.

    Attributes:
        kind: ``open`` (auth mode ``none``: everything allowed), ``anonymous``
            (no token), ``agent`` or ``customer``.
        subject: The agent id, or the conversation id of a customer.
    """

    kind: Kind
    subject: str | None = None

    def require_authenticated(self) -> None:
        """Refuse callers without a token."""
        if self.kind == "anonymous":
            raise ServiceError(ErrorCode.UNAUTHORIZED, "a bearer token is required")

    def require_agent(self, agent_id: str | None = None) -> None:
        """Allow agents only (and, if given, only the agent ``agent_id``)."""
        self.require_authenticated()
        if self.kind == "open":
            return
        if self.kind != "agent":
            raise ServiceError(ErrorCode.FORBIDDEN, "only agents may do this")
        if agent_id is not None and agent_id != self.subject:
            raise ServiceError(ErrorCode.FORBIDDEN, f"this token belongs to agent {self.subject!r}")

    def require_conversation(self, conversation_id: str) -> None:
        """Allow agents, and the customer of ``conversation_id``."""
        self.require_authenticated()
        if self.kind == "customer" and self.subject != conversation_id:
            raise ServiceError(ErrorCode.FORBIDDEN, "this token belongs to another conversation")


OPEN = Identity("open")
"""The caller in auth mode ``none``."""

ANONYMOUS = Identity("anonymous")
"""A caller without a token in auth mode ``token``."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


TokenKind = Literal["agent", "customer"]


class TokenSigner:
    """Issues and verifies signed tokens.

    Args:
        secret: The HMAC key (keep it for tokens to survive a restart).
        agent_key: The agent key; agent tokens are signed with a key derived from it
            and ``secret``, so that another agent key revokes them.
    """

    def __init__(self, secret: bytes, agent_key: str | None = None) -> None:
        agent = secret
        if agent_key is not None:
            material = b"agent-key:" + agent_key.encode("utf-8", "surrogatepass")
            agent = hmac.new(secret, material, hashlib.sha256).digest()
        self._keys: dict[str, bytes] = {"agent": agent, "customer": secret}

    @staticmethod
    def new_secret() -> bytes:
        """Return a fresh random signing secret."""
        return secrets.token_bytes(32)

    def _sign(self, kind: TokenKind, body: str) -> str:
        digest = hmac.new(self._keys[kind], body.encode("ascii"), hashlib.sha256).digest()
        return _b64encode(digest)

    def issue(self, kind: TokenKind, subject: str, ttl: int) -> tuple[str, int]:
        """Return a token for ``subject`` and its expiry (epoch seconds)."""
        expires = int(time.time()) + ttl
        claims = {"kind": kind, "sub": subject, "exp": expires}
        body = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{self._sign(kind, body)}", expires

    def verify(self, token: object) -> Identity:
        """Return the identity a token proves.

        Raises:
            ServiceError: ``unauthorized`` for a malformed, forged or expired token.
        """
        if (
            not isinstance(token, str)
            or not token.isascii()  # our tokens are base64url; anything else is no token
            or token.count(".") != 1
            or len(token) > 4096
        ):
            raise ServiceError(ErrorCode.UNAUTHORIZED, "malformed token")
        body, signature = token.split(".")
        try:  # the claims say which key signed them; nothing else is believed unsigned
            claims = json.loads(_b64decode(body))
            kind, subject, expires = claims["kind"], claims["sub"], claims["exp"]
        except (ValueError, binascii.Error, KeyError, TypeError, RecursionError) as exc:
            raise ServiceError(ErrorCode.UNAUTHORIZED, "malformed token") from exc
        if kind not in ("agent", "customer") or not isinstance(subject, str):
            raise ServiceError(ErrorCode.UNAUTHORIZED, "malformed token")
        if not hmac.compare_digest(self._sign(kind, body), signature):
            raise ServiceError(ErrorCode.UNAUTHORIZED, "invalid token")
        if not isinstance(expires, int) or expires < time.time():
            raise ServiceError(ErrorCode.UNAUTHORIZED, "token expired")
        return Identity(kind, subject)

    @staticmethod
    def parse_bearer(header: str | None) -> str | None:
        """Return the token of an ``Authorization: Bearer`` header, or ``None``."""
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ServiceError(ErrorCode.UNAUTHORIZED, "expected 'Authorization: Bearer <token>'")
        return token.strip()
