"""The database's tables, and opening a database with them.

Tables: ``conversations``, ``messages``, ``agents``, ``meta`` (system mode, token
secrets), ``idempotency``, and for the ``lizdeika`` profile ``users``,
``refresh_tokens``, ``tickets`` (archived flag and category of a conversation),
``categories``, ``templates``, ``message_statistics`` and ``uploads``. A database
written by an earlier release gets the columns added since (``MIGRATIONS``).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite

from vilnius_client.events import parse_timestamp

__all__ = ["MIGRATIONS", "SCHEMA", "Row", "connect", "read_timestamp"]

Row = sqlite3.Row | tuple[Any, ...]
"""A row as aiosqlite returns it."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    visitor_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    assigned_agent TEXT,
    status TEXT NOT NULL,
    metadata TEXT NOT NULL,
    offline_notice_sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS conversations_by_agent ON conversations (assigned_agent, status);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    content TEXT NOT NULL,
    sender TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    agent_id TEXT,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, seq);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    personal_status TEXT NOT NULL,
    last_seen TEXT,
    sockets TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    totp_secret TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    jti TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    conversation_id TEXT PRIMARY KEY,
    archived INTEGER NOT NULL DEFAULT 0,
    category_id TEXT,
    manual_category_override INTEGER NOT NULL DEFAULT 0,
    category_metadata TEXT
);
CREATE TABLE IF NOT EXISTS categories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    color TEXT NOT NULL,
    created_by TEXT NOT NULL,
    is_archived INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    content TEXT NOT NULL,
    created_by TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS message_statistics (
    message_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    ai_suggestion_used INTEGER NOT NULL,
    suggestion_action TEXT,
    original_suggestion TEXT,
    system_mode TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    stored_filename TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    mimetype TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""

MIGRATIONS = (
    ("messages", "message_type", "ALTER TABLE messages ADD COLUMN message_type TEXT"),
    ("messages", "sender_id", "ALTER TABLE messages ADD COLUMN sender_id TEXT"),
)
"""Columns added after the first release: ``(table, column, statement)``."""


async def connect(path: str) -> aiosqlite.Connection:
    """Open (creating if needed) the database at ``path`` (``":memory:"`` allowed).

    Files use write-ahead logging. The tables are created and migrated.
    """
    db = await aiosqlite.connect(path)
    try:
        if path != ":memory:":
            await db.execute_fetchall("PRAGMA journal_mode=WAL")
            await db.execute_fetchall("PRAGMA synchronous=NORMAL")
        await db.executescript(SCHEMA)
        for table, column, statement in MIGRATIONS:
            columns = await db.execute_fetchall(f"PRAGMA table_info({table})")
            if column not in {row[1] for row in columns}:
                await db.execute(statement)
        await db.commit()
    except BaseException:
        await db.close()
        raise
    return db


def read_timestamp(text: str) -> datetime:
    """A timestamp as stored (``format_timestamp``'s ISO 8601 text)."""
    parsed = parse_timestamp(text)
    assert isinstance(parsed, datetime)
    return parsed
