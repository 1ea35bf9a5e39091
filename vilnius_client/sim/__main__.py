"""``vilnius-sim``: the simulator's command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import importlib.metadata
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from ..errors import AuthError
from .config import ServerUnreachableError, SimConfig
from .context import Scenario
from .engine import Simulation
from .report import ExitCode, Report

_EPILOG = """\
exit status:
  0    OK: every message delivered exactly once, every threshold met
  1    a message was lost or duplicated, or the final wait timed out
  2    bad arguments
  3    the run failed (for instance the server refused the agent key)
  4    a threshold failed (--max-p99-ms, --max-error-rate)
  5    the server could not be reached within --connect-timeout
  130  interrupted (Ctrl-C): the partial report is printed

environment:
  VILNIUS_URL        the server URL (instead of --url)
  VILNIUS_AGENT_KEY  the agent key (instead of --agent-key, which `ps` shows to everyone)
  VILNIUS_EMAIL      production (Lizdeika): the agent user every simulated agent logs in as
  VILNIUS_PASSWORD   its password (only from the environment)
"""

#: The agent user of the in-process server with --profile lizdeika.
SIM_AGENT_EMAIL = "sim-agent@example.com"


def _version() -> str:
    try:
        return importlib.metadata.version("vilnius-client")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vilnius-sim",
        description="Simulate agents and customers against a Vilnius server and report every "
        "delivery; fail (exit status) on lost messages, thresholds and errors.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument(
        "--url",
        default=os.environ.get("VILNIUS_URL") or None,
        help="server URL (default: $VILNIUS_URL, else start the reference server in-process)",
    )
    p.add_argument("--agents", type=int, default=2, help="agent bots (default: 2)")
    p.add_argument("--customers", type=int, default=10, help="customers (default: 10)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to send (default: 10)")
    p.add_argument("--messages", type=int, help="send this many customer messages, then stop")
    p.add_argument("--rate", type=float, default=10.0, help="customer messages/s (default: 10)")
    p.add_argument(
        "--spawn-rate",
        type=float,
        metavar="R",
        help="connect R customers a second, each sending once connected (the ramp-up; its "
        "latencies stay out of the figures). Default: connect all first, then send",
    )
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
    p.add_argument(
        "--agent-key",
        default=os.environ.get("VILNIUS_AGENT_KEY") or None,
        help="the server's agent key, for servers with auth=token (default: $VILNIUS_AGENT_KEY;"
        " prefer the variable: the command line is visible to every user)",
    )
    p.add_argument(
        "--email",
        default=os.environ.get("VILNIUS_EMAIL") or None,
        help="production (Lizdeika): the agent user the agents log in as (default:"
        " $VILNIUS_EMAIL; the password comes from $VILNIUS_PASSWORD)",
    )
    p.add_argument(
        "--profile",
        choices=["vilnius", "lizdeika"],
        default="vilnius",
        help="without --url: the bundled server plays our contract (vilnius, the default) or"
        " production (lizdeika: agents log in; its message rate limit is off, and the report"
        " says what production's would refuse)",
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds each client may take to connect; agents that cannot: exit 5 (default: 10)",
    )
    p.add_argument("--drain-timeout", type=float, default=15.0, help="seconds to wait at the end")
    p.add_argument(
        "--max-p99-ms",
        type=float,
        metavar="MS",
        help="fail (exit 4) when the messages' p99 delivery latency is above MS",
    )
    p.add_argument(
        "--max-error-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fail (exit 4) when client errors per tracked send are above F (default: 0, any"
        " error fails)",
    )
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--scenario", help="a Python scenario, module:function")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    p.add_argument(
        "--csv",
        metavar="PREFIX",
        help="write PREFIX_stats.csv and PREFIX_stats_history.csv (one row a second)",
    )
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
    try:
        scenario: Scenario = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--scenario {spec}: {exc}") from None
    return scenario


def config_from(args: argparse.Namespace) -> SimConfig:
    """The [SimConfig][vilnius_client.sim.SimConfig] the parsed command line describes.

    Raises:
        ValueError: A flag is out of range.
    """
    return SimConfig(
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
        email=args.email,
        password=os.environ.get("VILNIUS_PASSWORD") if args.email else None,
        seed=args.seed,
        spawn_rate=args.spawn_rate,
        connect_timeout=args.connect_timeout,
        max_p99_ms=args.max_p99_ms,
        max_error_rate=args.max_error_rate,
    )


@contextlib.asynccontextmanager
async def _server(
    url: str | None, child_process: bool, profile: str = "vilnius", password: str = ""
) -> AsyncIterator[str]:
    if url:
        yield url.rstrip("/")
        return
    if child_process:
        async with _child_server(profile, password) as child_url:
            yield child_url
        return
    from mock_server import AgentUser, ServerConfig, serve  # the bundled server, when asked

    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        db=":memory:",
        auth="none",
        profile="lizdeika" if profile == "lizdeika" else "vilnius",
        agent_users=(AgentUser(SIM_AGENT_EMAIL, password, "Sim Agent"),) if password else (),
        message_rate_limit="off",
    )
    async with serve(config=config) as server:
        yield server.url


@contextlib.asynccontextmanager
async def _child_server(profile: str = "vilnius", password: str = "") -> AsyncIterator[str]:
    """``python -m mock_server`` on a free port (auth none, in-memory DB) in a child process."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    production = ("--agent-user", f"{SIM_AGENT_EMAIL}:{password}") if password else ()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "mock_server", "--port", str(port), "--db", ":memory:"),
        *("--auth", "none", "--log-level", "WARNING", "--profile", profile),
        *("--message-rate-limit", "off", *production),
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
        if ticks["n"] % 5 == 1:  # after 1 s (shows the run started), then every 5 s
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    return every_five_seconds


