"""The group-commit writer: the one task that writes to the database.

Transactions hand their statements over with ``Writer.submit`` and get a future. The
writer takes every transaction waiting, runs their statements in one SQLite transaction
(per table, consecutive runs of one statement in one ``executemany``, in order) and
commits once; then it runs each transaction's ``on_commit`` callbacks, in the order the
transactions were handed over, and resolves their futures. So under load many
transactions share one commit, and the event loop never waits for the disk: SQLite runs
on aiosqlite's thread.

A batch that fails to commit is rolled back, so that one transaction never fails
another: holding the store's lock (no transaction runs meanwhile), the writer writes
every transaction waiting (the batch and those handed over after it) again, each alone
inside one SQLite transaction (a savepoint each), and commits what went through. Only a
transaction whose own statements fail again raises ``CommitError`` (nothing of it is
stored); the others are committed as if nothing had happened. Then the writer has the
state read again from the database, which holds exactly the transactions that went
through, and resolves every future.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import aiosqlite

__all__ = ["CommitError", "Statement", "Writer"]

logger = logging.getLogger("mock_server")

Statement = tuple[str, str, tuple[Any, ...]]
"""A staged write: ``(table, sql, parameters)``."""


class CommitError(RuntimeError):
    """The batch a transaction was in could not be committed; nothing of it was stored."""


@dataclass
class _Commit:
    """A transaction handed to the writer."""

    statements: Sequence[Statement]
    on_commit: Sequence[Callable[[], None]]
    done: asyncio.Future[None]


class Writer:
    """Commits what transactions hand over, in batches (see the module docstring).

    Args:
        db: The connection; the writer is the only one to write through it.
        lock: The store's lock, held by the running transaction.
        reload: Reads the in-memory state again from the database (after a failed commit).
    """

    def __init__(
        self,
        db: aiosqlite.Connection,
        lock: asyncio.Lock,
        reload: Callable[[], Awaitable[None]],
    ) -> None:
        self._db = db
        self._lock = lock
        self._reload = reload
        self.batches = 0
        """How many commits were made (a batch holds one or more transactions)."""
        self.closing = False
        """Set by ``stop``: what is waiting is written, nothing new is taken."""
        self._waiting: list[_Commit] = []
        self._last: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="vilnius-store-writer")

    def submit(
        self, statements: Sequence[Statement], on_commit: Sequence[Callable[[], None]]
    ) -> asyncio.Future[None]:
        """Hand a transaction over; its future is resolved once it is committed.

        ``on_commit`` runs right after the commit, before the future is resolved.
        """
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(_Commit(statements, on_commit, done))
        self._last = done
        self._wake.set()
        return done

    def pending(self) -> asyncio.Future[None] | None:
        """The future of the last transaction handed over, while it is not committed."""
        if self._last is not None and not self._last.done():
            return self._last
        return None

    def stop(self) -> None:
        """Write what is waiting, then end (call with the store's lock held)."""
        self.closing = True
        self._wake.set()

    async def wait_closed(self) -> None:
        """Wait until the writer has ended."""
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        """Commit what is waiting, in batches, until stopped."""
        while self._waiting or not self.closing:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._waiting = self._waiting, []
            try:
                await self._write(batch)
            except Exception as exc:
                await self._recover(batch, exc)
                continue
            self.batches += 1
            for commit in batch:
                for committed in commit.on_commit:
                    committed()
                if not commit.done.done():
                    commit.done.set_result(None)

    async def _write(self, batch: list[_Commit]) -> None:
        """Run the statements of ``batch`` and commit them once.

        Statements touch one table each, so only their order within a table
        matters: per table, consecutive runs of one statement go in one
        ``executemany``.
        """
        runs: dict[str, list[tuple[str, list[tuple[Any, ...]]]]] = {}
        for commit in batch:
            for table, sql, parameters in commit.statements:
                table_runs = runs.setdefault(table, [])
                if table_runs and table_runs[-1][0] == sql:
                    table_runs[-1][1].append(parameters)
                else:
                    table_runs.append((sql, [parameters]))
        for table_runs in runs.values():
            for sql, rows in table_runs:
                await self._db.executemany(sql, rows)
        await self._db.commit()

    async def _recover(self, batch: list[_Commit], exc: Exception) -> None:
        """A batch failed: write each transaction waiting alone; fail those that fail again."""
        logger.warning(
            "commit of %d transaction(s) failed (%r): writing each alone", len(batch), exc
        )
        with suppress(Exception):
            await self._db.rollback()
        async with self._lock:  # no block runs on the state being replaced
            waiting, self._waiting = batch + self._waiting, []
            failed: list[tuple[_Commit, Exception]] = []
            try:
                await self._db.execute("BEGIN")
                for commit in waiting:
                    problem = await self._write_alone(commit)
                    if problem is not None:
                        failed.append((commit, problem))
                await self._db.commit()
            except Exception as broken:  # the database itself fails: nothing was stored
                logger.error("writing %d transaction(s) alone failed: %r", len(waiting), broken)
                with suppress(Exception):
                    await self._db.rollback()
                failed = [(commit, broken) for commit in waiting]
            refused = {id(commit) for commit, _ in failed}
            committed = [commit for commit in waiting if id(commit) not in refused]
            if committed:
                self.batches += 1
            for commit in committed:
                for on_commit in commit.on_commit:
                    on_commit()
            try:
                await self._reload()
            except Exception:
                logger.exception("reloading the state after a failed commit failed")
            for commit in committed:
                if not commit.done.done():
                    commit.done.set_result(None)
            for commit, problem in failed:  # now: their callers see the state without them
                logger.error("a transaction could not be stored: %r", problem)
                if not commit.done.done():
                    error = CommitError(f"the database write failed: {problem}")
                    error.__cause__ = problem
                    commit.done.set_exception(error)

    async def _write_alone(self, commit: _Commit) -> Exception | None:
        """Run one transaction's statements in a savepoint; undo them if one fails."""
        await self._db.execute("SAVEPOINT alone")
        try:
            for _table, sql, parameters in commit.statements:
                await self._db.execute(sql, parameters)
        except Exception as problem:
            await self._db.execute("ROLLBACK TO alone")
            await self._db.execute("RELEASE alone")
            return problem
        await self._db.execute("RELEASE alone")
        return None
