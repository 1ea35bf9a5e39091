"""A client's metrics through OpenTelemetry's API, read with the SDK's in-memory reader."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from mock_server import RateLimit, serve
from tests.conftest import scaled
from tests.deployments import FAST, Deployment, Inbox, Lost, server_config
from tests.faults.timing import wait_until
from tests.fleet.redis_process import RedisProcess
from vilnius_client import CustomerClient, Event, NewMessageEvent, Sender
from vilnius_client.fleet import RedisFleet
from vilnius_client.metrics import METER_NAME, instrument


class Metrics:
    """What the reader collected, by instrument name."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                assert scope.scope.name == METER_NAME
                for metric in scope.metrics:
                    if metric.name == name:
                        return list(metric.data.data_points)
        return []

    def total(self, name: str, **attributes: str) -> float:
        return sum(
            point.value
            for point in self.points(name)
            if all(point.attributes.get(k) == v for k, v in attributes.items())
        )


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


async def test_an_agent_bots_connection_handlers_and_leases(
    deployment: Deployment, redis_server: RedisProcess, group: str, metrics: Metrics
) -> None:
    fleet = RedisFleet(redis_server.url, group=group, lease_ttl=2.0)
    bot = deployment.agent("bot", fleet=fleet)
    instrument(bot, meter_provider=metrics.provider)
    handled = Inbox()

    @bot.on(Event.NEW_MESSAGE)
    async def slow(event: NewMessageEvent) -> None:
        if event.message.sender is Sender.VISITOR:
            await asyncio.sleep(0.1)  # what a handler costs; the queue wait is not counted
            handled(event)

    async with bot:
        conversation = (await bot.rest.create_conversation()).conversation_id
        for number in range(3):
            await bot.rest.post_message(conversation, f"m{number}")
        await handled.until(3)
        await asyncio.sleep(0)  # the last settle runs after the handler returned
        durations = metrics.points("vilnius.handler.duration")
        assert sum(p.count for p in durations) >= 3
        assert {p.attributes["vilnius.event"] for p in durations} == {"new-message"}
        assert all(p.attributes["vilnius.client"] == "agent" for p in durations)
        visitor = max(durations, key=lambda p: p.count)
        assert visitor.min >= 0.1
        assert visitor.sum < 0.5  # 3 x 0.1 s each, not 0.1 + 0.2 + 0.3 of waiting too
        assert metrics.total("vilnius.queue.depth") == 0
        assert metrics.total("vilnius.connection.changes", **{"vilnius.state": "connected"}) == 1
        assert metrics.total("vilnius.fleet.leases.held") == 1
        assert metrics.total("vilnius.fleet.leases.taken_over") == 0
        assert metrics.total("vilnius.fleet.leases.lost") == 0
        assert metrics.total("vilnius.fleet.waiting") == 0

        away = Lost(bot)
        await deployment.server.stop()
        await deployment.server.start()
        await away.wait_back()
        assert metrics.total("vilnius.connection.reconnects") == 1
        assert metrics.total("vilnius.connection.changes", **{"vilnius.state": "reconnecting"}) >= 1


async def test_events_dropped_from_a_full_queue_are_counted(
    deployment: Deployment, metrics: Metrics
) -> None:
    bot = deployment.agent("bot", queue_maxsize=1)
    instrument(bot, meter_provider=metrics.provider)
    release = asyncio.Event()
    started = Inbox()

    @bot.on(Event.NEW_MESSAGE)
    async def blocked(event: NewMessageEvent) -> None:
        if event.message.sender is Sender.VISITOR:
            started(event)
            await release.wait()

    async with bot:
        conversation = (await bot.rest.create_conversation()).conversation_id
        for number in range(3):
            await bot.rest.post_message(conversation, f"m{number}")
        await started.until(1)
        await wait_until(lambda: metrics.total("vilnius.events.dropped") > 0, 10)
        assert metrics.total("vilnius.queue.depth") >= 1
        release.set()
    dropped = metrics.points("vilnius.events.dropped")
    assert {p.attributes["vilnius.reason"] for p in dropped} == {"QueueOverflowError"}


async def test_429s_waited_out_are_counted() -> None:
    metrics = Metrics()
    config = server_config("lizdeika", message_rate_limit=RateLimit(3, 1.0))
    async with serve(config=config) as production:
        customer = CustomerClient(production.url, **FAST)
        instrument(customer, meter_provider=metrics.provider)
        async with customer:
            for number in range(5):
                await asyncio.wait_for(customer.send_message(f"m{number}"), scaled(10))
    waits = metrics.total("vilnius.rate_limit.waits", **{"vilnius.client": "customer"})
    assert waits >= 1
    (waited,) = metrics.points("vilnius.rate_limit.wait")
    assert waited.count == waits
    assert waited.sum == pytest.approx(waits * 1.0)  # Retry-After: 1


async def test_without_a_meter_provider_nothing_is_recorded_and_nothing_fails(
    deployment: Deployment,
) -> None:
    bot = deployment.agent("bot")
    instrumentation = instrument(bot)  # the API's global provider: a no-op until one is set
    async with bot:
        conversation = (await bot.rest.create_conversation()).conversation_id
        await bot.rest.post_message(conversation, "hello")
        message = await bot.wait_for(Event.NEW_MESSAGE, timeout=scaled(5))
        assert message.conversation_id == conversation
    assert instrumentation.queue_depth == 0
