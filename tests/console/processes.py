"""Processes for the browser tests: the reference server and bots, as a user starts them.

Plain ``subprocess`` with a reader thread per process (the browser tests are synchronous,
Selenium being a blocking client): :meth:`Proc.wait_for_line` waits for a line of output.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import scaled
from tests.examples.helpers import ROOT, example_env
from tests.faults.server_process import free_port

__all__ = ["Proc", "free_port", "start_bot", "start_server"]


class Proc:
    """A running process whose merged output is collected line by line."""

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        self.args = list(args)
        self.env = env
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen: subprocess.Popen[str] | None = None
        self._ended = False
        self.start()

    def start(self) -> None:
        """Start (again, after :meth:`kill`) with the same arguments."""
        self._ended = False
        self.popen = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, args=(self.popen,), daemon=True)
        self._reader.start()

    def _read(self, popen: subprocess.Popen[str]) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            if popen is self.popen:  # not an earlier run's reader
                self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        """Everything printed so far."""
        with self._changed:
            return "".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float = 20.0, *, since: int = 0) -> str:
        """The first line (from line ``since`` on) containing ``needle``; fail after ``timeout``
        or when the process ends without printing it."""

        def found() -> str | None:
            return next((line for line in self.lines[since:] if needle in line), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self._ended, scaled(timeout))
            line = found()
        if line is None:
            raise AssertionError(f"no line with {needle!r} from {self.args[1:3]}:\n{self.output}")
        return line

    def kill(self) -> None:
        """SIGKILL the process (a crash: nothing flushed) and reap it."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
        self._reap()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit soon."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.popen.kill()
        self._reap()

    def _reap(self) -> None:
        if self.popen is None:
            return
        self.popen.wait(scaled(10))
        self._reader.join(scaled(10))
        if self.popen.stdout is not None:
            self.popen.stdout.close()


def start_server(port: int, db: Path, *args: str) -> Proc:
    """``python -m mock_server`` on ``port`` with the database ``db``; wait for its banner."""
    server = Proc(
        [sys.executable, "-m", "mock_server", "--port", str(port), "--db", str(db), *args],
        example_env(),
    )
    server.wait_for_line("Press Ctrl+C to stop.")
    return server


def start_bot(script: Path, ready: str, **env: str) -> Proc:
    """Run a bot script (``examples/first_bot.py``, ...) and wait for its ``ready`` line."""
    bot = Proc([sys.executable, str(script)], example_env(**env))
    bot.wait_for_line(ready)
    return bot