def _say(text: str) -> None:
    sys.stderr.write(("\n" if sys.stderr.isatty() else "") + f"vilnius-sim: {text}\n")
    sys.stderr.flush()


async def run(args: argparse.Namespace, config: SimConfig, scenario: Scenario | None) -> Report:
    """Run the simulation the parsed command line describes (``config``, ``scenario``: what
    `config_from` and `load_scenario` made of it).

    Ctrl-C (SIGINT) stops it: the first stops sending and waits for the deliveries in
    flight, the second reports at once.
    """
    progress = _progress_printer(args.quiet)
    password = ""
    if not args.url and args.profile == "lizdeika":
        # The bundled production server gets an agent user for the run, made up here.
        password = secrets.token_urlsafe(16)
        config = dataclasses.replace(config, email=SIM_AGENT_EMAIL, password=password)
    async with _server(args.url, args.server_process, args.profile, password) as url:
        sim = Simulation(url, config, scenario=scenario, progress=progress)
        if not args.quiet:
            _say(
                f"{config.agents} agents and {config.customers} customers against {url}"
                " (Ctrl-C stops and reports)"
            )
        with _sigint_stops(sim, config):
            try:
                return await sim.run()
            finally:
                if progress is not None and sys.stderr.isatty():
                    sys.stderr.write("\r\x1b[2K" + sim.status_line() + "\n")


@contextlib.contextmanager
def _sigint_stops(sim: Simulation, config: SimConfig) -> Iterator[None]:
    """While the run lasts, Ctrl-C calls `Simulation.stop` instead of raising."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; Ctrl-C then interrupts as usual
        return
    loop = asyncio.get_running_loop()

    def on_sigint() -> None:
        if sim.phase in ("starting", "sending") and not sim.context.stopping:
            _say(
                "interrupted: no more sends; waiting up to"
                f" {config.drain_timeout:g} s for what is in flight (Ctrl-C again: report now)"
            )
        else:
            _say("interrupted again: reporting now")
        sim.stop()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except NotImplementedError:  # Windows' event loops: Ctrl-C interrupts as usual
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `vilnius-sim`; returns the exit status (an
    [ExitCode][vilnius_client.sim.ExitCode])."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Hundreds of clients repeat the same warning; the report counts reconnects anyway.
        logging.getLogger("vilnius_client").setLevel(logging.ERROR)
    try:
        config = config_from(args)
        scenario = load_scenario(args.scenario) if args.scenario else None
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"vilnius-sim: error: {exc}\n")
        return ExitCode.USAGE
    try:
        report = asyncio.run(run(args, config, scenario))
    except ServerUnreachableError as exc:
        sys.stderr.write(f"vilnius-sim: {exc}\n")
        return ExitCode.UNREACHABLE
    except AuthError as exc:
        sys.stderr.write(
            f"vilnius-sim: the server refused the agents (agent key: $VILNIUS_AGENT_KEY or"
            f" --agent-key; production: $VILNIUS_EMAIL and $VILNIUS_PASSWORD): {exc}\n"
        )
        return ExitCode.ERROR
    except KeyboardInterrupt:
        sys.stderr.write("vilnius-sim: interrupted before the run started\n")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        sys.stderr.write(f"vilnius-sim: run failed: {type(exc).__name__}: {exc}\n")
        return ExitCode.ERROR
    sys.stdout.write(report.table() + "\n")
    if args.json:
        report.write_json(args.json)
    if args.csv:
        report.write_csv(args.csv)
    if args.html:
        report.write_html(args.html)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
