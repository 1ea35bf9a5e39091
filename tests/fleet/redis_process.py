"""A real ``redis-server`` (the Debian package) on a free loopback port, for the fleet tests.

Started without persistence (``--save ""``, no AOF): a restart loses every key, which is
what the Redis-restart test measures (the worst case of a failover).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.faults.server_process import free_port

__all__ = ["RedisProcess", "redis_server_path"]


def redis_server_path() -> str | None:
    """Where ``redis-server`` is (``None``: not installed)."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


class RedisProcess:
    """One ``redis-server``: `start`, `kill`, `restart` on the same port.

    Args:
        directory: Its working directory (and log file).
        port: The port (default: a free one).
    """

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.log_path = directory / f"redis-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether a process runs."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start it and wait until it answers ``PING``."""
        path = redis_server_path()
        if path is None:
            raise RuntimeError("redis-server is not installed")
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    path,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.directory),
                    "--loglevel",
                    "warning",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_path.read_text()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("redis-server did not answer PING in time")
            time.sleep(0.02)

    def answers(self) -> bool:
        """Whether it answers ``PING`` now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL it (every key is lost) and reap it."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self, down: float = 0.0) -> None:
        """Kill it, wait ``down`` seconds, start it again on the same port, empty."""
        self.kill()
        time.sleep(down)
        self.start()
