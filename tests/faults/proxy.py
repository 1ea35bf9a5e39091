"""A loopback TCP proxy that can cut the network without closing a socket.

``TcpProxy`` listens on ``127.0.0.1`` (port 0 by default) and forwards every
connection to a target. :meth:`TcpProxy.pause` turns it into a black hole: no
byte moves in either direction, yet every socket stays open, so neither end
sees a FIN or a RST, just silence, which is what a dead NAT entry, a pulled
cable or a suspended laptop looks like. A client can only notice by
application-level heartbeats. :meth:`TcpProxy.resume` lets bytes flow again:
held bytes are delivered (like TCP retransmission after a short outage), and
connections accepted during the pause are connected to the target. An end
that gave up on a connection meanwhile closes it; the proxy passes that close
on once it is resumed.

Usage::

    async with TcpProxy("127.0.0.1", server.port) as proxy:
        client = Client(f"http://127.0.0.1:{proxy.port}")
        proxy.pause()
        ...
        proxy.resume()
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

__all__ = ["TcpProxy"]

_CHUNK = 65536


class TcpProxy:
    """A TCP forwarder with a black-hole switch.

    Attributes:
        accepted: Connections accepted since start.
        bytes_forwarded: Bytes forwarded, both directions summed.
    """

    def __init__(
        self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        """Create a stopped proxy; :meth:`start` (or ``async with``) listens.

        Args:
            target_host: Host to forward to.
            target_port: Port to forward to.
            host: Address to listen on.
            port: Port to listen on; 0 picks a free one.
        """
        self.target_host = target_host
        self.target_port = target_port
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0
        self.bytes_forwarded = 0

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        if self._server is None:
            raise RuntimeError("proxy not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy."""
        return f"http://{self._host}:{self.port}"

    @property
    def paused(self) -> bool:
        """Whether the proxy is a black hole right now."""
        return not self._flowing.is_set()

    @property
    def open_connections(self) -> int:
        """Client connections currently held open by the proxy."""
        return len(self._tasks)

    async def start(self) -> None:
        """Start listening."""
        if self._server is not None:
            raise RuntimeError("proxy already started")
        self._server = await asyncio.start_server(self._accept, self._host, self._port)

    def pause(self) -> None:
        """Stop forwarding bytes in both directions; keep every socket open."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again, on held connections and on new ones."""
        self._flowing.set()

    async def close(self) -> None:
        """Stop listening and close every connection. Idempotent."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        # Own the task (rather than letting start_server run a coroutine) so
        # close() can cancel and await it: no task outlives the proxy.
        task = asyncio.get_running_loop().create_task(self._handle(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(client_writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            # A connection accepted during a cut reaches the target only when healed.
            await self._flowing.wait()
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                return
            self._writers.add(upstream_writer)
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer),
                self._pipe(upstream_reader, client_writer),
            )
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                # Not reading while paused leaves bytes in the kernel buffers: the
                # sender sees no error, the receiver sees nothing.
                await self._flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    break
                # A pause that began during the read must hold this chunk too.
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
                self.bytes_forwarded += len(data)
        except (ConnectionError, OSError):
            pass
        finally:
            # Propagate the close (once flowing): a half-close is enough for
            # HTTP/websocket peers to notice, and the other pipe ends on EOF.
            if not writer.is_closing():
                with contextlib.suppress(Exception):
                    await self._flowing.wait()
                    writer.close()
