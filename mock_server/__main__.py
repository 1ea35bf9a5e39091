"""``vilnius-mock-server``: run the reference server until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from .app import RunningServer, ServerConfig

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
        "--agent-key", default=None, help="key agents trade for tokens (default: generated)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log level (default: %(default)s)",
    )
    return parser


def _banner(server: RunningServer) -> None:
    print(f"Vilnius reference server listening on {server.url} (auth: {server.config.auth})")
    if server.config.auth == "token":
        if server.config.agent_key is None:
            print(f"Generated agent key: {server.agent_key}")
        print("Get an agent token with:")
        print(
            f"  curl -s -X POST {server.url}/api/auth/agent-token "
            "-H 'Content-Type: application/json' "
            f"""-d '{{"agentId": "agent-1", "agentKey": "{server.agent_key}"}}'"""
        )
        print("then send 'Authorization: Bearer <token>' (REST) or auth={'token': ...} (Socket.IO)")
    print("Press Ctrl+C to stop.", flush=True)


async def _run(config: ServerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = RunningServer(config)
    try:
        await server.start()
        _banner(server)
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
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ServerConfig(
        host=args.host, port=args.port, db=args.db, auth=args.auth, agent_key=args.agent_key
    )
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_run(config))
    except OSError as exc:
        print(f"vilnius-mock-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
