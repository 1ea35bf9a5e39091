"""One lifecycle for everything the SDK opens: ``connect()``, ``disconnect()``, ``async with``.

The manager, both role clients and the REST client share it: entering ``async with``
connects, and a connection that fails half-way is disconnected again (nothing is
left running); leaving it disconnects. ``disconnect()`` is idempotent and final.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Lifecycle"]


class Lifecycle:
    """``async with`` over ``connect()`` and ``disconnect()``."""

    async def connect(self) -> None:
        """Connect (what entering ``async with`` does)."""
        raise NotImplementedError

    async def disconnect(self) -> None:
        """Disconnect and release everything; idempotent (what leaving ``async with`` does)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.disconnect()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()
