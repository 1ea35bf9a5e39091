"""The Vilnius reference server: every event and endpoint of the contract, persisted.

Run it with ``vilnius-mock-server`` (or ``python -m mock_server``), or in-process::

    from mock_server import serve

    async with serve(port=0, db=":memory:", auth="none") as server:
        print(server.url)
"""

from .app import AgentUser, RateLimit, RunningServer, ServerConfig, create_app, serve
from .faults import Faults
from .profile import PROFILES, Profile

__all__ = [
    "PROFILES",
    "AgentUser",
    "Faults",
    "Profile",
    "RateLimit",
    "RunningServer",
    "ServerConfig",
    "create_app",
    "serve",
]
