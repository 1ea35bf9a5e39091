"""Run an example script as a subprocess while the test's event loop serves the server."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def example_env(**extra: str) -> dict[str, str]:
    """The environment of an example: the repo importable, unbuffered UTF-8 output, and a
    resume file of its own (``$VILNIUS_RESUME_FILE``, in a new temporary folder) unless
    ``extra`` names one: a bot's place never leaks from one test into the next."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VILNIUS_")}
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    resume = str(Path(tempfile.mkdtemp(prefix="vilnius-example-")) / "resume.json")
    env.update(
        PYTHONPATH=os.pathsep.join(path),
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
        NO_COLOR="1",
        VILNIUS_RESUME_FILE=resume,
    )
    env.update(extra)
    return env


class Example:
    """One running example; its stdout and stderr are merged and collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, script: str | Path, *args: str, **env: str) -> Example:
        """Start ``examples/<script>`` (or the script at an absolute path) with ``args``."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / script),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=example_env(**env),
            cwd=str(ROOT),
        )
        return cls(proc)

    @property
    def output(self) -> str:
        """Everything read so far."""
        return "".join(self.lines)

    async def _read_line(self) -> str:
        assert self.proc.stdout is not None
        line = (await self.proc.stdout.readline()).decode("utf-8", "replace")
        if line:
            self.lines.append(line)
        return line

    async def wait_for_line(self, needle: str, limit: float = 10.0) -> str:
        """Read until a line contains ``needle``; fail with the output so far."""
        try:
            async with asyncio.timeout(scaled(limit)):
                while True:
                    line = await self._read_line()
                    if not line:
                        raise AssertionError(f"exited before {needle!r}:\n{self.output}")
                    if needle in line:
                        return line
        except TimeoutError:
            raise AssertionError(f"no line with {needle!r} in time:\n{self.output}") from None

    async def finish(self, limit: float = 20.0) -> int:
        """Read to the end and return the exit status (kill it when it hangs)."""
        try:
            async with asyncio.timeout(scaled(limit)):
                while await self._read_line():
                    pass
                return await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"did not finish in time:\n{self.output}") from None

    async def interrupt(self) -> int:
        """Ctrl-C, then :meth:`finish`."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        return await self.finish()

    async def kill(self) -> None:
        """Make sure the process is gone (test teardown)."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


def load_example(script: str) -> ModuleType:
    """Import ``examples/<script>`` as a module, to run it in the test's event loop."""
    name = "example_" + script.removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
