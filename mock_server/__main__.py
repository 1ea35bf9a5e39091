"""``vilnius-mock-server``: run the reference server until SIGINT or SIGTERM.

Every option can also be set by an environment variable, ``VILNIUS_`` and the option's
name (``--agent-key`` -> ``VILNIUS_AGENT_KEY``); the command line wins over the variable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vilnius_client import __version__

from . import logs
from .broadcast import MAX_BUFFER
from .config import ServerConfig
from .profile import PROFILES
from .ratelimit import RateLimit
from .server import RunningServer
from .users import AgentUser, load_agent_users, parse_agent_user

__all__ = ["ENV_PREFIX", "environment_variables", "main", "parse_args"]

logger = logging.getLogger("mock_server")

ENV_PREFIX = "VILNIUS_"
"""Each option's variable is this prefix and the option's name: ``VILNIUS_AGENT_KEY``."""

_SECRETS = frozenset({"agent_key", "agent_user"})
"""Options whose values are never repeated in an error message."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class StartupError(Exception):
    """The server could not start; the message says why in one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vilnius-mock-server",
        description="The Vilnius reference server: Socket.IO + REST on one port.",
        epilog="Every option can also be set by its environment variable (in brackets); "
        "the command line wins. Flags take 1/true/yes/on or 0/false/no/off.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=3002, help="port, 0 = any (default: %(default)s)"
    )
    parser.add_argument(
        "--db", default="vilnius.db", help="SQLite file or :memory: (default: %(default)s)"
    )
    parser.add_argument(
        "--auth",
        choices=["token", "none"],
        default="token",
        help="auth mode (default: %(default)s)",
    )
    parser.add_argument(
        "--agent-key",
        default=None,
        help="key agents trade for tokens; prefer the variable, as every user can see a "
        "command line (default: generated into --agent-key-file)",
    )
    parser.add_argument(
        "--agent-key-file",
        default=None,
        metavar="PATH",
        help="where a generated agent key is written, readable by you only (default: "
        "<db>.agent-key, or a private temporary file with --db :memory:)",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="vilnius",
        help="which server to play: vilnius (CONTRACT.md) or lizdeika (production, "
        "PRODUCTION.md) (default: %(default)s)",
    )
    parser.add_argument(
        "--agent-user",
        action="append",
        default=[],
        type=_agent_user,
        metavar="EMAIL:PASSWORD[:NAME]",
        help="lizdeika: an agent user to create (repeatable, or one per line in the variable;"
        " the password may not contain ':')",
    )
    parser.add_argument(
        "--agent-users",
        type=_agent_users_file,
        default=[],
        metavar="FILE",
        help="lizdeika: agent users from a JSON list of {email, password, name?, totpSecret?}",
    )
    parser.add_argument(
        "--message-rate-limit",
        type=_rate_limit,
        default="default",
        metavar="N/SECONDS|off",
        help="limit of POST /api/messages per client IP (default: the profile's, "
        "10/60 for lizdeika, off for vilnius)",
    )
    parser.add_argument(
        "--access-token-ttl",
        type=int,
        default=None,
        metavar="SECONDS",
        help="lizdeika: access token lifetime (default: 900, as production)",
    )
    parser.add_argument(
        "--ws-compression",
        action="store_true",
        help="negotiate WebSocket permessage-deflate with clients that offer it (default: off)",
    )
    parser.add_argument(
        "--max-outgoing-buffer",
        type=int,
        default=MAX_BUFFER,
        metavar="BYTES",
        help="bytes that may wait to be sent to one connection before the server closes it"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--console",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the browser console at /console (default: on)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="level of the server's log on standard error; libraries log warnings only "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a line per REST request at INFO (default: on)",
    )
    for action in _options(parser):
        action.help = f"{action.help} [{_variable(action)}]"
    return parser


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options that have a variable: all but --help and --version."""
    return [
        action
        for action in parser._actions  # argparse has no public list of its actions
        if action.option_strings and action.dest not in ("help", "version")
    ]


