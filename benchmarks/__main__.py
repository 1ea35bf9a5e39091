"""``python -m benchmarks`` (or ``./dev bench``): run the benchmarks and print the figures.

``python -m benchmarks`` runs them all (a few minutes); name some to run only those:
``fanout`` (reference vs thin python-socketio vs Node.js socket.io), ``sdk`` (AgentClient vs a
raw python-socketio client and the stock Node.js client), ``capacity`` (connections one
reference server holds, lite and stock clients), ``slow`` (one agent stops reading during a
burst: the server's memory and the other agents' latency), ``fleet`` (what a RedisFleet adds per
message, claim + mark, beside a bot alone; messages per second of 1 vs 3 replicas with a
CPU-bound handler; needs redis-server).
Figures are printed, never asserted: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess

from . import capacity, fanout, fleet, sdk_overhead, slow_reader
from ._servers import KINDS, node_available

ALL = ("fanout", "sdk", "capacity", "slow", "fleet")


def machine() -> str:
    """One line describing the machine and runtimes (for the results file)."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    node = "absent"
    if node_available():
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, node {node},"
        f" load average {load:.2f} at start"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen benchmarks."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("which", nargs="*", help=f"benchmarks to run: {', '.join(ALL)} (all)")
    parser.add_argument("--servers", default=",".join(KINDS), help="fan-out servers to compare")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per phase")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s, latency phase")
    parser.add_argument("--rounds", type=int, default=2, help="repeat, keep the best")
    parser.add_argument("--agent-procs", type=int, default=1)
    parser.add_argument("--window", type=int, default=50, help="events in flight, saturation")
    parser.add_argument(
        "--client",
        default="lite,node",
        help="fan-out load generators, comma-separated: lite (a minimal Socket.IO client),"
        " node (stock socket.io-client 4, default options), sio (python-socketio)"
        " (default: %(default)s; node only where node is installed)",
    )
    parser.add_argument("--connections", type=int, default=2000, help="capacity: lite clients")
    parser.add_argument(
        "--stock-connections",
        type=int,
        default=1000,
        help="capacity: stock socket.io-client connections (0: skip)",
    )
    parser.add_argument("--sdk-events", type=int, default=20000, help="sdk: events per run")
    parser.add_argument("--fleet-rate", type=float, default=100.0, help="fleet: messages/s")
    parser.add_argument("--work-ms", type=float, default=10.0, help="fleet: CPU per reply")
    parser.add_argument("--burst", type=int, default=1000, help="fleet: messages, throughput")
    args = parser.parse_args(argv)
    unknown = set(args.which) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    which = args.which or list(ALL)
    print(f"machine: {machine()}", flush=True)
    if "fanout" in which:
        kinds = [k for k in args.servers.split(",") if k != "node" or node_available()]
        for client in args.client.split(","):
            if client == "node" and not node_available():
                print("fan-out: node is not installed, skipping the stock client", flush=True)
                continue
            cfg = fanout.Config(
                agents=args.agents,
                customers=args.customers,
                agent_procs=args.agent_procs,
                duration=args.duration,
                rate=args.rate,
                window=args.window,
                client=client,
            )
            print(fanout.report(fanout.run_all(kinds, cfg, args.rounds), cfg), flush=True)
    if "sdk" in which:
        print(sdk_overhead.run(count=args.sdk_events, rounds=args.rounds).report(), flush=True)
    if "slow" in which:
        cfg = fanout.Config(
            agents=args.agents,
            customers=args.customers,
            agent_procs=args.agent_procs,
            duration=10.0,
            rate=args.rate,
            pad=4000,
        )
        print(slow_reader.run(cfg, rounds=args.rounds).report(), flush=True)
    if "fleet" in which:
        result = fleet.run(rate=args.fleet_rate, work_ms=args.work_ms, burst=args.burst)
        print(result.report(), flush=True)
    if "capacity" in which:
        print(capacity.run(args.connections).report(), flush=True)
        if args.stock_connections and node_available():
            for kind in ("ref", "refz"):
                result = capacity.run(args.stock_connections, client="node", server_kind=kind)
                print(result.report(), flush=True)


if __name__ == "__main__":
    main()
