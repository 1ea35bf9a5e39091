"""Agent users and their JWTs: production's email/password login (profile ``lizdeika``).

Agents there are users: an e-mail, a password (hashed here with scrypt), optionally a TOTP
secret, and a UUID that is the agent id on sockets and in REST bodies. They are seeded at
start (``--agent-user EMAIL:PASSWORD[:NAME]`` or ``--agent-users FILE``) and kept in the
database, so a user keeps its UUID across restarts.

Tokens are JWTs signed with HS256 (PyJWT) like production's: access tokens carry
``{sub, email, role, iat, exp}`` with issuer ``lizdeika`` and audience ``lizdeika-users``
and last 15 minutes; refresh tokens carry ``{jti, sub, iat, exp}`` with audience
``lizdeika-refresh`` and last 7 days, and are stored so that they can be rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pyotp

__all__ = [
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "AgentUser",
    "JwtIssuer",
    "TokenError",
    "User",
    "display_name",
    "hash_password",
    "load_agent_users",
    "parse_agent_user",
    "verify_password",
]

ACCESS_TOKEN_TTL = 15 * 60
"""Production's access token lifetime (``JWT_ACCESS_EXPIRES_IN`` = 15m), in seconds."""

REFRESH_TOKEN_TTL = 7 * 24 * 3600
"""Production's refresh token lifetime (7 days), in seconds."""

ISSUER = "lizdeika"
ACCESS_AUDIENCE = "lizdeika-users"
REFRESH_AUDIENCE = "lizdeika-refresh"


@dataclass(frozen=True)
class AgentUser:
    """An agent user to seed.

    Attributes:
        email: The login (stored lower-case, as production's validation makes it).
        password: The password.
        name: Display name (default: the e-mail's local part).
        totp_secret: A base32 TOTP secret: login then needs ``totpCode``.
        role: ``agent`` or ``admin``.

    The password and the TOTP secret are left out of ``repr``, so a logged user shows
    neither.
    """

    email: str
    password: str = field(repr=False)
    name: str | None = None
    totp_secret: str | None = field(default=None, repr=False)
    role: str = "agent"


@dataclass(frozen=True)
class User:
    """A stored user."""

    id: str
    email: str
    password_hash: str
    name: str
    role: str
    totp_secret: str | None
    created_at: str

    def public(self) -> dict[str, Any]:
        """What login answers as ``data.user`` (production's user row without secrets)."""
        first, _, last = self.name.partition(" ")
        return {
            "id": self.id,
            "email": self.email,
            "first_name": first,
            "last_name": last,
            "role": self.role,
            "is_active": True,
            "email_verified": False,
            "created_at": self.created_at,
            "totp_enabled": self.totp_secret is not None,
        }

    def check_totp(self, code: str) -> bool:
        """Whether ``code`` is the user's current TOTP code (one step of clock drift)."""
        if self.totp_secret is None:
            return False
        return pyotp.TOTP(self.totp_secret).verify(code, valid_window=1)


def parse_agent_user(text: str) -> AgentUser:
    """Parse ``EMAIL:PASSWORD[:NAME]`` (the password may not contain ``:`` here).

    Raises:
        ValueError: No e-mail or no password.
    """
    email, _, rest = text.partition(":")
    password, _, name = rest.partition(":")
    if "@" not in email or not password:
        raise ValueError(f"expected EMAIL:PASSWORD[:NAME], got {text!r}")
    return AgentUser(email=email.strip().lower(), password=password, name=name or None)


def load_agent_users(path: str | Path) -> list[AgentUser]:
    """Read agent users from a JSON list of ``{email, password, name?, totpSecret?, role?}``.

    Raises:
        ValueError: The file is not such a list.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of users")
    users = []
    for entry in data:
        if not isinstance(entry, dict) or "email" not in entry or "password" not in entry:
            raise ValueError(f"{path}: every user needs an email and a password: {entry!r}")
        totp = entry.get("totpSecret")
        if totp is not None:
            pyotp.TOTP(totp).now()  # refuse a secret that is not base32 now, not at login
        users.append(
            AgentUser(
                email=str(entry["email"]).strip().lower(),
                password=str(entry["password"]),
                name=entry.get("name"),
                totp_secret=totp,
                role=str(entry.get("role", "agent")),
            )
        )
    return users


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``."""
    salt = secrets.token_bytes(16)
    return f"scrypt${salt.hex()}${_scrypt(password, salt).hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``hash_password`` hash."""
    try:
        _, salt, digest = stored.split("$")
        computed = _scrypt(password, bytes.fromhex(salt))
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(computed.hex(), digest)


def display_name(agent_id: str) -> str:
    """The name production shows for an agent id (it derives it from the id, here a UUID)."""
    lowered = agent_id.lower()
    if "admin" in lowered:
        return "Admin User"
    if "agent" in lowered:
        return "Agent User"
    local = agent_id.split("@")[0]
    return local[:1].upper() + local[1:].translate(_SPACES)


_SPACES = str.maketrans({"_": " ", ".": " ", "-": " "})


def new_user_id() -> str:
    """A fresh user UUID."""
    return str(uuid.uuid4())


class TokenError(Exception):
    """A token was refused; the message is what production answers."""


class JwtIssuer:
    """Issues and checks production-shaped JWTs.

    Args:
        secret: The HMAC key (kept in the database so tokens survive a restart).
        access_ttl: Access token lifetime, in seconds.
        refresh_ttl: Refresh token lifetime, in seconds.
    """

    def __init__(self, secret: str, access_ttl: int, refresh_ttl: int) -> None:
        self._access_key = secret + ":access"
        self._refresh_key = secret + ":refresh"
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def access_token(self, user: User) -> str:
        """A signed access token for ``user``."""
        now = int(time.time())
        claims = {
            "sub": user.id,
            "email": user.email,
            "role": user.role,
            "iat": now,
            "exp": now + self.access_ttl,
            "iss": ISSUER,
            "aud": ACCESS_AUDIENCE,
        }
        return jwt.encode(claims, self._access_key, algorithm="HS256")

    def refresh_token(self, user_id: str) -> tuple[str, str, int]:
        """A signed refresh token: ``(token, jti, expires at epoch seconds)``."""
        now = int(time.time())
        jti = str(uuid.uuid4())
        claims = {
            "jti": jti,
            "sub": user_id,
            "iat": now,
            "exp": now + self.refresh_ttl,
            "iss": ISSUER,
            "aud": REFRESH_AUDIENCE,
        }
        return jwt.encode(claims, self._refresh_key, algorithm="HS256"), jti, now + self.refresh_ttl

    def verify_access(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token.

        Raises:
            TokenError: ``Access token expired`` or ``Invalid access token``.
        """
        try:
            return self._decode(token, self._access_key, ACCESS_AUDIENCE)
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("Access token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("Invalid access token") from exc

    def verify_refresh(self, token: str) -> dict[str, Any]:
        """The claims of a valid refresh token.

        Raises:
            TokenError: ``Invalid refresh token`` (production says so for expired ones too).
        """
        try:
            return self._decode(token, self._refresh_key, REFRESH_AUDIENCE)
        except jwt.PyJWTError as exc:
            raise TokenError("Invalid refresh token") from exc

    @staticmethod
    def _decode(token: str, key: str, audience: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["HS256"], audience=audience, issuer=ISSUER
        )
        return claims
