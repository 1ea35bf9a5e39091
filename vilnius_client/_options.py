"""The connection options a role client passes on to its manager, typed.

`AgentClient` and `CustomerClient` take these as keywords
(``**options: Unpack[ConnectionOptions]``) and hand them to their
`ModernWebSocketManager` unchanged, so that mypy and an editor know every one;
their meaning and defaults are the manager's.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from ._dispatch import Overflow

__all__ = ["ConnectionOptions"]


class ConnectionOptions(TypedDict, total=False):
    """Keywords of [`ModernWebSocketManager`][vilnius_client.ModernWebSocketManager]
    that the role clients pass on; all optional, with the manager's defaults.

    Attributes:
        reconnection_attempts: Retries before giving up (``None``: forever).
        reconnection_delay: First backoff step, seconds.
        max_reconnection_delay: Longest wait between attempts, seconds.
        heartbeat_interval: Seconds between heartbeats.
        heartbeat_timeout: Silence after a heartbeat that marks the link dead.
        max_errors: Consecutive failures that open the circuit breaker.
        logger: Where the client logs.
        ack_timeout: Seconds to wait for an acknowledgement.
        connect_timeout: Seconds one connection attempt may take.
        close_timeout: Seconds the handlers get to finish when disconnecting.
        stable_after: Seconds a connection must last before the backoff resets.
        circuit_cooldown: Seconds the circuit stays open before a trial.
        transports: Engine.IO transports.
        compression: Offer ``permessage-deflate``.
        max_message_size: Largest WebSocket frame accepted, bytes.
        queue_maxsize: Events that may wait for one conversation's handlers.
        queue_overflow: Which event a full queue drops.
    """

    reconnection_attempts: int | None
    reconnection_delay: float
    max_reconnection_delay: float
    heartbeat_interval: float
    heartbeat_timeout: float
    max_errors: int
    logger: logging.Logger | None
    ack_timeout: float
    connect_timeout: float
    close_timeout: float
    stable_after: float
    circuit_cooldown: float | None
    transports: tuple[str, ...]
    compression: bool
    max_message_size: int | None
    queue_maxsize: int
    queue_overflow: Overflow
