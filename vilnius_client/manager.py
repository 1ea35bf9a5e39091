"""ModernWebSocketManager (stub: being written)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ConnectionState(enum.StrEnum):
    """Connection states (stub)."""

    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class ConnectionStatus:
    """Connection status (stub)."""

    state: ConnectionState


@dataclass(frozen=True)
class ConnectionChange:
    """A state transition (stub)."""

    old: ConnectionState
    new: ConnectionState
    reason: str


class ModernWebSocketManager:
    """Stub."""
