"""``vilnius-mock-server``: run the reference server until SIGINT or SIGTERM.

The options and their ``VILNIUS_*`` variables are in ``mock_server.options``; this
module runs the server: a bad database path or a taken port is one line on standard
error, a generated agent key goes to a file only its owner can read, and uvloop runs
the event loop when installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from . import logs
from .config import ServerConfig
from .options import parse_args, server_config
from .server import RunningServer
from .web_clients import clients_dir

__all__ = ["StartupError", "main", "write_key_file"]

logger = logging.getLogger("mock_server")


class StartupError(Exception):
    """The server could not start; the message says why in one line."""


def write_key_file(key: str, path: str | None, db: str) -> str:
    """Write a generated agent key to a file only its owner can read; return the path.

    The key never goes to the terminal (scrollback, CI logs and screen shares keep it).
    """
    if path is None and db != ":memory:":
        path = f"{db}.agent-key"
    if path is None:
        descriptor, path = tempfile.mkstemp(prefix="vilnius-agent-key-")
    else:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(key + "\n")
    return path


def _banner(server: RunningServer, key_file: str | None) -> None:
    if server.config.profile == "lizdeika":
        _production_banner(server)
        return
    print(f"Vilnius reference server listening on {server.url} (auth: {server.config.auth})")
    if server.config.auth == "token":
        if key_file is not None:
            print(f"Generated agent key written to {key_file} (readable by you only)")
            key = f"$(cat {key_file})"
        else:
            print("Agent key: the one given (--agent-key or $VILNIUS_AGENT_KEY)")
            key = "$VILNIUS_AGENT_KEY"
        print("Get an agent token with:")
        print(
            f"  curl -s -X POST {server.url}/api/auth/agent-token "
            "-H 'Content-Type: application/json' "
            + '-d "{\\"agentId\\": \\"agent-1\\", \\"agentKey\\": \\"'
            + key
            + '\\"}"'
        )
        print("then send 'Authorization: Bearer <token>' (REST) or auth={'token': ...} (Socket.IO)")
    _console_banner(server)
    print("Press Ctrl+C to stop.", flush=True)


def _console_banner(server: RunningServer) -> None:
    if server.config.console:
        gate = " (type the agent key into the page)" if server.hub.auth == "token" else ""
        print(f"Console: {server.url}/console{gate}")


def _production_banner(server: RunningServer) -> None:
    print(f"Vilnius reference server listening on {server.url} (profile: lizdeika, production)")
    emails = [user.email for user in server.config.agent_users]
    if emails:
        print(f"Agent users: {', '.join(emails)}")
        print("Log in with:")
        print(
            f"  curl -s -X POST {server.url}/api/auth/login "
            "-H 'Content-Type: application/json' "
            f"""-d '{{"email": "{emails[0]}", "password": "<password>"}}'"""
        )
        print("then join the dashboard with data.user.id as the agent id")
    else:
        print("No agent users: add some with --agent-user EMAIL:PASSWORD[:NAME]")
    if server.config.static_dir is not None:
        print(f"Production's web clients: {server.url}/login.html (the widget: /widget.js)")
    _console_banner(server)
    print("Press Ctrl+C to stop.", flush=True)


def _database_problem(db: str, exc: sqlite3.Error) -> str:
    """One line on why the database ``db`` could not be opened."""
    reason = str(exc)
    path = Path(db)
    if path.is_dir():
        reason += " (it is a directory)"
    elif not path.parent.is_dir():
        reason += f" (there is no directory {path.parent})"
    return f"cannot open the database {db}: {reason}"


def _check_database(db: str) -> None:
    """Open ``db`` once with sqlite3 before the server does, so that a bad path is one line.

    The server's own open could say as much, but when aiosqlite (0.22) fails to connect it
    leaves its worker thread to report to an event loop that may be closed by then, and the
    thread prints a traceback of its own (omnilib/aiosqlite#241).
    """
    if db == ":memory:":
        return
    try:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            connection.execute("PRAGMA schema_version")  # reads the header: is it SQLite?
    except sqlite3.Error as exc:
        raise StartupError(_database_problem(db, exc)) from None


def _check_web_clients(config: ServerConfig) -> None:
    """Refuse a ``--static`` that names no Lizdeika checkout, in one line."""
    try:
        clients_dir(config)
    except ValueError as exc:
        raise StartupError(str(exc)) from None


async def _run(config: ServerConfig, key_file: str | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = RunningServer(config)
    try:
        try:
            await server.start()
        except sqlite3.Error as exc:
            raise StartupError(_database_problem(config.database, exc)) from None
        written = None
        if config.agent_key is None and server.agent_key is not None:
            written = write_key_file(server.agent_key, key_file, config.database)
        _banner(server, written)
        await stop.wait()
        logger.info("shutting down")
    finally:
        await server.close()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (cheaper per event and per write), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server from the command line; return the exit code.

    Exit codes: 0 stopped by SIGINT or SIGTERM, 1 could not start (the port, the database,
    the key file: one line on standard error says which), 2 bad options.
    """
    args = parse_args(argv)
    logs.configure(args.log_level, access_log=args.access_log)
    config = server_config(args)
    try:
        _check_database(config.database)
        _check_web_clients(config)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_run(config, args.agent_key_file))
    except (OSError, StartupError) as exc:
        print(f"vilnius-mock-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
