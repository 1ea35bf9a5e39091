"""The ``users`` and ``refresh_tokens`` tables (profile ``lizdeika``: agents are users)."""

from __future__ import annotations

from ..users import User
from .journal import Table

__all__ = ["RefreshTokens", "Users"]

_COLUMNS = "id, email, password_hash, name, role, totp_secret, created_at"


class Users(Table):
    """Every agent user, in memory, in the order they were created."""

    _by_id: dict[str, User]

    async def load(self) -> None:
        """(Re)read the table."""
        sql = f"SELECT {_COLUMNS} FROM users ORDER BY created_at, rowid"
        self._by_id = {str(row[0]): User(*row) for row in await self._db.execute_fetchall(sql)}

    def all(self) -> list[User]:
        """Every user, in the order they were created."""
        return list(self._by_id.values())

    def get(self, user_id: str) -> User | None:
        """One user by id, or ``None``."""
        return self._by_id.get(user_id)

    def save(self, user: User) -> None:
        """Insert or update a user (keyed by id; e-mails are unique)."""
        journal = self._journal()
        journal.stage(
            "users",
            f"INSERT INTO users ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET email = excluded.email, "
            "password_hash = excluded.password_hash, name = excluded.name, "
            "role = excluded.role, totp_secret = excluded.totp_secret",
            (
                user.id,
                user.email,
                user.password_hash,
                user.name,
                user.role,
                user.totp_secret,
                user.created_at,
            ),
        )
        journal.put(self._by_id, user.id, user)


class RefreshTokens(Table):
    """The refresh tokens issued and not yet rotated: ``jti`` -> ``(user id, expires at)``."""

    _by_jti: dict[str, tuple[str, int]]

    async def load(self) -> None:
        """(Re)read the table."""
        sql = "SELECT jti, user_id, expires_at FROM refresh_tokens"
        self._by_jti = {
            str(row[0]): (str(row[1]), int(row[2])) for row in await self._db.execute_fetchall(sql)
        }

    def get(self, jti: str) -> tuple[str, int] | None:
        """``(user id, expires at)`` of a live refresh token, or ``None``."""
        return self._by_jti.get(jti)

    def save(self, jti: str, user_id: str, expires_at: int) -> None:
        """Remember an issued refresh token."""
        journal = self._journal()
        journal.stage(
            "refresh_tokens",
            "INSERT INTO refresh_tokens (jti, user_id, expires_at) VALUES (?, ?, ?)",
            (jti, user_id, expires_at),
        )
        journal.put(self._by_jti, jti, (user_id, expires_at))

    def revoke(self, jti: str) -> None:
        """Forget a refresh token (rotated or expired)."""
        journal = self._journal()
        journal.stage("refresh_tokens", "DELETE FROM refresh_tokens WHERE jti = ?", (jti,))
        journal.pop(self._by_jti, jti)
