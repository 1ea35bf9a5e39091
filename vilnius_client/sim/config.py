"""What a simulation runs: `SimConfig` (the command line's flags, as a value), and the error of a
server that cannot be reached."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

from .. import TransportError
from .shape import ArrivalPhase, Shard, Stage, ThinkTime

__all__ = ["MissingCredentialsError", "ServerUnreachableError", "SimConfig", "new_run_id"]

_RUN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def new_run_id() -> str:
    """A fresh run id: 6 random lowercase letters and digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(6))


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


class MissingCredentialsError(Exception):
    """The server needs agent credentials that the run was not given (nothing was sent).

    The simulated agents of a server in token mode need its agent key; on a server where
    agents log in (production) they need an agent user's e-mail and password.
    """


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
        bot: ``"sim"``: the run's own agents answer (``agents``, ``reply``). ``"external"``:
            no simulated agents; the customers talk to whatever agents the server has (the
            bot under test) and the report measures the time to each message's first reply.
        reply_deadline: With ``bot="external"``: seconds a reply may take; a message not
            answered by then is unanswered, and its customer stops writing.
        max_reply_p95_ms: Fail the run when the 95th percentile of the time to the first
            reply is above this (milliseconds; ``bot="external"``).
        max_unanswered: Fail the run when more messages than this went unanswered
            (``bot="external"``; default 0: any unanswered message fails the run).
        think_time: Seconds a customer waits between its messages (random within the range);
            None: the load shapes wait 1-3 s, the flat load spaces them by ``rate``.
        stages: A closed-model load: how many customers talk at once, stage by stage (ramp
            up, hold, ramp down). Replaces ``customers``, ``duration``, ``rate``.
        arrivals: An open-model load: new conversations per second, phase by phase.
            Replaces ``customers``, ``duration``, ``rate``.
        messages_per_customer: With ``stages`` or ``arrivals``: messages each customer
            sends before leaving (None: with stages, until the stage lets it go; with
            arrivals, 3). A customer that leaves is followed by a new one in its place.
        run_id: Namespaces the run's message tags and its agents' and customers' ids, so
            that runs sharing a server ignore each other (default: random). Give every
            shard of one scenario the same.
        shard: This process's share of the scenario's customers (``Shard(2, 3)``: every
            third customer, from the second).
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
    bot: Literal["sim", "external"] = "sim"
    reply_deadline: float = 10.0
    max_reply_p95_ms: float | None = None
    max_unanswered: int = 0
    think_time: ThinkTime | None = None
    stages: tuple[Stage, ...] = ()
    arrivals: tuple[ArrivalPhase, ...] = ()
    messages_per_customer: int | None = None
    run_id: str = field(default_factory=new_run_id)
    shard: Shard = field(default_factory=Shard)

    @property
    def simulated_agents(self) -> int:
        """Agents the run starts: ``agents``, or none with ``bot="external"``."""
        return 0 if self.bot == "external" else self.agents

    @property
    def namespace(self) -> str:
        """What the run's tags and ids start with: the run id, and the shard when sharded."""
        if self.shard.count == 1:
            return self.run_id
        return f"{self.run_id}.{self.shard.index}"

    @property
    def shaped(self) -> bool:
        """Whether a load shape (stages or arrivals) replaces the flat load."""
        return bool(self.stages or self.arrivals)

    def __post_init__(self) -> None:
        if self.bot not in ("sim", "external"):
            raise ValueError("bot must be sim or external")
        if not _RUN_ID.fullmatch(self.run_id):
            raise ValueError(
                f"run id must be 1-32 lowercase letters, digits and dashes, got {self.run_id!r}"
            )
        if not self.reply_deadline > 0 or math.isinf(self.reply_deadline):
            raise ValueError("reply deadline must be > 0 s")
        if self.max_reply_p95_ms is not None and self.max_reply_p95_ms <= 0:
            raise ValueError("max reply p95 must be > 0 ms")
        if self.max_unanswered < 0:
            raise ValueError("max unanswered must be >= 0")
        if self.stages and self.arrivals:
            raise ValueError("give stages (customers at once) or arrivals (per second), not both")
        if self.shaped and self.messages is not None:
            raise ValueError(
                "messages counts the flat load's messages; with stages or arrivals give"
                " messages per customer"
            )
        if self.messages_per_customer is not None and self.messages_per_customer < 1:
            raise ValueError("messages per customer must be >= 1")
        if self.messages_per_customer is not None and not self.shaped:
            raise ValueError(
                "messages per customer is for stages and arrivals; the flat load counts"
                " messages in all"
            )
        if self.bot == "sim" and self.agents < 1 and self.reply != "none":
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
