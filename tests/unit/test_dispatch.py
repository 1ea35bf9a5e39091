"""Ordered, isolated dispatch (no sockets): per-conversation order, isolation,
error reporting, waiters, streams, shutdown; and the fast path: sync handlers without a
task per event, async handlers in a worker per key, the order of a key kept across the
switch."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import pytest

from vilnius_client._dispatch import GLOBAL_KEY, Dispatcher, conversation_key
from vilnius_client.errors import QueueOverflowError, ReplyTimeoutError, StateError

LOG = logging.getLogger("test.dispatch")


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


def test_keys() -> None:
    assert conversation_key(Ev("c1", 0)) == "c1"
    assert conversation_key(Ev(None, 0)) == GLOBAL_KEY
    assert conversation_key(object()) == GLOBAL_KEY


async def test_one_conversation_keeps_order_despite_uneven_handler_times(
    dispatcher: Dispatcher,
) -> None:
    seen: list[int] = []

    async def handler(ev: Ev) -> None:
        await asyncio.sleep(0.002 if ev.n % 3 == 0 else 0)
        seen.append(ev.n)

    dispatcher.add("e", handler)
    for n in range(50):
        dispatcher.submit("e", Ev("c1", n))
    await dispatcher.drain()
    assert seen == list(range(50))


async def test_slow_conversation_does_not_hold_up_others(dispatcher: Dispatcher) -> None:
    release = asyncio.Event()
    seen: list[tuple[str | None, int]] = []

    async def handler(ev: Ev) -> None:
        if ev.conversation_id == "slow" and ev.n == 0:
            await release.wait()
        seen.append((ev.conversation_id, ev.n))

    dispatcher.add("e", handler)
    dispatcher.submit("e", Ev("slow", 0))
    dispatcher.submit("e", Ev("slow", 1))
    for n in range(5):
        dispatcher.submit("e", Ev("fast", n))
    dispatcher.submit("e", Ev(None, 9))
    for _ in range(20):
        await asyncio.sleep(0)
    assert seen == [("fast", n) for n in range(5)] + [(None, 9)]
    release.set()
    await dispatcher.drain()
    assert seen[-2:] == [("slow", 0), ("slow", 1)]


async def test_global_events_are_ordered_too(dispatcher: Dispatcher) -> None:
    seen: list[int] = []
    dispatcher.add("e", lambda ev: seen.append(ev.n))
    for n in range(20):
        dispatcher.submit("e", Ev(None, n))
    await dispatcher.drain()
    assert seen == list(range(20))


async def test_raising_handler_is_reported_and_others_run(
    dispatcher: Dispatcher, errors: list[BaseException]
) -> None:
    seen: list[str] = []

    def bad(ev: Ev) -> None:
        raise RuntimeError(f"boom {ev.n}")

    async def bad_async(ev: Ev) -> None:
        raise KeyError(ev.n)

    dispatcher.add("e", bad)
    dispatcher.add("e", bad_async)
    dispatcher.add("e", lambda ev: seen.append(f"sync {ev.n}"))

    async def good(ev: Ev) -> None:
        seen.append(f"async {ev.n}")

    dispatcher.add("e", good)
    dispatcher.submit("e", Ev("c", 1))
    dispatcher.submit("e", Ev("c", 2))
    await dispatcher.drain()
    assert seen == ["sync 1", "async 1", "sync 2", "async 2"]
    assert [type(e) for e in errors] == [RuntimeError, KeyError, RuntimeError, KeyError]


async def test_off_and_workers_do_not_linger(dispatcher: Dispatcher) -> None:
    seen: list[int] = []

    def handler(ev: Ev) -> None:
        seen.append(ev.n)

    dispatcher.add("e", handler)
    for n in range(100):
        dispatcher.submit("e", Ev(f"c{n}", n))
    assert dispatcher.busy_keys == 100
    await dispatcher.drain()
    assert dispatcher.busy_keys == 0
    dispatcher.remove("e", handler)
    dispatcher.remove("e", handler)  # unknown: ignored
    dispatcher.submit("e", Ev("c", 101))
    await dispatcher.drain()
    assert len(seen) == 100


async def test_wait_for_with_predicate_and_timeout(dispatcher: Dispatcher) -> None:
    waiting = asyncio.create_task(dispatcher.wait_for("e", lambda ev: ev.n == 2, 5))
    await asyncio.sleep(0)
    for n in range(4):
        dispatcher.submit("e", Ev("c", n))
    assert (await waiting).n == 2
    with pytest.raises(ReplyTimeoutError):
        await dispatcher.wait_for("e", None, 0.01)


async def test_wait_for_sees_events_before_slow_handlers(dispatcher: Dispatcher) -> None:
    never = asyncio.Event()

    async def stuck(ev: Ev) -> None:
        await never.wait()

    dispatcher.add("e", stuck)
    waiting = asyncio.create_task(dispatcher.wait_for("e", None, 5))
    await asyncio.sleep(0)
    dispatcher.submit("e", Ev("c", 7))
    assert (await waiting).n == 7


async def test_stream_is_bounded_and_ends_on_close(dispatcher: Dispatcher) -> None:
    stream = dispatcher.stream("e", maxsize=3)
    for n in range(5):
        dispatcher.submit("e", Ev("c", n))
    assert stream.dropped == 2
    got = []
    async with stream:
        async for ev in stream:
            got.append(ev.n)
            if ev.n == 4:
                break
    assert got == [2, 3, 4]
    dispatcher.submit("e", Ev("c", 5))  # closed stream: not buffered
    assert [ev async for ev in stream] == []


async def test_aclose_cancels_workers_fails_waiters_ends_streams(
    errors: list[BaseException],
) -> None:
    before = asyncio.all_tasks()
    dispatcher = Dispatcher(errors.append, LOG)
    never = asyncio.Event()

    async def stuck(ev: Ev) -> None:
        await never.wait()

    dispatcher.add("e", stuck)
    dispatcher.submit("e", Ev("a", 0))
    dispatcher.submit("e", Ev("b", 0))
    stream = dispatcher.stream("e", maxsize=10)
    waiting = asyncio.create_task(dispatcher.wait_for("e", None, None))

    async def next_event() -> object:
        return await anext(aiter(stream))

    consuming = asyncio.create_task(next_event())
    await asyncio.sleep(0)
    await dispatcher.aclose()
    with pytest.raises(StateError):
        await waiting
    with pytest.raises(StopAsyncIteration):
        await consuming
    assert asyncio.all_tasks() - before == set()
    assert errors == []
    with pytest.raises(StateError):
        dispatcher.stream("e", maxsize=1)


# ---------------------------------------------------------------- fast path


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


# ---------------------------------------------------------------- bounded queues


@pytest.mark.parametrize("overflow", ["drop-oldest", "drop-newest"])
async def test_a_hanging_handler_holds_at_most_maxsize_events_of_its_key(overflow: str) -> None:
    errors: list[BaseException] = []
    d = Dispatcher(errors.append, LOG, maxsize=3, overflow=overflow)  # type: ignore[arg-type]
    release, entered = asyncio.Event(), asyncio.Event()
    free: asyncio.Queue[int] = asyncio.Queue()
    seen: list[tuple[str | None, int]] = []

    async def handler(ev: Ev) -> None:
        if ev.conversation_id == "stuck":
            entered.set()
            await release.wait()
        seen.append((ev.conversation_id, ev.n))
        if ev.conversation_id == "free":
            free.put_nowait(ev.n)

    d.add("e", handler)
    try:
        d.submit("e", Ev("stuck", 0))
        await asyncio.wait_for(entered.wait(), 5)  # event 0 is in the hanging handler
        for n in range(1, 11):
            d.submit("e", Ev("stuck", n))
            d.submit("e", Ev("free", n))
            assert await asyncio.wait_for(free.get(), 5) == n  # the other key keeps flowing
        assert d.queued("stuck") == 3
        assert seen == [("free", n) for n in range(1, 11)]  # the other key kept flowing
        release.set()
        await asyncio.wait_for(d.drain(), 5)
    finally:
        await d.aclose()
    kept = [n for key, n in seen if key == "stuck"]
    dropped = [e.payload.n for e in errors if isinstance(e, QueueOverflowError)]
    if overflow == "drop-oldest":
        assert kept == [0, 8, 9, 10]
        assert dropped == [1, 2, 3, 4, 5, 6, 7]
    else:
        assert kept == [0, 1, 2, 3]
        assert dropped == [4, 5, 6, 7, 8, 9, 10]
    assert all(isinstance(e, QueueOverflowError) for e in errors)
    assert {(e.key, e.maxsize, e.event) for e in errors} == {("stuck", 3, "e")}  # type: ignore[attr-defined]


async def test_a_burst_past_the_bound_is_reported_even_for_sync_handlers(
    errors: list[BaseException],
) -> None:
    d = Dispatcher(errors.append, LOG, maxsize=5)
    seen: list[int] = []
    d.add("e", lambda ev: seen.append(ev.n))
    try:
        for n in range(8):  # all within one loop iteration: they wait together
            d.submit("e", Ev("c1", n))
        await d.drain()
    finally:
        await d.aclose()
    assert seen == [3, 4, 5, 6, 7]
    assert [e.payload.n for e in errors] == [0, 1, 2]  # type: ignore[attr-defined]


def test_queue_bounds_are_checked(errors: list[BaseException]) -> None:
    with pytest.raises(ValueError, match="queue_maxsize"):
        Dispatcher(errors.append, LOG, maxsize=0)
    with pytest.raises(ValueError, match="queue_overflow"):
        Dispatcher(errors.append, LOG, overflow="drop-random")  # type: ignore[arg-type]
