"""The running transaction's journal, and the base of the tables that record into it.

Every table of the store (a ``Table``) changes its in-memory state at once and records
the change in the journal: the statement to run (``stage``), how to undo it should the
block raise (``on_undo``, or ``put`` / ``pop`` for a dictionary), and what to do once it
is committed (``on_commit``).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

import aiosqlite

from .writer import Statement

__all__ = ["Journal", "JournalSource", "Table"]

K = TypeVar("K")
V = TypeVar("V")

_MISSING: Any = object()


class Journal:
    """The record of one transaction (see the module docstring)."""

    __slots__ = ("committed", "statements", "undo")

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self.undo: list[Callable[[], None]] = []
        self.committed: list[Callable[[], None]] = []

    def stage(self, table: str, sql: str, parameters: tuple[Any, ...]) -> None:
        """Write ``sql`` (on ``table``) when the transaction commits."""
        self.statements.append((table, sql, parameters))

    def on_undo(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` if the block raises (undos run last first)."""
        self.undo.append(undo)

    def on_commit(self, committed: Callable[[], None]) -> None:
        """Call ``committed`` once the transaction is committed."""
        self.committed.append(committed)

    def put(self, mapping: MutableMapping[K, V], key: K, value: V) -> None:
        """``mapping[key] = value``, undone if the block raises."""
        old = mapping.get(key, _MISSING)
        mapping[key] = value
        self.undo.append(lambda: _restore(mapping, key, old))

    def pop(self, mapping: MutableMapping[K, V], key: K) -> None:
        """Remove ``key`` from ``mapping`` (if there), undone if the block raises."""
        old = mapping.pop(key, _MISSING)
        self.undo.append(lambda: _restore(mapping, key, old))

    def rollback(self) -> None:
        """Undo the block's changes to the in-memory state."""
        for undo in reversed(self.undo):
            undo()


def _restore(mapping: MutableMapping[K, V], key: K, old: V) -> None:
    if old is _MISSING:
        mapping.pop(key, None)
    else:
        mapping[key] = old


JournalSource = Callable[[], Journal]
"""Returns the running transaction's journal (raises outside a transaction)."""


class Table:
    """A table of the store: read at ``load``, changed through the running transaction.

    Args:
        db: The connection (tables read through it; only the writer writes).
        journal: Returns the running transaction's journal (raises outside one).
    """

    def __init__(self, db: aiosqlite.Connection, journal: JournalSource) -> None:
        self._db = db
        self._journal = journal

    async def load(self) -> None:
        """(Re)read the table's state from the database (at open, after a failed commit)."""
        raise NotImplementedError
