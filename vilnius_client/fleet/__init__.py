"""Bots in production: a fleet of replicas that answers each customer once.

```python
from vilnius_client import AgentClient
from vilnius_client.fleet import RedisFleet

bot = AgentClient(url, agent_id="bot", agent_key=key,
                  fleet=RedisFleet("redis://127.0.0.1:6379/0", group="support-bot"))
```

Every replica of a bot sits in the agents' room and receives every event; without a fleet
each would answer every customer. With one, each conversation is owned by one replica at a
time (a lease in Redis), only the owner's handlers see its events, and each message is
marked handled in Redis once the owner's handlers ran, so that a replica taking a
conversation over answers exactly what the last owner left. The guide:
``docs/guides/fleet.md``; the moving parts:

* `RedisFleet` (``_fleet``): the replica's leases, leader, marks and Redis connection;
* ``_gate``: which events reach the handlers, per conversation;
* ``_book``: positions in a conversation, and what to store (pure);
* ``_catchup``: which of a conversation's messages a catch-up hands over (pure);
* ``_store``: the Lua scripts, the only module that imports redis-py.

Importing this package does not import redis-py: making a `RedisFleet` does, and says in
one line which extra installs it when it is missing.
"""

from ..errors import FleetError
from ._book import Position
from ._fleet import ENVIRONMENT_VARIABLE, FleetStatus, RedisFleet
from ._gate import GateCounts

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "FleetError",
    "FleetStatus",
    "GateCounts",
    "Position",
    "RedisFleet",
]
