"""``python -m benchmarks`` (or ``./dev bench``): run the benchmarks and print the figures."""

from __future__ import annotations

import argparse

from . import fanout
from ._servers import KINDS, node_available


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("which", nargs="*", help="benchmarks to run: fanout (default)")
    parser.add_argument("--servers", default=",".join(KINDS))
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--agent-procs", type=int, default=2)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument(
        "--client",
        choices=["lite", "sio"],
        default="lite",
        help="load-generator sockets: a minimal Socket.IO client (default) or python-socketio",
    )
    args = parser.parse_args(argv)
    args.which = args.which or ["fanout"]
    if "fanout" in args.which:
        cfg = fanout.Config(
            agents=args.agents,
            customers=args.customers,
            agent_procs=args.agent_procs,
            duration=args.duration,
            rate=args.rate,
            window=args.window,
            client=args.client,
        )
        kinds = [k for k in args.servers.split(",") if k != "node" or node_available()]
        results = []
        for kind in kinds:
            print(f"fan-out: {kind} ...", flush=True)
            results.append(fanout.run_one(kind, cfg))
        print(fanout.report(results, cfg))


if __name__ == "__main__":
    main()