def _variable(action: argparse.Action) -> str:
    return ENV_PREFIX + action.dest.upper()


def environment_variables() -> list[str]:
    """The variables that set ``vilnius-mock-server``'s options, in the order of ``--help``."""
    return [_variable(action) for action in _options(_parser())]


def _from_environment(parser: argparse.ArgumentParser, action: argparse.Action, text: str) -> Any:
    """The value of ``action`` given by its variable, converted as on the command line."""
    variable = _variable(action)
    if action.nargs == 0:  # a flag
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        parser.error(f"{variable}={text!r}: expected 1/true/yes/on or 0/false/no/off")
    convert: Callable[[str], Any] = action.type or str  # type: ignore[assignment]
    many = isinstance(action.default, list)
    secret = action.dest in _SECRETS
    values = []
    for item in text.splitlines() if many else [text]:
        if many and not item.strip():
            continue
        try:
            value = convert(item)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            parser.error(_bad_value(variable, item, exc, convert, action.metavar, secret))
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            parser.error(f"{variable}={item!r}: expected one of {choices}")
        values.append(value)
    return values if many else values[0]


def _bad_value(
    variable: str,
    text: str,
    exc: Exception,
    convert: Callable[[str], Any],
    metavar: str | tuple[str, ...] | None,
    secret: bool,
) -> str:
    if secret:  # the converter's message may quote the password
        return f"{variable}: a value is not {metavar} (not shown: it holds a secret)"
    if isinstance(exc, argparse.ArgumentTypeError):
        return f"{variable}={text!r}: {exc}"
    # what argparse says of a bad command-line value
    return f"{variable}={text!r}: invalid {getattr(convert, '__name__', 'option')} value"


def parse_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """Parse the command line, with defaults from the ``VILNIUS_*`` variables of ``environ``.

    A variable that is empty counts as unset. Repeatable options (``--agent-user``) take
    one value per line of their variable; given on the command line, they replace it.
    """
    environ = os.environ if environ is None else environ
    parser = _parser()
    lists: dict[str, list[Any]] = {}
    for action in _options(parser):
        text = environ.get(_variable(action), "")
        if isinstance(action.default, list):  # argparse would add the command line's to it
            lists[action.dest] = _from_environment(parser, action, text) if text else []
            action.default = None
        elif text:
            action.default = _from_environment(parser, action, text)
    args = parser.parse_args(argv)
    for dest, values in lists.items():
        if getattr(args, dest) is None:
            setattr(args, dest, values)
    if args.max_outgoing_buffer < 1:
        parser.error("--max-outgoing-buffer must be at least 1 byte")
    return args


def _agent_user(text: str) -> AgentUser:
    try:
        return parse_agent_user(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _agent_users_file(path: str) -> list[AgentUser]:
    try:
        return load_agent_users(path)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate_limit(text: str) -> RateLimit | str:
    if text in ("default", "off"):
        return text
    try:
        return RateLimit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
            raise StartupError(_database_problem(config.db, exc)) from None
        written = None
        if config.agent_key is None and server.agent_key is not None:
            written = write_key_file(server.agent_key, key_file, config.db)
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
    config = ServerConfig(
        host=args.host,
        port=args.port,
        db=args.db,
        auth=args.auth,
        agent_key=args.agent_key,
        profile=args.profile,
        agent_users=(*args.agent_user, *args.agent_users),
        message_rate_limit=args.message_rate_limit,
        **({"access_token_ttl": args.access_token_ttl} if args.access_token_ttl else {}),
        ws_compression=args.ws_compression,
        max_outgoing_buffer=args.max_outgoing_buffer,
        console=args.console,
    )
    try:
        _check_database(config.db)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_run(config, args.agent_key_file))
    except (OSError, StartupError) as exc:
        print(f"vilnius-mock-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
