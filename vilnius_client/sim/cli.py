"""The command line's options: the parsers of `vilnius-sim` and `vilnius-sim merge`, and the
[SimConfig][vilnius_client.sim.SimConfig] the flags, the environment and a scenario file
describe together (a flag wins over the environment, the environment over the file)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .config import SimConfig
from .context import Scenario
from .scenario_file import read_scenario_file
from .shape import ArrivalPhase, parse_shard, parse_stage, parse_think_time

__all__ = [
    "config_from",
    "is_file",
    "load_hook",
    "load_scenario",
    "merge_parser",
    "options_from",
    "parser",
]

_EPILOG = """\
exit status:
  0    OK: every message delivered exactly once, every threshold and check met
  1    a message was lost or duplicated, or the final wait timed out
  2    bad arguments or scenario file, or credentials the server needs are missing
  3    the run failed (for instance the server refused the agent key)
  4    a threshold or check failed (--max-p99-ms, --max-error-rate, --max-reply-p95-ms,
       --max-unanswered, a scenario's check)
  5    the server could not be reached within --connect-timeout
  130  interrupted (Ctrl-C): the partial report is printed

environment:
  VILNIUS_URL        the server URL (instead of --url)
  VILNIUS_AGENT_KEY  the agent key (instead of --agent-key, which `ps` shows to everyone)
  VILNIUS_EMAIL      production (Lizdeika): the agent user every simulated agent logs in as
  VILNIUS_PASSWORD   its password (only from the environment)

vilnius-sim merge FILE... combines the --hdr-out files of a run's shards into one report
(vilnius-sim merge --help).
"""

T = TypeVar("T")


def _version() -> str:
    try:
        return importlib.metadata.version("vilnius-client")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


def parser() -> argparse.ArgumentParser:
    # Options a scenario file may also set have no default here (SUPPRESS): one given on the
    # command line wins over the file, the file over SimConfig's default.
    p = argparse.ArgumentParser(
        prog="vilnius-sim",
        description="Simulate customers (and agents, or talk to your bot) against a Vilnius "
        "server and report every delivery and reply; fail (exit status) on lost messages, "
        "unanswered ones, thresholds and errors.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument(
        "--url",
        help="server URL (default: $VILNIUS_URL, else start the reference server in-process)",
    )
    p.add_argument(
        "--scenario",
        metavar="FILE.toml|MODULE:FUNCTION",
        help="a scenario file (TOML: the load, its thresholds) or a Python scenario"
        " (async def scenario(ctx))",
    )
    who = p.add_argument_group("who answers")
    who.add_argument(
        "--bot",
        choices=["sim", "external"],
        help="sim: the run's own agents answer (default); external: no simulated agents,"
        " measure the time to each message's first reply by the agents the server has (your"
        " bot); needs --url",
    )
    who.add_argument("--agents", type=int, help="with --bot sim: agent bots (default: 2)")
    who.add_argument(
        "--reply", choices=["echo", "canned", "none"], help="with --bot sim: agents' answers"
    )
    who.add_argument(
        "--reply-deadline",
        type=float,
        metavar="S",
        help="with --bot external: a message without a reply within S seconds is unanswered"
        " (default: 10)",
    )
    load = p.add_argument_group("the load")
    load.add_argument("--customers", type=int, help="customers (default: 10)")
    load.add_argument("--duration", type=float, help="seconds to send (default: 10)")
    load.add_argument("--messages", type=int, help="send this many customer messages, then stop")
    load.add_argument("--rate", type=float, help="customer messages/s, all together (default: 10)")
    load.add_argument(
        "--spawn-rate",
        type=float,
        metavar="R",
        help="connect R customers a second, each sending once connected (the ramp-up; its "
        "latencies stay out of the figures). Default: connect all first, then send",
    )
    load.add_argument(
        "--stage",
        type=_argument(parse_stage),
        action="append",
        dest="stages",
        metavar="DURATION:CUSTOMERS",
        help="a stage of customers talking at once, ramping linearly from the previous"
        " stage's (repeat: --stage 10s:20 --stage 30s:20 --stage 10s:0)",
    )
    load.add_argument(
        "--arrival-rate",
        type=float,
        metavar="R",
        help="R new conversations a second for --duration, however long earlier ones take"
        " (the open model)",
    )
    load.add_argument(
        "--messages-per-customer",
        type=int,
        metavar="K",
        help="with --stage or --arrival-rate: messages each customer sends, then leaves"
        " (default: stages until let go, arrivals 3)",
    )
    load.add_argument(
        "--think-time",
        type=_argument(parse_think_time),
        metavar="S|MIN-MAX",
        help="seconds a customer waits between its messages, random in MIN-MAX (default:"
        " 1-3 with stages and arrivals; flat load: spaced by --rate)",
    )
    load.add_argument(
        "--conversation",
        metavar="MODULE:FUNCTION",
        help="what each customer does (async def conversation(customer)) instead of"
        " writing messages with think time",
    )
    load.add_argument(
        "--typing",
        action=argparse.BooleanOptionalAction,
        help="type before each message and reply (default: on)",
    )
    load.add_argument(
        "--churn",
        type=float,
        help="share of customers that disconnect once and come back, 0-1 (default: 0)",
    )
    load.add_argument("--seed", type=int, help="random seed")
    runs = p.add_argument_group("runs across machines")
    runs.add_argument(
        "--run-id",
        metavar="ID",
        help="the run's id (its tags, agents' and customers' ids start with it); default:"
        " random. Give every shard of one scenario the same",
    )
    runs.add_argument(
        "--shard",
        type=_argument(parse_shard),
        metavar="I/N",
        help="run shard I of N: every N-th customer of the scenario (needs --run-id)",
    )
    runs.add_argument(
        "--hdr-out",
        metavar="FILE",
        default=None,
        help="write the latency histograms (HdrHistogram log) and counters, for"
        " `vilnius-sim merge`",
    )
    server = p.add_argument_group("the server")
    server.add_argument(
        "--agent-key",
        help="the server's agent key, for servers with auth=token (default: $VILNIUS_AGENT_KEY;"
        " prefer the variable: the command line is visible to every user)",
    )
    server.add_argument(
        "--email",
        help="production (Lizdeika): the agent user the agents log in as (default:"
        " $VILNIUS_EMAIL; the password comes from $VILNIUS_PASSWORD)",
    )
    server.add_argument(
        "--profile",
        choices=["vilnius", "lizdeika"],
        help="without --url: the bundled server plays our contract (vilnius, the default) or"
        " production (lizdeika: agents log in; its message rate limit is off, and the report"
        " says what production's would refuse)",
    )
    server.add_argument(
        "--server-process",
        action="store_true",
        default=False,
        help="without --url: run the reference server in a child process instead of in-process"
        " (large runs: the server then does not share the simulator's event loop)",
    )
    server.add_argument(
        "--connect-timeout",
        type=float,
        metavar="S",
        help="seconds each client may take to connect; agents that cannot: exit 5 (default: 10)",
    )
    server.add_argument(
        "--drain-timeout", type=float, metavar="S", help="seconds to wait at the end (default: 15)"
    )
    _threshold_flags(p.add_argument_group("thresholds (exit 4)"))
    _output_flags(p)
    p.add_argument("--verbose", action="store_true", default=False, help="show the SDK's warnings")
    return p


def _threshold_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--max-p99-ms",
        type=float,
        metavar="MS",
        help="fail when the messages' p99 delivery latency is above MS",
    )
    group.add_argument(
        "--max-error-rate",
        type=float,
        metavar="F",
        help="fail when client errors per tracked send are above F (default: 0, any error fails)",
    )
    group.add_argument(
        "--max-reply-p95-ms",
        type=float,
        metavar="MS",
        help="with --bot external: fail when the 95th percentile of the time to the first"
        " reply is above MS",
    )
    group.add_argument(
        "--max-unanswered",
        type=int,
        metavar="N",
        help="with --bot external: fail when more than N messages went unanswered (default: 0)",
    )


def _output_flags(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", default=None, help="write the report as JSON")
    out.add_argument(
        "--csv",
        metavar="PREFIX",
        default=None,
        help="write PREFIX_stats.csv and PREFIX_stats_history.csv (one row a second)",
    )
    out.add_argument(
        "--html", metavar="PATH", default=None, help="write a self-contained HTML report"
    )
    out.add_argument(
        "--junit",
        metavar="PATH",
        default=None,
        help="write the verdict as JUnit XML, one test case per threshold and check",
    )
    out.add_argument("--quiet", action="store_true", default=False, help="no live progress line")


def merge_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vilnius-sim merge",
        description="Combine the --hdr-out files of a run's shards into one report: counters"
        " added, latency histograms merged, the thresholds the shards ran with (or those given"
        " here) checked; exit status as a run's.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="one --hdr-out file per shard")
    _threshold_flags(p.add_argument_group("thresholds (default: the shards')"))
    _output_flags(p)
    return p


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argparse type: its ValueError's message becomes the usage error."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def load_scenario(spec: str) -> Scenario:
    """Import ``module:function`` and return the function."""
    scenario: Scenario = load_hook(spec, "--scenario")
    return scenario


def load_hook(spec: str, flag: str) -> Any:
    """Import ``module:function`` or ``path/to/file.py:function`` (named by ``flag`` in
    errors) and return the function.

    Raises:
        ValueError: It cannot be imported.
    """
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"{flag} wants module:function or file.py:function, got {spec!r}")
    try:
        if module_name.endswith(".py"):
            name = "vilnius_sim_hook_" + Path(module_name).stem
            found = importlib.util.spec_from_file_location(name, module_name)
            if found is None or found.loader is None or not Path(module_name).is_file():
                raise ImportError(f"no file {module_name}")
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise ValueError(f"{flag} {spec}: {exc}") from None


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options: the scenario file's, then the environment's, then the flags'.

    Raises:
        ValueError: The scenario file is unreadable or wrong.
    """
    given = vars(args)
    options: dict[str, Any] = {}
    scenario = given.get("scenario")
    if scenario is not None and is_file(scenario):
        options.update(read_scenario_file(scenario))
    for name, variable in (
        ("url", "VILNIUS_URL"),
        ("agent_key", "VILNIUS_AGENT_KEY"),
        ("email", "VILNIUS_EMAIL"),
    ):
        if os.environ.get(variable):
            options[name] = os.environ[variable]
    options.update(given)
    return options


def config_from(args: argparse.Namespace, options: dict[str, Any]) -> SimConfig:
    """The [SimConfig][vilnius_client.sim.SimConfig] the parsed command line and its
    ``options`` (what `options_from` read of them) describe.

    Raises:
        ValueError: An option is out of range or contradicts another.
    """
    options = dict(options)  # the load shape's options are rewritten below
    url = options.get("url")
    if url:
        _check_url(url)
    if options.get("bot") == "external":
        if not url:
            raise ValueError("--bot external needs --url (or $VILNIUS_URL): where your bot runs")
        if "agents" in vars(args):  # a file's agents may serve --bot sim runs of it
            raise ValueError("--bot external starts no agents of its own: drop --agents")
    spec = options.get("scenario")
    if spec and not is_file(spec) and options.get("conversation"):
        raise ValueError(
            "--conversation is what each customer of the load does; a Python --scenario"
            " replaces the load: give one of them"
        )
    shard = options.get("shard")
    if shard is not None and shard.count > 1 and "run_id" not in options:
        raise ValueError("--shard needs --run-id, the same for every shard (to merge them)")
    given = vars(args)
    if "arrival_rate" in given and "stages" in given:
        raise ValueError("give --stage or --arrival-rate, not both")
    if "stages" in given:  # the command line's shape replaces the file's
        options.pop("arrivals", None)
    if "arrival_rate" in given:
        options.pop("stages", None)
        duration = options.get("duration", SimConfig.duration)
        options["arrivals"] = (ArrivalPhase(duration, options["arrival_rate"]),)
    fields = {f.name for f in dataclasses.fields(SimConfig)}
    settings = {k: v for k, v in options.items() if k in fields}
    for name in ("stages", "arrivals"):
        if name in settings:
            settings[name] = tuple(settings[name])
    if settings.get("email"):
        settings["password"] = os.environ.get("VILNIUS_PASSWORD")
    return SimConfig(**settings)


def is_file(spec: str) -> bool:
    """Whether ``--scenario spec`` names a scenario file (else a Python scenario)."""
    return spec.endswith(".toml") or Path(spec).is_file()


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"--url {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--url wants http(s)://host[:port], got {url!r}")
