"""The REST API on aiohttp, in the dialect of the server's profile.

- ``contract.py``: CONTRACT.md §6 (profile ``vilnius``): bodies validated with the models
  of ``vilnius_client.events``, errors as ``{"error", "code", "details"}``.
- ``production.py``: production's endpoints, validation and answers (profile
  ``lizdeika``), read and refused as its Express app does (``express.py``), with its
  login and token refresh in ``production_auth.py`` and what its own web clients call
  besides the chat (token and role checks, 2FA setup, branding, error reports) in
  ``production_web.py``.
- ``middleware.py``: what every request passes through: error answers, fault hooks.

The handlers only parse and serialise; what a request does is in ``mock_server.operations``.
"""

from __future__ import annotations

from aiohttp import web

from ..hub import Hub
from ..ratelimit import RateLimit
from . import contract, production
from .middleware import middlewares

__all__ = ["add_routes", "middlewares"]


def add_routes(app: web.Application, hub: Hub, message_limit: RateLimit | None = None) -> None:
    """Add every endpoint of the profile to ``app`` (CONTRACT.md §6, or production's).

    ``message_limit`` limits ``POST /api/messages`` per client IP.
    """
    if hub.profile.user_login:
        production.add_routes(app, hub, message_limit)
    else:
        contract.add_routes(app, hub, message_limit)
