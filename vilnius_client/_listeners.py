"""Listeners of one kind (connection changes, errors): registered, removed, called safely.

A listener may be a plain function or a coroutine function. It is called at
once, in registration order; an awaitable it returns is awaited in a task of
its own, so a slow listener never holds up the connection. What a listener
raises is logged, never propagated: reporting must not fail the reporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["Listeners"]

T = TypeVar("T")


class Listeners(Generic[T]):
    """Callbacks that each receive one ``T``."""

    def __init__(self, logger: logging.Logger) -> None:
        self._callbacks: list[Callable[[T], Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._logger = logger

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def add(self, callback: Callable[[T], Any]) -> None:
        """Call ``callback`` from now on (added twice, it is called twice)."""
        self._callbacks.append(callback)

    def remove(self, callback: Callable[[T], Any]) -> None:
        """Stop calling ``callback`` (once per `add`); an unknown callback is ignored."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def notify(self, value: T) -> None:
        """Call every listener with ``value``; never raises."""
        for callback in list(self._callbacks):
            try:
                result = callback(value)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(self._await(callback, result))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                self._logger.exception("listener %r failed", callback)

    async def _await(self, callback: Callable[[T], Any], result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception:
            self._logger.exception("listener %r failed", callback)

    async def aclose(self) -> None:
        """Cancel the async listeners still running, and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
