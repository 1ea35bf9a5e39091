"""A client's metrics, through OpenTelemetry's metrics API (the ``otel`` extra).

```python
from vilnius_client.metrics import instrument

bot = AgentClient(url, agent_id="bot", agent_key=key)
instrument(bot)  # the global MeterProvider, or instrument(bot, meter_provider=provider)
```

Only the API is used: no exporter is forced. Without a configured ``MeterProvider`` the
instruments record nothing (the API's no-op); the application sets its own (OTLP,
Prometheus, ...), or ``opentelemetry-instrument`` does. The meter is named
``vilnius_client``; every measurement carries ``vilnius.client`` (``agent`` or
``customer``).

Instruments (counters count since the client was instrumented):

* ``vilnius.connection.changes`` (counter): state transitions; ``vilnius.state`` is the
  new state.
* ``vilnius.connection.reconnects`` (counter): connections made again after a loss.
* ``vilnius.handler.duration`` (histogram, s): per message of the client's stream
  (``vilnius.event``), from when its handlers could start (it arrived, or the message
  before it in its conversation was done) to when the last of them returned. Events that
  are not messages (typing, lists) are not timed.
* ``vilnius.queue.depth`` (gauge): messages handed to the handlers and not handled yet.
* ``vilnius.events.dropped`` (counter): events received and not handed over, each
  reported as a `DroppedEventError` (``vilnius.reason``: its class).
* ``vilnius.rate_limit.waits`` (counter) and ``vilnius.rate_limit.wait`` (histogram, s):
  the 429 answers waited out before a retry, and how long.
* In a fleet: ``vilnius.fleet.leases.held`` (gauge), ``vilnius.fleet.leases.taken_over``
  (counter: conversations claimed that a replica had handled before),
  ``vilnius.fleet.leases.lost`` (counter: leases that lapsed or went to another replica)
  and ``vilnius.fleet.waiting`` (gauge: events waiting for their conversation's claim).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._client import ClientBase
from ._dispatch import Settle, conversation_key
from ._recovery import Sink
from ._scripts import install_hint
from ._state import ConnectionChange, ConnectionState
from .errors import DroppedEventError, RateLimitedError

try:
    from opentelemetry import metrics as otel
except ModuleNotFoundError as exc:  # pragma: no cover - tested in a fresh interpreter
    if (exc.name or "").partition(".")[0] != "opentelemetry":
        raise
    raise ModuleNotFoundError(
        f"vilnius_client.metrics needs opentelemetry-api (no module named {exc.name!r});"
        f" install it with: {install_hint('otel')}",
        name="opentelemetry",
    ) from None

__all__ = ["METER_NAME", "Instrumentation", "instrument"]

METER_NAME = "vilnius_client"
"""The name of the meter the instruments belong to."""


class _Timed:
    """A sink in front of the dispatcher that times the stream's messages (see the table)."""

    def __init__(self, inner: Sink, record: Any, attributes: dict[str, str]) -> None:
        self.inner = inner
        self._record = record
        self._attributes = attributes
        self.in_flight = 0
        self._keys: dict[str, list[float]] = {}  # key -> [messages in flight, last done]

    def submit(self, event: str, model: Any, settle: Settle | None = None) -> None:
        if settle is None:
            self.inner.submit(event, model, settle)
            return
        key = conversation_key(model)
        arrived = time.perf_counter()
        lane = self._keys.setdefault(key, [0, 0.0])
        lane[0] += 1
        self.in_flight += 1
        attributes = {**self._attributes, "vilnius.event": str(event)}

        def settled(handled: bool) -> None:
            self.in_flight -= 1
            done = time.perf_counter()
            if handled:
                self._record(done - max(arrived, lane[1]), attributes)
            lane[1] = done
            lane[0] -= 1
            if lane[0] == 0 and self._keys.get(key) is lane:
                del self._keys[key]
            settle(handled)

        self.inner.submit(event, model, settled)


@dataclass
class Instrumentation:
    """The instruments recording one client's metrics (made by [`instrument`][]).

    Attributes:
        client: The client.
        meter: The meter the instruments belong to.
    """

    client: ClientBase
    meter: otel.Meter
    _timed: _Timed | None = field(default=None, repr=False)

    @property
    def queue_depth(self) -> int:
        """Messages handed to the handlers and not handled yet."""
        return self._timed.in_flight if self._timed is not None else 0


