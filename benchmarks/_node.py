"""The stock Node.js ``socket.io-client`` as a load generator (``benchmarks/node/clients.js``)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from typing import Any

from ._servers import NODE_DIR, ensure_node_modules

SCRIPT = NODE_DIR / "clients.js"


class NodeClients:
    """One ``node clients.js MODE URL ...`` process, spoken to in JSON lines."""

    def __init__(self, mode: str, url: str, *args: object) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed")
        ensure_node_modules()
        argv = [node, str(SCRIPT), mode, url, *(str(a) for a in args)]
        self.proc = subprocess.Popen(
            argv, cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._buffer = b""

    @property
    def pid(self) -> int:
        """Process id of the node process."""
        return self.proc.pid

    def send(self, value: Any) -> None:
        """Write one command (``None``: quit)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(value).encode() + b"\n")
        self.proc.stdin.flush()

    def poll(self, timeout: float) -> bool:
        """Whether a line can be read within ``timeout`` seconds."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                return False
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not chunk:
                return True  # end of output: recv() raises
            self._buffer += chunk
        return True

    def recv(self, timeout: float = 600.0) -> Any:
        """The next JSON line; ``RuntimeError`` when the process reported an error or died."""
        if not self.poll(timeout):
            raise TimeoutError(f"node clients.js said nothing in {timeout} s")
        if b"\n" not in self._buffer:
            raise RuntimeError(f"node clients.js exited with {self.proc.wait()}")
        line, self._buffer = self._buffer.split(b"\n", 1)
        value = json.loads(line)
        if isinstance(value, dict) and "error" in value:
            raise RuntimeError(f"node clients.js: {value['error']}")
        return value

    def close(self) -> None:
        """Ask the process to quit; kill it if it does not."""
        with contextlib.suppress(OSError):
            self.send(None)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class NodeWorker:
    """A ``node clients.js`` process in the place of a worker process and its pipe: the
    subclasses translate ``send`` and ``recv``; ``join``, ``is_alive`` and ``kill`` stop it."""

    def __init__(self, mode: str, url: str, *args: object) -> None:
        self.node = NodeClients(mode, url, *args)

    def poll(self, timeout: float) -> bool:
        return self.node.poll(timeout)

    def join(self, timeout: float) -> None:
        self.node.close()

    def is_alive(self) -> bool:
        return self.node.proc.poll() is None

    def kill(self) -> None:
        self.node.proc.kill()
