"""The ``idempotency`` table: the answer remembered for each ``Idempotency-Key``.

Answers are read from the database; those written but not committed yet are kept in
memory until they are (a retry may arrive before the commit).
"""

from __future__ import annotations

import json
from typing import Any

from .journal import Table

__all__ = ["Idempotency"]


class Idempotency(Table):
    """Answers by ``(scope, key)``."""

    _unsaved: dict[tuple[str, str], str]

    async def load(self) -> None:
        """Forget the answers not committed (the database is read again)."""
        self._unsaved = {}

    async def get(self, scope: str, key: str) -> dict[str, Any] | None:
        """Return the answer stored for an idempotency key, or ``None``."""
        text = self._unsaved.get((scope, key))
        if text is None:
            sql = "SELECT body FROM idempotency WHERE scope = ? AND key = ?"
            rows = list(await self._db.execute_fetchall(sql, (scope, key)))
            if not rows:
                return None
            text = str(rows[0][0])
        body: dict[str, Any] = json.loads(text)
        return body

    def put(self, scope: str, key: str, body: dict[str, Any]) -> None:
        """Remember the answer given for an idempotency key."""
        journal = self._journal()
        text = json.dumps(body)
        journal.stage(
            "idempotency",
            "INSERT OR REPLACE INTO idempotency (scope, key, body) VALUES (?, ?, ?)",
            (scope, key, text),
        )
        journal.put(self._unsaved, (scope, key), text)
        journal.on_commit(lambda: self._saved((scope, key), text))

    def _saved(self, entry: tuple[str, str], text: str) -> None:
        if self._unsaved.get(entry) is text:  # not replaced by a later answer since
            del self._unsaved[entry]
