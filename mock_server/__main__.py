"""``vilnius-mock-server``: run the reference server until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence

from .app import RunningServer, ServerConfig
from .broadcast import MAX_BUFFER
from .profile import PROFILES
from .ratelimit import RateLimit
from .users import AgentUser, load_agent_users, parse_agent_user

__all__ = ["main"]

logger = logging.getLogger("mock_server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vilnius-mock-server",
        description="The Vilnius reference server: Socket.IO + REST on one port.",
    )
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
        default=os.environ.get("VILNIUS_AGENT_KEY") or None,
        help="key agents trade for tokens (default: $VILNIUS_AGENT_KEY, else generated "
        "into --agent-key-file)",
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
        help="lizdeika: an agent user to create (repeatable; the password may not contain ':')",
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
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log level (default: %(default)s)",
    )
    return parser


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
    print("Press Ctrl+C to stop.", flush=True)


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
    print("Press Ctrl+C to stop.", flush=True)


async def _run(config: ServerConfig, key_file: str | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = RunningServer(config)
    try:
        await server.start()
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
    """Run the server from the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.max_outgoing_buffer < 1:
        parser.error("--max-outgoing-buffer must be at least 1 byte")
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
    )
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_run(config, args.agent_key_file))
    except OSError as exc:
        print(f"vilnius-mock-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
