"""What a simulation runs: `SimConfig` (the command line's flags, as a value), and the error of a
server that cannot be reached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .. import (
    TransportError,
)

__all__ = ["ServerUnreachableError", "SimConfig"]


class ServerUnreachableError(TransportError):
    """The agents could not connect within ``SimConfig.connect_timeout``.

    Attributes:
        url: The server's URL.
        timeout: The connect timeout, in seconds.
        cause: What went wrong, as precisely as known (refused, no answer, name unknown...).
    """

    def __init__(self, url: str, timeout: float, cause: str) -> None:
        super().__init__(f"cannot reach {url} within {timeout:g} s: {cause}")
        self.url = url
        self.timeout = timeout
        self.cause = cause


@dataclass(frozen=True)
class SimConfig:
    """What to simulate (the command-line flags, as a value).

    Attributes:
        agents: Agent bots connected to the dashboard.
        customers: Customers, each with its own conversation.
        duration: Seconds to send for (ignored when ``messages`` is set).
        messages: Customer messages to send in total, spread over the customers.
        rate: Customer messages per second, all customers together.
        typing: Customers type before each message (and agents before each reply).
        churn: Share of customers (0-1) that disconnect once and come back (a widget
            reload: a new client resuming the conversation from its last seq).
        reply: What agents answer to each customer message: ``"echo"``, ``"canned"`` or
            ``"none"``. The agent that answers a conversation is fixed per conversation.
        drain_timeout: Seconds to wait, after sending stops, for outstanding deliveries.
        agent_key: The server's agent key (``auth="token"`` servers).
        email: An agent user's e-mail, on a server where agents log in (production):
            every simulated agent logs in as this user (with ``password``).
        password: The agent user's password (never in the report).
        seed: Random seed (customers' start offsets and churn moments).
        heartbeat_interval: Agents' heartbeat interval in seconds.
        spawn_rate: Customers connected per second (the ramp-up); each starts sending once
            connected. None: connect them all first (50 at a time), then send. Deliveries of
            messages sent before the last customer connected are left out of the latency
            figures.
        connect_timeout: Seconds each client may take to connect (retrying meanwhile). Agents
            that cannot connect in time end the run with `ServerUnreachableError`; a customer
            that cannot is a client error.
        max_p99_ms: Fail the run when the messages' p99 latency is above this (milliseconds).
        max_error_rate: Fail the run when client errors per tracked send are above this
            (default 0: any client error fails the run).
    """

    agents: int = 2
    customers: int = 10
    duration: float = 10.0
    messages: int | None = None
    rate: float = 10.0
    typing: bool = True
    churn: float = 0.0
    reply: Literal["echo", "canned", "none"] = "echo"
    drain_timeout: float = 15.0
    agent_key: str | None = None
    email: str | None = None
    password: str | None = field(default=None, repr=False)
    seed: int | None = None
    heartbeat_interval: float = 15.0
    spawn_rate: float | None = None
    connect_timeout: float = 10.0
    max_p99_ms: float | None = None
    max_error_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.agents < 1 and self.reply != "none":
            raise ValueError("agents must be >= 1 when agents reply")
        if self.agents < 0 or self.customers < 0:
            raise ValueError("agents and customers must be >= 0")
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        if not 0.0 <= self.churn <= 1.0:
            raise ValueError("churn must be between 0 and 1")
        if self.reply not in ("echo", "canned", "none"):
            raise ValueError("reply must be echo, canned or none")
        if self.spawn_rate is not None and self.spawn_rate <= 0:
            raise ValueError("spawn rate must be > 0")
        if self.connect_timeout <= 0:
            raise ValueError("connect timeout must be > 0")
        if self.max_p99_ms is not None and self.max_p99_ms <= 0:
            raise ValueError("max p99 must be > 0 ms")
        if self.max_error_rate < 0:
            raise ValueError("max error rate must be >= 0")
        if self.messages is not None and self.messages < 0:
            raise ValueError("messages must be >= 0")
        if (self.email is None) != (self.password is None):
            raise ValueError("an agent login needs both an e-mail and a password")