def instrument(
    client: ClientBase, *, meter_provider: otel.MeterProvider | None = None
) -> Instrumentation:
    """Record ``client``'s metrics (see the module docstring) from now on.

    Call it before connecting, once per client.

    Args:
        client: An `AgentClient` or `CustomerClient`.
        meter_provider: Where to record (default: OpenTelemetry's global provider).

    Returns:
        The instrumentation (its meter, and the queue depth it reads).
    """
    provider = meter_provider or otel.get_meter_provider()
    meter = provider.get_meter(METER_NAME)
    kind = {"vilnius.client": "agent" if hasattr(client, "agent_id") else "customer"}
    instrumentation = Instrumentation(client, meter)

    changes = meter.create_counter(
        "vilnius.connection.changes", description="Connection state transitions"
    )
    reconnects = meter.create_counter(
        "vilnius.connection.reconnects", description="Connections made again after a loss"
    )

    connected_once = False

    def changed(change: ConnectionChange) -> None:
        nonlocal connected_once
        changes.add(1, {**kind, "vilnius.state": str(change.new)})
        if change.new is ConnectionState.CONNECTED:
            if connected_once:
                reconnects.add(1, kind)
            connected_once = True

    client.on_connection_change(changed)

    dropped = meter.create_counter(
        "vilnius.events.dropped", description="Events received and not handed to the handlers"
    )

    def failed(error: BaseException) -> None:
        if isinstance(error, DroppedEventError):
            reason = type(error).__name__
            dropped.add(1, {**kind, "vilnius.event": error.event, "vilnius.reason": reason})

    client.on_error(failed)

    waits = meter.create_counter("vilnius.rate_limit.waits", description="429s waited out")
    waited = meter.create_histogram(
        "vilnius.rate_limit.wait", unit="s", description="How long a 429 was waited out"
    )
    previous = client.rest.on_retry

    def retried(error: BaseException, wait: float) -> Any:
        if isinstance(error, RateLimitedError):
            waits.add(1, kind)
            waited.record(wait, kind)
        return previous(error, wait) if previous is not None else None

    client.rest.on_retry = retried

    duration = meter.create_histogram(
        "vilnius.handler.duration", unit="s", description="Time a message's handlers took"
    )
    recovery = client._recovery
    outer = recovery.sink
    inner = getattr(outer, "inner", None)  # a fleet's gate: time behind it, not its claims
    timed = _Timed(inner if inner is not None else outer, duration.record, kind)
    if inner is not None:
        outer.inner = timed  # type: ignore[attr-defined]
    else:
        recovery.sink = timed
    instrumentation._timed = timed

    def depth(options: otel.CallbackOptions) -> Iterable[otel.Observation]:
        yield otel.Observation(timed.in_flight, kind)

    meter.create_observable_gauge(
        "vilnius.queue.depth", [depth], description="Messages waiting for or in their handlers"
    )
    fleet = client._fleet
    if fleet is not None and hasattr(fleet, "counts"):
        _instrument_fleet(meter, fleet, kind)
    return instrumentation


def _instrument_fleet(meter: otel.Meter, fleet: Any, kind: dict[str, str]) -> None:
    def held(options: otel.CallbackOptions) -> Iterable[otel.Observation]:
        yield otel.Observation(fleet.status().holding, kind)

    def taken_over(options: otel.CallbackOptions) -> Iterable[otel.Observation]:
        yield otel.Observation(fleet.counts.taken_over, kind)

    def lost(options: otel.CallbackOptions) -> Iterable[otel.Observation]:
        yield otel.Observation(fleet.counts.lost, kind)

    def waiting(options: otel.CallbackOptions) -> Iterable[otel.Observation]:
        yield otel.Observation(fleet.status().waiting, kind)

    meter.create_observable_gauge(
        "vilnius.fleet.leases.held", [held], description="Conversations this replica owns"
    )
    meter.create_observable_counter(
        "vilnius.fleet.leases.taken_over",
        [taken_over],
        description="Conversations claimed that another replica had handled",
    )
    meter.create_observable_counter(
        "vilnius.fleet.leases.lost",
        [lost],
        description="Leases that lapsed or went to another replica",
    )
    meter.create_observable_gauge(
        "vilnius.fleet.waiting", [waiting], description="Events waiting for a claim"
    )
