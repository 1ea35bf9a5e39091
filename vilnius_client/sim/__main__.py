"""``vilnius-sim``: the simulator's command line (``vilnius-sim merge`` combines shards)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import secrets
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from .. import AuthError
from . import cli
from .config import MissingCredentialsError, ServerUnreachableError, SimConfig
from .context import Conversation, Scenario
from .engine import Simulation
from .merge import MergeError, merge
from .report import Report
from .verdict import ExitCode

#: The agent user of the in-process server with --profile lizdeika.
SIM_AGENT_EMAIL = "sim-agent@example.com"


def _describe(config: SimConfig) -> str:
    who = (
        "the server's agents (--bot external)"
        if config.bot == "external"
        else f"{config.agents} agents"
    )
    if config.stages:
        peak = max(stage.customers for stage in config.stages)
        load = f"{len(config.stages)} stages up to {peak} customers"
    elif config.arrivals:
        load = f"{len(config.arrivals)} arrival phase(s)"
    else:
        load = f"{config.customers} customers"
    shard = f" (shard {config.shard})" if config.shard.count > 1 else ""
    return f"{load}{shard} and {who}"


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


async def run(
    args: argparse.Namespace,
    config: SimConfig,
    scenario: Scenario | None,
    conversation: Conversation | None = None,
) -> Report:
    """Run the simulation the parsed command line describes (``config``, ``scenario``,
    ``conversation``: what `config_from` and `load_hook` made of it).

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

        def started() -> None:
            if not args.quiet:
                _say(
                    f"run {config.namespace}: {_describe(config)} against {url}"
                    " (Ctrl-C stops and reports)"
                )

        sim = Simulation(
            url,
            config,
            scenario=scenario,
            conversation=conversation,
            progress=progress,
            on_start=started,
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
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    parser = cli.parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Hundreds of clients repeat the same warning; the report counts reconnects anyway.
        logging.getLogger("vilnius_client").setLevel(logging.ERROR)
        for handler in logging.getLogger().handlers:
            handler.addFilter(_said_by_the_simulator)
    try:
        options = cli.options_from(args)
        config = cli.config_from(args, options)
        spec = options.get("scenario")
        scenario = cli.load_scenario(spec) if spec and not cli.is_file(spec) else None
        hook = options.get("conversation")
        conversation = cli.load_hook(hook, "--conversation") if hook else None
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"vilnius-sim: error: {exc}\n")
        return ExitCode.USAGE
    args.url = options.get("url")
    args.profile = options.get("profile", "vilnius")
    try:
        report = asyncio.run(run(args, config, scenario, conversation))
    except MissingCredentialsError as exc:
        sys.stderr.write(f"vilnius-sim: {exc}\n")
        return ExitCode.USAGE
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
    if args.hdr_out:
        report.write_hdr(args.hdr_out)
    return _write(report, args)


def _said_by_the_simulator(record: logging.LogRecord) -> bool:
    """Leave out the SDK's "stopped connecting" error: the simulator says why it could not
    start (unreachable, refused, missing credentials) in its own one line."""
    return not (record.name.startswith("vilnius_client") and "stopped connecting" in record.msg)


def merge_main(argv: list[str]) -> int:
    """``vilnius-sim merge FILE...``: one report of a run's shards; returns the exit status."""
    parser = cli.merge_parser()
    args = parser.parse_args(argv)
    thresholds = {
        name: getattr(args, name)
        for name in ("max_p99_ms", "max_error_rate", "max_reply_p95_ms", "max_unanswered")
        if hasattr(args, name)
    }
    try:
        report = merge(args.files, **thresholds)
    except MergeError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"vilnius-sim merge: error: {exc}\n")
        return ExitCode.USAGE
    return _write(report, args)


def _write(report: Report, args: argparse.Namespace) -> int:
    sys.stdout.write(report.table() + "\n")
    if args.json:
        report.write_json(args.json)
    if args.csv:
        report.write_csv(args.csv)
    if args.html:
        report.write_html(args.html)
    if args.junit:
        report.write_junit(args.junit)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
