"""Ordered, isolated dispatch (no sockets): per-conversation order, isolation,
error reporting, waiters, streams, shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from vilnius_client._dispatch import GLOBAL_KEY, Dispatcher, conversation_key
from vilnius_client.errors import ReplyTimeoutError, StateError

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
