"""Start and measure the servers under test as subprocesses (loopback only)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent / "node"
REPO_ROOT = Path(__file__).resolve().parent.parent
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

#: Server kinds the benchmarks know how to start (``refz``: reference, ``--ws-compression``).
KINDS = ("ref", "thin", "node")
ALL_KINDS = (*KINDS, "refz", "ref-stock")
"""``ref-stock``: the reference server with its fast path off (``VILNIUS_FAST_PATHS=0``),
for the A/B of ``--servers ref,ref-stock``."""


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds consumed so far by process ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def node_available() -> bool:
    """True when ``node`` and ``npm`` are on PATH."""
    return shutil.which("node") is not None and shutil.which("npm") is not None


def ensure_node_modules() -> None:
    """Install the Node.js peers' dependencies (socket.io 4, socket.io-client 4) on first use."""
    modules = NODE_DIR / "node_modules"
    if (modules / "socket.io").is_dir() and (modules / "socket.io-client").is_dir():
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        check=True,
        stdout=subprocess.DEVNULL,
    )


@dataclass
class ServerProcess:
    """A running server subprocess."""

    kind: str
    url: str
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self.proc.pid


def _command(kind: str, port: int) -> tuple[list[str], Path]:
    if kind in ("ref", "refz", "ref-stock"):
        cmd = [sys.executable, "-m", "mock_server", "--port", str(port)]
        cmd += ["--db", ":memory:", "--auth", "none", "--log-level", "WARNING"]
        if kind == "refz":
            cmd.append("--ws-compression")
        return cmd, REPO_ROOT
    if kind == "thin":
        return [sys.executable, "-m", "benchmarks.thin_server", "--port", str(port)], REPO_ROOT
    if kind == "node":
        ensure_node_modules()
        return ["node", "server.js", "--port", str(port)], NODE_DIR
    raise ValueError(f"unknown server kind {kind!r}; expected one of {ALL_KINDS}")


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Poll ``GET /health`` until it answers 200 (the server is up) or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=1) as resp,
        ):
            if resp.status == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not become healthy in {timeout} s")


@contextlib.contextmanager
def run_server(
    kind: str, extra: tuple[str, ...] = (), log: Path | None = None
) -> Iterator[ServerProcess]:
    """Start a server of ``kind`` (command-line options ``extra``) on a free loopback port;
    its standard error goes to ``log`` when given."""
    port = free_port()
    cmd, cwd = _command(kind, port)
    cmd += extra
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    if kind == "ref-stock":
        env["VILNIUS_FAST_PATHS"] = "0"
    stderr = log.open("wb") if log is not None else None
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    server_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(server_url, proc)
        yield ServerProcess(kind, server_url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if stderr is not None:
            stderr.close()
