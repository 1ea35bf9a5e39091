"""A bot from examples/ run as a fleet with one extra argument, as the guide shows:

    vilnius-bot run examples.agent_bot:bot --fleet redis://127.0.0.1:6379/0

Two replicas of it; every customer message answered once, on both kinds of server.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

from tests.conftest import scaled
from tests.deployments import USERS, Deployment
from tests.fleet.harness import Run
from tests.fleet.redis_process import RedisProcess
from vilnius_client import RestClient, Sender


async def test_the_agent_bot_example_runs_as_a_fleet(
    deployment: Deployment, redis_server: RedisProcess, group: str
) -> None:
    if deployment.profile == "lizdeika":
        user = USERS["bot"]
        login = {"VILNIUS_EMAIL": user.email, "VILNIUS_PASSWORD": user.password}
    else:
        login = {}
    replicas = [
        await Run.start(
            "run",
            "examples.agent_bot:bot",
            "--fleet",
            redis_server.url,
            "--fleet-group",
            group,
            VILNIUS_URL=deployment.url,
            **login,
        )
        for _ in range(2)
    ]
    try:
        for replica in replicas:
            await replica.line("connected to")
        async with RestClient(deployment.url) as customer:
            created = [await customer.create_conversation() for _ in range(4)]
            conversations = [answer.conversation_id for answer in created]
            for number, conversation in enumerate(conversations):
                for part in range(2):
                    await customer.post_message(conversation, f"question {number}.{part}?")
            async with asyncio.timeout(scaled(30)):
                while True:
                    replies: Counter[str] = Counter()
                    for conversation in conversations:
                        stored = (await customer.conversation_messages(conversation)).messages
                        replies.update(m.content for m in stored if m.sender is Sender.AGENT)
                    if sum(replies.values()) >= 8:
                        break
                    await asyncio.sleep(0.2)
        assert len(replies) == 8
        assert set(replies.values()) == {1}  # each customer message answered once
        for replica in replicas:
            replica.process.send_signal(signal.SIGTERM)
        assert [await replica.end() for replica in replicas] == [0, 0]
    finally:
        for replica in replicas:
            if replica.process.returncode is None:
                replica.process.kill()
                await replica.process.wait()
