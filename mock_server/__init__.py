"""The Vilnius reference server: every event and endpoint of the contract, persisted.

Run it with ``vilnius-mock-server`` (or ``python -m mock_server``), or in-process:

```python
from mock_server import serve

async with serve(port=0, db=":memory:", auth="none") as server:
    print(server.url)
```
"""

from .app import create_app
from .config import ServerConfig
from .faults import Faults
from .production_settings import CategorySeed, ProductionSettings, TemplateSeed
from .profile import PROFILES, Profile
from .ratelimit import RateLimit
from .server import RunningServer, serve
from .users import AgentUser

__all__ = [
    "PROFILES",
    "AgentUser",
    "CategorySeed",
    "Faults",
    "ProductionSettings",
    "Profile",
    "RateLimit",
    "RunningServer",
    "ServerConfig",
    "TemplateSeed",
    "create_app",
    "serve",
]
