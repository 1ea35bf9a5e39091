"""``python -m mock_server`` as a subprocess: the CLI as a user starts it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

from tests.conftest import scaled

__all__ = ["LOG_LINE", "STARTUP", "Server", "environment"]

STARTUP = scaled(30.0)

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+): (.*)$")


def environment(**variables: str) -> dict[str, str]:
    """This process's environment (tests/conftest.py removed the server's variables) + more."""
    return {**os.environ, **variables}


class Server:
    """``python -m mock_server`` with its banner (stdout) and its log (stderr) read apart."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.banner: list[str] = []
        self.log: list[str] = []

    @classmethod
    async def start(cls, *args: str, **env: str) -> Server:
        """Start the server (on a free port unless ``VILNIUS_PORT`` is given); read its banner."""
        port = () if "VILNIUS_PORT" in env else ("--port", "0")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mock_server",
            *port,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment(**env),
        )
        server = cls(process)
        assert process.stdout is not None
        while not server.banner or not server.banner[-1].startswith("Press Ctrl+C"):
            line = await asyncio.wait_for(process.stdout.readline(), STARTUP)
            if not line:
                raise AssertionError(f"exited before listening: {await server.stop()}")
            server.banner.append(line.decode().strip())
        return server

    @property
    def url(self) -> str:
        """The URL of the banner's first line."""
        match = re.search(r"listening on (http://\S+)", self.banner[0])
        assert match, self.banner
        return match.group(1)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rsplit(":", 1)[1])

    async def log_line(self, pattern: str) -> re.Match[str]:
        """Read the log until a line matches ``pattern`` (a regular expression)."""
        assert self.process.stderr is not None
        async with asyncio.timeout(STARTUP):
            for line in self.log:
                if found := re.search(pattern, line):
                    return found
            while raw := await self.process.stderr.readline():
                self.log.append(raw.decode().rstrip("\n"))
                if found := re.search(pattern, self.log[-1]):
                    return found
        raise AssertionError(f"no log line matches {pattern!r}:\n" + "\n".join(self.log))

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Stop the server, read the rest of its log, return its exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signum)
        _, rest = await asyncio.wait_for(self.process.communicate(), STARTUP)
        self.log += rest.decode().splitlines()
        return await self.process.wait()
