"""The dispatcher's fast path: sync handlers without a task per event, async
handlers in a worker per key, and the order of a key kept across the switch."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import pytest

from vilnius_client._dispatch import Dispatcher

LOG = logging.getLogger("test.dispatch_fast")


@dataclass
class Ev:
    conversation_id: str | None
    n: int


@pytest.fixture
def errors() -> list[BaseException]:
    return []


@pytest.fixture
async def dispatcher(errors: list[BaseException]) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(errors.append, LOG)
    yield d
    await d.aclose()


async def test_sync_handlers_start_no_task(dispatcher: Dispatcher) -> None:
    seen: list[int] = []
    tasks: set[asyncio.Task[object] | None] = set()

    def handler(ev: Ev) -> None:
        tasks.add(asyncio.current_task())
        seen.append(ev.n)

    dispatcher.add("e", handler)
    before = asyncio.all_tasks()
    for n in range(1000):
        dispatcher.submit("e", Ev(f"c{n % 7}", n))
    assert asyncio.all_tasks() == before
    await dispatcher.drain()
    assert sorted(seen) == list(range(1000))
    assert tasks == {None}  # called from a loop callback, not a task per event
    assert dispatcher.busy_keys == 0


async def test_order_is_kept_when_a_key_switches_between_sync_and_async(
    dispatcher: Dispatcher,
) -> None:
    seen: list[str] = []

    def sync(ev: Ev) -> None:
        seen.append(f"sync {ev.n}")

    async def slow(ev: Ev) -> None:
        seen.append(f"async {ev.n}")
        await asyncio.sleep(0.001)

    def returns_awaitable(ev: Ev) -> Awaitable[None] | None:
        seen.append(f"maybe {ev.n}")
        return slow(ev) if ev.n % 2 else None

    dispatcher.add("sync", sync)
    dispatcher.add("async", slow)
    dispatcher.add("mixed", sync)
    dispatcher.add("mixed", returns_awaitable)
    dispatcher.add("mixed", sync)
    expected: list[str] = []
    for n in range(30):
        kind = ("sync", "async", "mixed")[n % 3]
        dispatcher.submit(kind, Ev("c", n))
        if kind == "sync":
            expected.append(f"sync {n}")
        elif kind == "async":
            expected.append(f"async {n}")
        else:
            expected += [f"sync {n}", f"maybe {n}"]
            expected += [f"async {n}"] if n % 2 else []
            expected.append(f"sync {n}")
    await dispatcher.drain()
    assert seen == expected
    assert dispatcher.busy_keys == 0


async def test_events_submitted_by_a_handler_keep_their_keys_order(
    dispatcher: Dispatcher,
) -> None:
    seen: list[int] = []

    def handler(ev: Ev) -> None:
        seen.append(ev.n)
        if ev.n < 3:
            dispatcher.submit("e", Ev("c", ev.n + 10))

    dispatcher.add("e", handler)
    dispatcher.add("e", lambda ev: seen.append(-ev.n))
    dispatcher.submit("e", Ev("c", 0))
    dispatcher.submit("e", Ev("c", 1))
    await dispatcher.drain()
    assert seen == [0, 0, 1, -1, 10, -10, 11, -11]


async def test_a_key_waiting_on_an_async_handler_does_not_hold_sync_keys(
    dispatcher: Dispatcher,
) -> None:
    release = asyncio.Event()
    seen: list[tuple[str | None, int]] = []

    async def gate(ev: Ev) -> None:
        if ev.conversation_id == "slow":
            await release.wait()

    dispatcher.add("e", lambda ev: seen.append((ev.conversation_id, ev.n)))
    dispatcher.add("slow-only", gate)
    dispatcher.submit("slow-only", Ev("slow", 0))
    dispatcher.submit("e", Ev("slow", 1))
    dispatcher.submit("e", Ev("fast", 2))
    dispatcher.submit("e", Ev(None, 3))
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == [("fast", 2), (None, 3)]
    assert dispatcher.busy_keys == 1
    release.set()
    await dispatcher.drain()
    assert seen == [("fast", 2), (None, 3), ("slow", 1)]


async def test_errors_of_sync_and_returned_awaitables_are_reported(
    dispatcher: Dispatcher, errors: list[BaseException]
) -> None:
    async def fails() -> None:
        raise KeyError("late")

    def bad(ev: Ev) -> Awaitable[None]:
        if ev.n:
            raise RuntimeError("early")
        return fails()

    seen: list[int] = []
    dispatcher.add("e", bad)
    dispatcher.add("e", lambda ev: seen.append(ev.n))
    dispatcher.submit("e", Ev("c", 0))
    dispatcher.submit("e", Ev("c", 1))
    await dispatcher.drain()
    assert seen == [0, 1]
    assert [type(e) for e in errors] == [KeyError, RuntimeError]


async def test_close_before_a_returned_coroutine_runs_leaves_no_warning(
    errors: list[BaseException],
) -> None:
    # pytest turns "coroutine ... was never awaited" into an error.
    dispatcher = Dispatcher(errors.append, LOG)

    async def never_started(ev: Ev) -> None:
        raise AssertionError("must not run")

    dispatcher.add("e", lambda ev: never_started(ev))
    dispatcher.submit("e", Ev("c", 0))
    await asyncio.sleep(0)  # the pump calls the handler and starts a worker
    assert dispatcher.busy_keys == 1
    await dispatcher.aclose()  # the worker is cancelled before its first step
    assert errors == []


async def test_nothing_runs_after_close(errors: list[BaseException]) -> None:
    dispatcher = Dispatcher(errors.append, LOG)
    seen: list[int] = []
    dispatcher.add("e", lambda ev: seen.append(ev.n))
    dispatcher.submit("e", Ev("c", 0))
    await dispatcher.aclose()
    await asyncio.sleep(0)
    dispatcher.submit("e", Ev("c", 1))
    await asyncio.sleep(0)
    assert seen == []
