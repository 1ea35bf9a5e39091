"""The ``Store``: the database, its tables in memory, and the transactions that change them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite

from . import schema
from .accounts import RefreshTokens, Users
from .agents import Agents
from .catalog import Categories, Templates
from .conversations import Conversations
from .idempotency import Idempotency
from .journal import Journal, Table
from .messages import Messages
from .settings import Settings
from .statistics import MessageStatistics
from .tickets import Tickets
from .uploads import Uploads
from .writer import Writer

__all__ = ["Store"]


class Store:
    """The server's state, in memory and in one SQLite database.

    Use ``open`` to create one and ``close`` to flush and close it. Read the tables
    at any time; change them only inside ``transaction``.

    Attributes:
        conversations: The conversations (with active counts and offline notices).
        messages: The messages (``seq``, pages).
        agents: Every agent ever seen.
        settings: The system mode and the token secrets.
        idempotency: The answers remembered for ``Idempotency-Key``.
        users: The agent users (profile ``lizdeika``).
        refresh_tokens: Their live refresh tokens.
        tickets, categories, templates, message_statistics, uploads: Production's
            ticket fields, catalog, reply statistics and files (profile ``lizdeika``).
        path: Where the database is.
        lock: Held by the block of the one running transaction.
    """

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self.lock = asyncio.Lock()
        self._journal: Journal | None = None
        self.conversations = Conversations(db, self._current)
        self.messages = Messages(db, self._current)
        self.agents = Agents(db, self._current)
        self.settings = Settings(db, self._current)
        self.idempotency = Idempotency(db, self._current)
        self.users = Users(db, self._current)
        self.refresh_tokens = RefreshTokens(db, self._current)
        self.tickets = Tickets(db, self._current)
        self.categories = Categories(db, self._current)
        self.templates = Templates(db, self._current)
        self.message_statistics = MessageStatistics(db, self._current)
        self.uploads = Uploads(db, self._current)
        self._tables: tuple[Table, ...] = (
            self.conversations,
            self.messages,
            self.agents,
            self.settings,
            self.idempotency,
            self.users,
            self.refresh_tokens,
            self.tickets,
            self.categories,
            self.templates,
            self.message_statistics,
            self.uploads,
        )
        self._writer = Writer(db, self.lock, self._load)

    @property
    def batches(self) -> int:
        """How many commits the writer made (a batch holds one or more transactions)."""
        return self._writer.batches

    @classmethod
    async def open(cls, path: str) -> Store:
        """Open (creating if needed) the database at ``path`` (``":memory:"`` allowed)."""
        db = await schema.connect(path)
        try:
            store = cls(db, path)
            await store._load()
        except BaseException:
            await db.close()
            raise
        store._writer.start()
        return store

    async def close(self) -> None:
        """Wait for the running block, commit everything waiting and close the database."""
        async with self.lock:
            if self._writer.closing:
                return
            self._writer.stop()
        await self._writer.wait_closed()
        await self._db.close()

    async def _load(self) -> None:
        """(Re)read the in-memory state from the database."""
        for table in self._tables:
            await table.load()

    def _current(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("store writes must run inside Store.transaction()")
        return self._journal

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block alone; return once it is committed (undo it if it raises).

        Raises:
            CommitError: The commit failed; nothing of the block was stored.
        """
        async with self.lock:
            if self._writer.closing:
                raise RuntimeError("the store is closed")
            journal = self._journal = Journal()
            try:
                yield
            except BaseException:
                journal.rollback()
                raise
            finally:
                self._journal = None
            done: asyncio.Future[None] | None
            if journal.statements:
                done = self._writer.submit(journal.statements, journal.committed)
            else:  # nothing written: wait for what it may have seen
                done = self._writer.pending()
        if done is not None:
            await asyncio.shield(done)
