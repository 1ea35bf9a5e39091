"""The ``uploads`` table: files uploaded with ``POST /api/upload`` (profile ``lizdeika``).

Production writes uploads to a directory; the reference server keeps them in its database,
so that they live exactly as long as its conversations (nothing left on disk by an
in-memory server). Files are read from the database when downloaded, never kept in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from vilnius_client.events import format_timestamp, utcnow

from .journal import Table

__all__ = ["StoredFile", "Uploads"]


@dataclass(frozen=True)
class StoredFile:
    """An uploaded file."""

    stored_filename: str
    filename: str
    mimetype: str
    data: bytes


class Uploads(Table):
    """Every uploaded file, in the database only."""

    async def load(self) -> None:
        """Nothing is kept in memory."""

    def add(self, stored_filename: str, filename: str, mimetype: str, data: bytes) -> None:
        """Store a file under ``stored_filename`` (unique: production prefixes a UUID)."""
        self._journal().stage(
            "uploads",
            "INSERT INTO uploads (stored_filename, filename, mimetype, size, data, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (stored_filename, filename, mimetype, len(data), data, format_timestamp(utcnow())),
        )

    async def get(self, stored_filename: str) -> StoredFile | None:
        """A committed file, or ``None``."""
        sql = (
            "SELECT stored_filename, filename, mimetype, data FROM uploads "
            "WHERE stored_filename = ?"
        )
        rows = list(await self._db.execute_fetchall(sql, (stored_filename,)))
        if not rows:
            return None
        row = rows[0]
        return StoredFile(str(row[0]), str(row[1]), str(row[2]), bytes(row[3]))

    async def conversation_of(self, url: str) -> str | None:
        """The conversation whose message carries the file at ``url`` (``metadata.file.url``)."""
        sql = (
            "SELECT conversation_id FROM messages "
            "WHERE json_extract(metadata, '$.file.url') = ? ORDER BY seq LIMIT 1"
        )
        rows = list(await self._db.execute_fetchall(sql, (url,)))
        return str(rows[0][0]) if rows else None
