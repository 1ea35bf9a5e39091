"""RedisFleet in one process against a real redis-server and the reference server.

Two replicas of a bot (two AgentClients, one group): the leader, the leases given away on
disconnect, a Redis that is away at the start or goes away meanwhile, the group's default.
The replicas as separate processes, under load and failures: ``test_replicas.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.deployments import Deployment, Inbox
from tests.faults.server_process import free_port
from tests.faults.timing import wait_until
from tests.fleet.redis_process import RedisProcess
from vilnius_client import AgentClient, Event, NewMessageEvent, Sender, StateError
from vilnius_client.fleet import FleetError, RedisFleet

TTL = 1.0


class Replica:
    """One bot of the fleet; ``answered`` collects the customer messages its handler got."""

    def __init__(self, deployment: Deployment, redis_url: str, group: str, **fleet: Any) -> None:
        ttl = fleet.pop("lease_ttl", TTL)
        self.fleet = RedisFleet(redis_url, group=group, lease_ttl=ttl, **fleet)
        self.client = deployment.agent("bot", fleet=self.fleet)
        self.answered = Inbox()
        self.errors = Inbox()
        self.client.on_error(self.errors)

        @self.client.on(Event.NEW_MESSAGE)
        def answer(event: NewMessageEvent) -> None:
            if event.message.sender is Sender.VISITOR:
                self.answered(event.message.content)


@pytest.fixture
async def replicas(
    deployment: Deployment, redis_server: RedisProcess, group: str
) -> AsyncIterator[list[Replica]]:
    made = [Replica(deployment, redis_server.url, group) for _ in range(2)]
    for replica in made:
        await replica.client.connect()
    try:
        yield made
    finally:
        for replica in made:
            await replica.client.disconnect()


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    await wait_until(predicate, seconds)


async def write(client: AgentClient, conversation_id: str, text: str) -> None:
    await client.rest.post_message(conversation_id, text)


def everything(replicas: list[Replica]) -> list[str]:
    return [text for replica in replicas for text in replica.answered.items]


async def test_each_message_reaches_one_replica(replicas: list[Replica]) -> None:
    rest = replicas[0].client.rest
    conversations = [(await rest.create_conversation()).conversation_id for _ in range(6)]
    for number, conversation in enumerate(conversations):
        for part in range(3):
            await write(replicas[0].client, conversation, f"c{number}-{part}")
    await until(lambda: len(everything(replicas)) >= 18)
    assert sorted(everything(replicas)) == sorted(f"c{n}-{p}" for n in range(6) for p in range(3))
    for replica in replicas:  # a conversation's messages all went to one replica, in order
        for number in range(6):
            mine = [t for t in replica.answered.items if t.startswith(f"c{number}-")]
            assert mine in ([], [f"c{number}-{p}" for p in range(3)])


async def test_the_group_is_the_agent_id_by_default(
    deployment: Deployment, redis_server: RedisProcess
) -> None:
    fleet = RedisFleet(redis_server.url, lease_ttl=TTL)
    async with deployment.agent("bot", fleet=fleet) as bot:
        conversation = (await bot.rest.create_conversation()).conversation_id
        await write(bot, conversation, "hello")
        await until(lambda: fleet.status().holding == 1)
        assert fleet.status().group == bot.agent_id


async def test_one_replica_leads_and_only_it_polls(replicas: list[Replica]) -> None:
    await until(lambda: sum(r.fleet.leading for r in replicas) == 1)
    leader = next(r for r in replicas if r.fleet.leading)
    other = next(r for r in replicas if r is not leader)
    assert leader.client._recovery.polls()
    assert not other.client._recovery.polls()
    await leader.client.disconnect()  # gives the leader's lease away too
    await until(lambda: other.fleet.leading, TTL)


async def test_a_disconnecting_replica_gives_its_conversations_away_at_once(
    deployment: Deployment, redis_server: RedisProcess, group: str
) -> None:
    # a TTL far longer than the test: the other replica can only take over if given
    first, second = (Replica(deployment, redis_server.url, group, lease_ttl=60.0) for _ in "ab")
    await first.client.connect()
    try:
        conversation = (await first.client.rest.create_conversation()).conversation_id
        await write(first.client, conversation, "one")
        await first.answered.until(1)
        await second.client.connect()
        await first.client.disconnect()
        assert first.fleet.status().holding == 0
        await write(second.client, conversation, "two")
        await second.answered.until(1, seconds=2)
        assert second.answered.items == ["two"]
        assert second.fleet.counts.taken_over == 1
    finally:
        await first.client.disconnect()
        await second.client.disconnect()


async def test_on_production_a_replica_reads_only_its_conversations_to_catch_up(
    replicas: list[Replica], deployment: Deployment
) -> None:
    if deployment.profile != "lizdeika":
        pytest.skip("the listing catch-up is production's (by seq elsewhere)")
    first, second = replicas
    conversation = "session-fleetread1"
    await write(first.client, conversation, "hello")
    await until(lambda: len(everything(replicas)) == 1)
    owner, other = (first, second) if first.answered.items else (second, first)
    read = await owner.client._read_missed(conversation)
    assert "hello" in [m.content for m in read]
    assert await other.client._read_missed(conversation) == []  # its owner reads it


async def test_redis_away_at_the_start_fails_connect(deployment: Deployment) -> None:
    fleet = RedisFleet(f"redis://127.0.0.1:{free_port()}/0", lease_ttl=TTL, start_timeout=0.3)
    bot = deployment.agent("bot", fleet=fleet)
    with pytest.raises(FleetError, match="cannot start the fleet"):
        async with bot:
            pass


async def test_a_redis_outage_is_reported_and_takes_no_new_conversation(
    deployment: Deployment, own_redis: RedisProcess, group: str
) -> None:
    replica = Replica(deployment, own_redis.url, group, lease_ttl=2.0)
    async with replica.client as bot:
        owned = (await bot.rest.create_conversation()).conversation_id
        await write(bot, owned, "before")
        await replica.answered.until(1)
        own_redis.kill()
        error = await replica.errors.first(lambda e: isinstance(e, FleetError))
        assert "Redis" in str(error)
        fresh = (await bot.rest.create_conversation()).conversation_id
        await write(bot, fresh, "while away")  # no lease can be taken: it waits
        await write(bot, owned, "owned, while away")  # the lease still runs here
        await replica.answered.first(lambda text: text == "owned, while away")
        assert "while away" not in replica.answered.items
        assert replica.fleet.status().redis is False
        own_redis.start()
        # an empty Redis: the owners take their leases back first, then it is claimed
        await replica.answered.first(lambda text: text == "while away", seconds=10)
        assert replica.fleet.restarts == 1
        assert len([e for e in replica.errors.items if isinstance(e, FleetError)]) == 1


async def test_a_fleet_serves_one_client(
    deployment: Deployment, redis_server: RedisProcess
) -> None:
    fleet = RedisFleet(redis_server.url, group="one")
    deployment.agent("bot", fleet=fleet)
    with pytest.raises(StateError, match="serves one client"):
        deployment.agent("bot", fleet=fleet)
    async with deployment.agent("ada") as connected:
        with pytest.raises(StateError, match="before it connects"):
            connected._use_fleet(RedisFleet(redis_server.url))


def test_a_fleet_comes_from_the_environment_when_it_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VILNIUS_FLEET", raising=False)
    assert RedisFleet.from_env() is None
    monkeypatch.setenv("VILNIUS_FLEET", "redis://redis.internal:6379/2")
    fleet = RedisFleet.from_env(group="support-bot", lease_ttl=5.0)
    assert fleet is not None
    assert fleet.url == "redis://redis.internal:6379/2"
    assert (fleet.group, fleet.lease_ttl) == ("support-bot", 5.0)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"url": "http://127.0.0.1:6379"}, "not a Redis URL"),
        ({"lease_ttl": 0}, "lease_ttl"),
        ({"renew_every": 10.0}, "renew_every"),
        ({"group": ""}, "group"),
        ({"waiting_limit": 0}, "waiting_limit"),
    ],
)
def test_options_that_do_not_fit_are_refused(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RedisFleet(**options)
