"""Slow reader: one agent stops reading during a burst; what it costs the server and the others.

Two runs against a fresh reference server each, same load: ``agents`` agents reading
(lite clients, as in the fan-out benchmark) while customers post ``new-message`` at a fixed
rate (default 200/s, i.e. 10,000 deliveries/s with 50 agents; 2,000 messages = 100,000
deliveries), each message padded to ``pad`` characters so that the paused agent's share
(~0.9 MB/s) overflows its socket buffers within seconds. In the second run one more agent,
the stock Node.js ``socket.io-client`` 4 with default options, joins the dashboard and is
then stopped (SIGSTOP) for the whole burst: it reads nothing.

Reported per run: the reading agents' p50/p99 delivery latency and lost deliveries, the
server's peak RSS growth during the burst (``/proc``, sampled every 20 ms), and whether the
server closed the paused agent's connection (its log line). The targets: RSS grows by less
than 50 MB, and the readers' p99 stays within 2x of the run without the slow reader.
"""

from __future__ import annotations

import math
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import fanout
from ._node import NodeClients
from ._servers import node_available, rss_bytes, run_server
from ._stats import fmt_ms, lower_latency, ratio


@dataclass
class Run:
    """One run's figures."""

    slow: bool
    p50: float = math.nan
    p99: float = math.nan
    sent: int = 0
    lost: int = 0
    rss_growth: int = 0
    server_cpu: float = 0.0
    dropped: bool = False
    log: str = ""


@dataclass
class Result:
    """Both runs."""

    cfg: fanout.Config
    limit: int
    runs: list[Run] = field(default_factory=list)

    def report(self) -> str:
        """Format the figures and the p99 ratio."""
        cfg = self.cfg
        lines = [
            f"Slow reader: {cfg.agents} reading agents, new-message at {cfg.rate:g}/s for"
            f" {cfg.duration:g} s ({cfg.rate * cfg.duration * cfg.agents:,.0f} deliveries),"
            f" {cfg.pad:,}-character messages; limit {self.limit:,} bytes per connection",
            f"{'run':<22} {'p50 ms':>7} {'p99 ms':>7} {'lost':>5} {'server RSS +MiB':>16}"
            f" {'server cpu':>10} {'slow one closed':>16}",
        ]
        for run in self.runs:
            name = "with a paused agent" if run.slow else "without"
            lines.append(
                f"{name:<22} {fmt_ms(run.p50):>7} {fmt_ms(run.p99):>7} {run.lost:>5}"
                f" {run.rss_growth / 2**20:>16.1f} {run.server_cpu:>10.0%}"
                f" {('yes' if run.dropped else 'no'):>16}"
            )
        if len(self.runs) == 2:
            lines.append(
                f"readers' p99 with / without the paused agent: "
                f"{ratio(self.runs[1].p99, self.runs[0].p99)} (target <= 2x);"
                f" RSS growth target < 50 MiB"
            )
        return "\n".join(lines)


def _one(cfg: fanout.Config, slow: bool, limit: int) -> Run:
    run = Run(slow)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        extra = ("--max-outgoing-buffer", str(limit), "--log-level", "WARNING")
        with run_server("ref", extra, log=log) as server:
            fleet = fanout.Fleet(server.url, cfg)
            peer: NodeClients | None = None
            try:
                if slow:
                    peer = NodeClients("receive", server.url, 10**9)
                    peer.recv(60)
                    os.kill(peer.pid, signal.SIGSTOP)
                rss_before = rss_bytes(server.pid)
                peak = rss_before
                stop = threading.Event()

                def sample() -> None:
                    nonlocal peak
                    while not stop.is_set():
                        peak = max(peak, rss_bytes(server.pid))
                        time.sleep(0.02)

                sampler = threading.Thread(target=sample)
                sampler.start()
                try:
                    phase = fanout._measure(fleet, server.pid, fanout.MESSAGE, "rate", cfg)
                finally:
                    stop.set()
                    sampler.join()
                run.p50, run.p99 = phase.p50, phase.p99
                run.sent, run.lost = phase.sent, phase.expected - phase.delivered
                run.rss_growth = peak - rss_before
                run.server_cpu = phase.server_cpu
            finally:
                if peer is not None:
                    os.kill(peer.pid, signal.SIGCONT)
                    peer.close()
                fleet.close()
        run.log = log.read_text(errors="replace")
        run.dropped = "closing connection" in run.log
    return run


def run(cfg: fanout.Config, limit: int = 1024 * 1024, rounds: int = 2) -> Result:
    """Measure without, then with, a paused agent, ``rounds`` times interleaved; per kind
    keep the run with the lowest readers' p99 (and the highest RSS growth seen)."""
    result = Result(cfg, limit)
    kinds = (False, True) if node_available() else (False,)
    best: dict[bool, Run] = {}
    for r in range(rounds):
        for slow in kinds:
            what = "with" if slow else "without"
            print(f"slow reader: {what} a paused agent (round {r + 1}/{rounds}) ...", flush=True)
            run = _one(cfg, slow, limit)
            kept = best.get(slow)
            if kept is None:
                best[slow] = run
            else:
                growth = max(kept.rss_growth, run.rss_growth)
                dropped = kept.dropped and run.dropped
                best[slow] = kept if lower_latency(kept.p99, run.p99) else run
                best[slow].rss_growth, best[slow].dropped = growth, dropped
    result.runs = [best[slow] for slow in kinds]
    return result
