"""Test hooks that make the reference server misbehave on purpose."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Faults"]


@dataclass
class Faults:
    """Test hooks that make the server misbehave on purpose.

    Attributes:
        withhold_heartbeat_acks: While true, ``heartbeat`` is processed but no
            ``heartbeat-ack`` is sent.
        drop_responses: The next N POST requests are processed and stored, then
            their connection is closed without an answer.
        fail_requests: The next N HTTP requests (Socket.IO's excluded) answer
            503 without being processed.
        block_sockets: While true, new Socket.IO connections are refused with
            503 at the HTTP level (REST keeps working): a socket that cannot be
            re-established, for testing the SDK's polling fallback.
    """

    withhold_heartbeat_acks: bool = False
    block_sockets: bool = False
    drop_responses: int = 0
    fail_requests: int = 0
