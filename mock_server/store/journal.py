"""The running transaction's journal: what it wrote, how to undo it, what follows its commit.

Every table of the store changes its in-memory state at once and records the change
here: the statement to run (``stage``), how to undo it should the block raise
(``on_undo``, or ``put`` / ``pop`` for a dictionary), and what to do once it is
committed (``on_commit``).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from .writer import Statement

__all__ = ["Journal", "JournalSource"]

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
