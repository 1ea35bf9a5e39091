"""The browser console of the reference server (``GET /console``).

A customer chat widget on the left; on the right a live log of every event and REST call
the server sees, the agents, the system mode and the conversations (see
``docs/guides/console.md``). ``feed`` is what the server publishes to it (imported by
the hub, so this package imports nothing eagerly but ``mock_server.rooms`` and
``mock_server.wirejson``); ``routes`` serves it.
"""

from .feed import Feed, redact

__all__ = ["Feed", "redact"]
