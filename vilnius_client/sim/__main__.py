"""``vilnius-sim``: the simulator's command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import sys
from collections.abc import AsyncIterator, Callable

from .engine import Scenario, SimConfig, Simulation
from .report import Report

EXIT_OK, EXIT_LOST, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vilnius-sim",
        description="Simulate agents and customers against a Vilnius server and report every "
        "delivery. Exit status 1 when a message was lost or duplicated.",
    )
    p.add_argument("--url", help="server URL (default: start the reference server in-process)")
    p.add_argument("--agents", type=int, default=2, help="agent bots (default: 2)")
    p.add_argument("--customers", type=int, default=10, help="customers (default: 10)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to send (default: 10)")
    p.add_argument("--messages", type=int, help="send this many customer messages, then stop")
    p.add_argument("--rate", type=float, default=10.0, help="customer messages/s (default: 10)")
    p.add_argument(
        "--typing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="type before each message and reply (default: on)",
    )
    p.add_argument(
        "--churn",
        type=float,
        default=0.0,
        help="share of customers that disconnect once and come back, 0-1 (default: 0)",
    )
    p.add_argument(
        "--reply", choices=["echo", "canned", "none"], default="echo", help="agents' answers"
    )
    p.add_argument("--agent-key", help="the server's agent key (servers with auth=token)")
    p.add_argument("--drain-timeout", type=float, default=15.0, help="seconds to wait at the end")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--scenario", help="a Python scenario, module:function")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    p.add_argument(
        "--server-process",
        action="store_true",
        help="without --url: run the reference server in a child process instead of in-process"
        " (large runs: the server then does not share the simulator's event loop)",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    p.add_argument("--verbose", action="store_true", help="show the SDK's warnings")
    return p


def load_scenario(spec: str) -> Scenario:
    """Import ``module:function`` and return the function."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--scenario wants module:function, got {spec!r}")
    scenario: Scenario = getattr(importlib.import_module(module_name), attr)
    return scenario


@contextlib.asynccontextmanager
async def _server(url: str | None, child_process: bool) -> AsyncIterator[str]:
    if url:
        yield url.rstrip("/")
        return
    if child_process:
        async with _child_server() as child_url:
            yield child_url
        return
    from mock_server import serve  # the bundled reference server, only when asked for

    async with serve(host="127.0.0.1", port=0, db=":memory:", auth="none") as server:
        yield server.url


@contextlib.asynccontextmanager
async def _child_server() -> AsyncIterator[str]:
    """``python -m mock_server`` on a free port (auth none, in-memory DB) in a child process."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "mock_server", "--port", str(port), "--db", ":memory:"),
        *("--auth", "none", "--log-level", "WARNING"),
        stdout=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    if proc.returncode is not None:
                        raise RuntimeError("the reference server exited") from None
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                await writer.wait_closed()
                break
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


def _progress_printer(quiet: bool) -> Callable[[str], None] | None:
    if quiet:
        return None
    if sys.stderr.isatty():

        def show(line: str) -> None:
            sys.stderr.write("\r\x1b[2K" + line)
            sys.stderr.flush()

        return show
    ticks = {"n": 0}

    def every_five_seconds(line: str) -> None:
        ticks["n"] += 1
        if ticks["n"] % 10 == 0:
            sys.stderr.write(line + "\n")

    return every_five_seconds


async def run(args: argparse.Namespace) -> Report:
    """Run the simulation the parsed command line describes."""
    config = SimConfig(
        agents=args.agents,
        customers=args.customers,
        duration=args.duration,
        messages=args.messages,
        rate=args.rate,
        typing=args.typing,
        churn=args.churn,
        reply=args.reply,
        drain_timeout=args.drain_timeout,
        agent_key=args.agent_key,
        seed=args.seed,
    )
    scenario = load_scenario(args.scenario) if args.scenario else None
    progress = _progress_printer(args.quiet)
    async with _server(args.url, args.server_process) as url:
        sim = Simulation(url, config, scenario=scenario, progress=progress)
        try:
            return await sim.run()
        finally:
            if progress is not None and sys.stderr.isatty():
                sys.stderr.write("\r\x1b[2K" + sim.status_line() + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vilnius-sim``; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Hundreds of clients repeat the same warning; the report counts reconnects anyway.
        logging.getLogger("vilnius_client").setLevel(logging.ERROR)
    try:
        report = asyncio.run(run(args))
    except ValueError as exc:
        sys.stderr.write(f"vilnius-sim: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        sys.stderr.write(f"vilnius-sim: run failed: {type(exc).__name__}: {exc}\n")
        return EXIT_ERROR
    sys.stdout.write(report.table() + "\n")
    if args.json:
        report.write_json(args.json)
    if args.html:
        report.write_html(args.html)
    return EXIT_OK if report.ok else EXIT_LOST


if __name__ == "__main__":
    sys.exit(main())
