"""The reference server as a real subprocess, so that it can be SIGKILLed.

An in-process server can only be stopped politely; a ``kill -9`` is the
honest test of persistence (nothing flushed on the way out, sockets reset by
the kernel) and of the clients' recovery from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import aiohttp

from tests.deployments import USERS
from tests.faults.timing import scaled

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``python -m mock_server`` on a fixed port and a file database.

    Each :meth:`start` runs a new process on the same port and database; the
    output of every run is appended to ``log_path``. ``async with`` starts it and
    closes it at exit.
    """

    def __init__(
        self,
        *,
        port: int,
        db: Path,
        log_path: Path,
        auth: str = "none",
        profile: str = "vilnius",
        extra_args: Sequence[str] = (),
    ) -> None:
        """Describe the server; nothing runs until :meth:`start`.

        Args:
            port: The fixed port (restarts reuse it, as clients keep the URL).
            db: The SQLite file; it survives kills and restarts.
            log_path: Where stdout and stderr of every run are appended.
            auth: ``none`` or ``token``.
            profile: ``vilnius`` or ``lizdeika``.
            extra_args: More command-line options of ``python -m mock_server``.
        """
        self.port = port
        self.db = db
        self.log_path = log_path
        self.auth = auth
        self.profile = profile
        self.extra_args = tuple(extra_args)
        self.starts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @classmethod
    def of_profile(cls, directory: Path, profile: str) -> ServerProcess:
        """The server of ``profile`` on a free port, its database and log in ``directory``
        (on ``lizdeika``: the agent users of :mod:`tests.deployments`, no rate limit)."""
        users = [f"--agent-user={u.email}:{u.password}:{u.name}" for u in USERS.values()]
        return cls(
            port=free_port(),
            db=directory / "chat.db",
            log_path=directory / "server.log",
            profile=profile,
            extra_args=(*users, "--message-rate-limit", "off") if profile == "lizdeika" else (),
        )

    async def __aenter__(self) -> ServerProcess:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """Process id of the current run."""
        if self._proc is None:
            raise RuntimeError("server process not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether a process was started and has not exited."""
        return self._proc is not None and self._proc.returncode is None

    def log_text(self) -> str:
        """Everything the server runs printed so far."""
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def start(self, *, timeout: float = 15.0) -> float:  # noqa: ASYNC109
        """Start a run and wait until ``GET /health`` answers.

        Returns:
            Seconds from spawn to healthy.

        Raises:
            RuntimeError: the process exited or never became healthy.
        """
        if self.running:
            raise RuntimeError("server process already running")
        if self._log is None:
            self._log = self.log_path.open("ab")
        began = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mock_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db",
            str(self.db),
            "--auth",
            self.auth,
            "--profile",
            self.profile,
            *self.extra_args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        self.starts += 1
        deadline = began + scaled(timeout)
        client_timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            while True:
                if self._proc.returncode is not None:
                    raise RuntimeError(
                        f"server exited with {self._proc.returncode}:\n{self.log_text()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return time.monotonic() - began
                if time.monotonic() > deadline:
                    await self.kill()
                    raise RuntimeError(f"server not healthy in time:\n{self.log_text()}")
                await asyncio.sleep(0.02)

    async def kill(self) -> None:
        """SIGKILL the run (no cleanup of any kind) and reap it."""
        await self._end(signal.SIGKILL)

    async def terminate(self) -> None:
        """SIGTERM the run and reap it (SIGKILL if it does not exit soon)."""
        await self._end(signal.SIGTERM)

    async def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), scaled(5))
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def close(self) -> None:
        """End any run and close the log."""
        await self.terminate()
        if self._log is not None:
            self._log.close()
            self._log = None
