"""``vilnius-bot run module:attribute``: run a bot in production, and stop it cleanly.

```console
$ vilnius-bot run examples.first_bot:bot --drain-timeout 20 --health-port 8080
$ python -m vilnius_client.run examples.first_bot:bot      # the same
```

The attribute is an `AgentClient` (or `CustomerClient`) with its handlers registered, or a
function (plain or async) that returns one. The runner imports it (the current directory
first on the path, as ``python -m`` does), connects, and runs until it is stopped:

* **SIGTERM or SIGINT**: the bot stops taking events, the handlers finish what they were
  given (for at most ``--drain-timeout`` seconds; what is left is not marked handled),
  a fleet stores what was handled and gives its conversations away (the other replicas
  take them over at once), and the process exits 0. A second signal stops at once (1).
* **A refused login or key**: one line on stderr, exit status 1 (no retry mends it).
* **A server that cannot be used** (down for ``connect_timeout``, not a Vilnius server),
  a fleet's Redis that does not answer, a bot that gave up reconnecting: one line, 1.
* **A target that cannot be imported or is not a client**: one line, 2.

``--fleet redis://...`` runs the bot as one replica of a fleet
(`vilnius_client.fleet.RedisFleet`, the ``fleet`` extra): any bot, with no change to its
code; ``--fleet-group`` and ``--lease-ttl`` are the fleet's ``group`` and ``lease_ttl``.
Without it, ``$VILNIUS_FLEET`` does the same, unless the bot made its fleet itself (a bot
with ``fleet=RedisFleet.from_env()`` reads that very variable).

``--health-port`` serves ``GET /livez`` (200 while the bot runs or reconnects, 503 once it
gave up) and ``GET /readyz`` (200 while connected and, in a fleet, Redis answers; 503
otherwise and while draining), each with a JSON body, for an orchestrator's probes.
``--metrics`` records the client's metrics (`vilnius_client.metrics`, the ``otel`` extra)
in OpenTelemetry's global meter provider, which the application or
``opentelemetry-instrument`` configures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from ._client import ClientBase
from .agent import AgentClient
from .errors import AuthError, ForbiddenError, VilniusError

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "main", "serve_health"]

PROG = "vilnius-bot"

EXIT_FAILED = 1
"""Exit status of a bot that was refused, could not connect, or gave up."""

EXIT_USAGE = 2
"""Exit status of a target that cannot be imported or is not a client."""


class _Usage(Exception):
    """A target that cannot be run (one line to print)."""


def load(target: str) -> Any:
    """The object ``module:attribute`` names (the working directory first on the path).

    Raises:
        _Usage: It cannot be imported or has no such attribute.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise _Usage(f"expected module:attribute (e.g. examples.first_bot:bot), got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _Usage(f"cannot import {module_name}: {exc}") from exc
    try:
        value: Any = module
        for name in attribute.split("."):
            value = getattr(value, name)
    except AttributeError:
        raise _Usage(f"{module_name} has no attribute {attribute!r}") from None
    return value


async def make_client(value: Any, target: str) -> ClientBase:
    """The client ``value`` is, or returns when called (awaited if need be).

    Raises:
        _Usage: Neither.
    """
    if not isinstance(value, ClientBase) and callable(value):
        try:
            value = value()
            if inspect.isawaitable(value):
                value = await value
        except ImportError as exc:  # a missing extra (RedisFleet without redis-py)
            raise _Usage(f"{target}: {exc}") from exc
    if not isinstance(value, ClientBase):
        raise _Usage(
            f"{target} is a {type(value).__name__}: expected an AgentClient or "
            "CustomerClient, or a function returning one"
        )
    return value


def join_fleet(client: ClientBase, args: argparse.Namespace) -> None:
    """Make ``client`` a replica of the fleet ``--fleet`` names.

    Raises:
        _Usage: Not an agent, a fleet already, or the ``fleet`` extra is missing.
    """
    if not isinstance(client, AgentClient):
        raise _Usage("--fleet: only an AgentClient answers customers as a fleet")
    if client._fleet is not None:
        raise _Usage(f"--fleet: {args.target} is a fleet's replica already (fleet=)")
    from .fleet import RedisFleet

    try:
        fleet = RedisFleet(args.fleet, group=args.fleet_group, lease_ttl=args.lease_ttl)
    except (ImportError, ValueError) as exc:
        raise _Usage(f"--fleet: {exc}") from exc
    client._use_fleet(fleet)


def _state(client: ClientBase, draining: bool) -> dict[str, Any]:
    status = client.get_connection_status()
    state: dict[str, Any] = {
        "state": str(status.state),
        "mode": status.mode,
        "draining": draining,
    }
    fleet = client._fleet
    status_of = getattr(fleet, "status", None)
    if status_of is not None:
        fleet_status = status_of()
        state["fleet"] = {
            "redis": fleet_status.redis,
            "leading": fleet_status.leading,
            "holding": fleet_status.holding,
        }
    return state


async def serve_health(
    client: ClientBase, host: str, port: int, draining: asyncio.Event
) -> web.AppRunner:
    """Serve ``/livez`` and ``/readyz`` for ``client`` (see the module docstring)."""

    async def livez(request: web.Request) -> web.Response:
        alive = client.manager._connection.fatal is None
        return web.json_response(
            {**_state(client, draining.is_set()), "alive": alive}, status=200 if alive else 503
        )

    async def readyz(request: web.Request) -> web.Response:
        state = _state(client, draining.is_set())
        ready = (
            client.manager.connected
            and not draining.is_set()
            and state.get("fleet", {}).get("redis", True)
        )
        return web.json_response({**state, "ready": ready}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run(args: argparse.Namespace) -> int:
    """Import, connect, run until a signal, drain; the exit status."""
    target: str = args.target
    client = await make_client(load(target), target)
    client.manager.close_timeout = args.drain_timeout
    if args.fleet:
        join_fleet(client, args)
    elif os.environ.get("VILNIUS_FLEET") and client._fleet is None:
        args.fleet = os.environ["VILNIUS_FLEET"]
        join_fleet(client, args)
    if args.metrics:
        from .metrics import instrument

        instrument(client)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    draining = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    health: web.AppRunner | None = None
    try:
        if args.health_port is not None:
            health = await serve_health(client, args.health_host, args.health_port, draining)
        try:
            await client.connect()
        except (AuthError, ForbiddenError) as exc:
            await client.disconnect()
            return _fail(f"refused: {exc}")
        except VilniusError as exc:
            await client.disconnect()
            return _fail(f"cannot connect to {client.manager.url}: {exc}")
        _say(f"{target} connected to {client.manager.url}; SIGTERM or Ctrl-C drains and stops")
        running = asyncio.ensure_future(client.run_forever())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait((running, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if running.done():
            failure = running.exception()
            await client.disconnect()
            return _fail(f"gave up: {failure}") if failure is not None else 0
        running.cancel()
        draining.set()
        stop.clear()
        _say(f"draining (at most {args.drain_timeout:g} s); a second signal stops at once")
        drain = asyncio.ensure_future(client.disconnect())
        forced = asyncio.ensure_future(stop.wait())
        await asyncio.wait((drain, forced), return_when=asyncio.FIRST_COMPLETED)
        if not drain.done():
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError, VilniusError):
                await drain
            return _fail("stopped before the drain ended")
        forced.cancel()
        drain.result()
        _say("stopped")
        return 0
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
        if health is not None:
            await health.cleanup()


def _say(line: str) -> None:
    sys.stderr.write(f"{PROG}: {line}\n")
    sys.stderr.flush()


def _fail(line: str) -> int:
    _say(line.replace("\n", " "))
    return EXIT_FAILED


def parser() -> argparse.ArgumentParser:
    """The command line of ``vilnius-bot run``."""
    command = argparse.ArgumentParser(
        prog=f"{PROG} run",
        description="Run a bot (an AgentClient with its handlers) until SIGTERM or SIGINT.",
    )
    command.add_argument("target", help="module:attribute, e.g. examples.first_bot:bot")
    command.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        help="seconds the handlers get to finish on SIGTERM (default: %(default)s)",
    )
    command.add_argument(
        "--health-port", type=int, help="serve /livez and /readyz on this port (default: none)"
    )
    command.add_argument(
        "--health-host", default="0.0.0.0", help="address of the health endpoints (%(default)s)"
    )
    command.add_argument(
        "--fleet",
        metavar="REDIS_URL",
        help="run as one replica of a fleet coordinated in this Redis (default: $VILNIUS_FLEET,"
        " unless the bot made its fleet itself, as RedisFleet.from_env() does)",
    )
    command.add_argument("--fleet-group", help="the fleet's name (default: the agent id)")
    command.add_argument(
        "--lease-ttl",
        type=float,
        default=10.0,
        help="seconds a dead replica keeps its conversations (default: %(default)s)",
    )
    command.add_argument(
        "--metrics",
        action="store_true",
        help="record metrics in OpenTelemetry's global meter provider (extra: otel)",
    )
    command.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="log the SDK's messages of this level and above on stderr (default: none; "
        "the runner's own lines say what happens)",
    )
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """``vilnius-bot run ...`` or ``python -m vilnius_client.run ...``; the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["run"]:
        arguments = arguments[1:]
    args = parser().parse_args(arguments)
    if args.log_level is not None:
        logging.basicConfig(
            level=args.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    try:
        return asyncio.run(run(args))
    except _Usage as exc:
        _say(str(exc))
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
