"""The simulation engine: `Simulation` runs a scenario on a server and reports every delivery."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any, Literal, TypeVar

import aiohttp

from .config import ServerUnreachableError, SimConfig
from .context import Conversation, Scenario, SimContext
from .figures import TimePoint
from .report import Report, counts_line
from .scenario import default_scenario
from .tracker import GATING, KINDS

__all__ = ["Simulation"]

T = TypeVar("T")

#: Seconds between two points of the time series (and two live status lines).
SAMPLE_INTERVAL = 1.0
#: Seconds a scenario gets to return by itself once the run is stopped, before it is cancelled.
STOP_GRACE = 1.0


class Simulation:
    """Runs a scenario against a server and reports every delivery.

    Args:
        url: The server's URL.
        config: What to simulate.
        scenario: A Python scenario (``async def scenario(ctx: SimContext)``); the flag-driven
            default scenario when ``None``.
        conversation: What each customer of the default scenario does
            (``async def conversation(customer: SimCustomer)``); by default it writes
            messages with think time between them.
        progress: Called once a second with a one-line status while the run lasts.
        on_start: Called once the agents are connected, as the scenario starts (not when
            the run fails before: unreachable server, credentials refused or missing).

    Example:
        ```python
        async def flow(ctx: SimContext) -> None:
            customer = await ctx.new_customer()
            await customer.say("where is my parcel?")
            await customer.reload()
            await customer.say("still there?")

        report = await Simulation(url, SimConfig(agents=2), scenario=flow).run()
        assert report.ok
        ```
    """

    def __init__(
        self,
        url: str,
        config: SimConfig,
        *,
        scenario: Scenario | None = None,
        conversation: Conversation | None = None,
        progress: Callable[[str], None] | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.config = config
        self.scenario = scenario or default_scenario
        self.progress = progress
        self.on_start = on_start
        self.context = SimContext(url, config)
        self.context.conversation = conversation
        self.phase: Literal["starting", "sending", "draining", "done"] = "starting"
        self.interrupted = False
        self._abort = asyncio.Event()
        self._series: list[TimePoint] = []
        self._send_end: float | None = None
        self._probe_cause: str | None = None
        self._probe_ok = False

    def stop(self) -> None:
        """Stop the run early (what Ctrl-C does); the report is then marked interrupted.

        While connecting or sending: no more sends (the scenario is asked to return, then
        cancelled after a second), then the final wait for what is in flight. During the
        final wait (or when called again): stop waiting and report now. Call it from the
        event loop's thread.
        """
        self.interrupted = True
        if self.phase in ("starting", "sending") and not self.context.stopping:
            self.context._stopping.set()
        else:
            self._abort.set()

    def status_line(self) -> str:
        """The live one-line status (the same counters, in the same words, as the report)."""
        ctx = self.context
        now = ctx.clock()
        if self.phase == "starting":
            return (
                f"{now - ctx.start:6.1f}s  connecting to {self.url}"
                f"  ({ctx.connected_clients}/{self.config.simulated_agents} agents connected)"
            )
        stats = ctx.tracker.stats
        sent = ctx.customer_messages
        seconds = self._send_seconds(now)
        delivered = sum(stats[k].delivered for k in KINDS if k in GATING)
        expected = sum(stats[k].expected for k in KINDS if k in GATING)
        if ctx.external:
            delivered, expected = ctx.replies.counts.answered, ctx.replies.counts.sent
        return f"{now - ctx.start:6.1f}s  connected {ctx.connected_clients}  " + counts_line(
            customers=sent,
            agents=None if ctx.external else ctx.agent_messages,
            per_second=sent / seconds if seconds > 0 else 0.0,
            delivered=delivered,
            expected=expected,
            errors=ctx.client_errors,
            reconnects=ctx.reconnects,
            reloads=ctx.reloads,
        )

    async def run(self) -> Report:
        """Connect the agents, run the scenario, wait for the deliveries, and report.

        Raises:
            ServerUnreachableError: The agents could not connect within
                ``config.connect_timeout``.
            MissingCredentialsError: The server needs agent credentials the config lacks
                (nothing was sent).
            AuthError: The server refused the agents' credentials.
        """
        ctx = self.context
        monitor = asyncio.create_task(self._monitor())
        drained = True
        started_at = time.time()
        try:
            started = await self._start()
            ctx.start = ctx.clock()
            started_at = time.time()
            if started:
                self.phase = "sending"
                if self.on_start is not None:
                    self.on_start()
                await self._send()
                self.phase = "draining"
                finished, settled = await _unless(ctx.settle(), self._abort)
                drained = finished and bool(settled)
                if drained:
                    # Typing indicators are volatile: give the last ones a moment, not the drain.
                    await _unless(ctx.settle(1.0, kinds=KINDS), self._abort)
        finally:
            self.phase = "done"
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            duration = ctx.clock() - ctx.start
            await ctx._close_all()
        self._sample(duration)
        config = self.config
        settings = asdict(config)
        settings.pop("agent_key", None)
        settings.pop("password", None)
        send_offset = (ctx.send_started or ctx.start) - ctx.start
        return Report.build(
            ctx.tracker,
            replies=ctx.replies.close() if ctx.external else None,
            reply_deadline=config.reply_deadline,
            url=self.url,
            settings=settings,
            duration=duration,
            clients=ctx.started_clients,
            reconnects=ctx.reconnects,
            reloads=ctx.reloads,
            drained=drained,
            errors=ctx.client_errors,
            error_samples=ctx.error_samples,
            ramp_seconds=ctx.ramp_seconds,
            send_seconds=self._send_seconds(ctx.clock()),
            interrupted=self.interrupted,
            max_p99_ms=config.max_p99_ms,
            max_error_rate=config.max_error_rate,
            series=self._series,
            throttling=ctx.throttling,
            run_id=config.run_id,
            shard=config.shard,
            bot=config.bot,
            max_reply_p95_ms=config.max_reply_p95_ms,
            max_unanswered=config.max_unanswered,
            checks=ctx.checks,
            customer_messages=ctx.customer_messages,
            agent_messages=ctx.agent_messages,
            started_at=started_at,
            send_started_at=started_at + send_offset,
        )

    # -- phases -------------------------------------------------------------

    async def _start(self) -> bool:
        """Connect the agents; False when stopped meanwhile."""
        ctx = self.context
        probe = asyncio.create_task(self._probe())
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                finished, _ = await _unless(ctx._start_agents(), ctx._stopping)
                return finished
        except TimeoutError:
            raise ServerUnreachableError(
                self.url, self.config.connect_timeout, self._unreachable_cause()
            ) from None
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    async def _send(self) -> None:
        """Run the scenario; once stopped, give it `STOP_GRACE` seconds to return."""
        ctx = self.context
        ctx.send_started = ctx.clock()
        scenario = asyncio.ensure_future(self.scenario(ctx))
        stopping = asyncio.ensure_future(ctx._stopping.wait())
        try:
            await asyncio.wait({scenario, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not scenario.done():
                await asyncio.wait({scenario}, timeout=STOP_GRACE)
        finally:
            stopping.cancel()
            if not scenario.done():
                scenario.cancel()
                await asyncio.wait({scenario})
            self._send_end = ctx.clock()
        if not scenario.cancelled() and not ctx.stopping:
            scenario.result()  # the scenario's own failure fails the run

    def _send_seconds(self, now: float) -> float:
        start = self.context.send_started
        if start is None:
            return 0.0
        return max(0.0, (self._send_end if self._send_end is not None else now) - start)

    # -- connect diagnostics ------------------------------------------------

    async def _probe(self) -> None:
        """Ask ``GET /health`` until the server answers, keeping why it does not."""
        timeout = aiohttp.ClientTimeout(total=min(2.0, self.config.connect_timeout))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    async with session.get(f"{self.url}/health") as response:
                        self._probe_ok = True
                        self._probe_cause = f"GET /health answered HTTP {response.status}"
                        return
                except TimeoutError:
                    self._probe_cause = f"no answer to GET /health within {timeout.total:g} s"
                except aiohttp.ClientError as exc:
                    self._probe_cause = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.25)

    def _unreachable_cause(self) -> str:
        last = self.context.last_connect_error
        if self._probe_ok:
            return f"the server answers HTTP ({self._probe_cause}) but the Socket.IO" + (
                f" connection failed: {last}" if last else " connection did not complete"
            )
        return self._probe_cause or last or "no answer"

    # -- time series --------------------------------------------------------

    async def _monitor(self) -> None:
        ctx = self.context
        while True:
            await asyncio.sleep(SAMPLE_INTERVAL)
            if self.phase != "starting":
                self._sample(ctx.clock() - ctx.start)
            if self.progress is not None:
                self.progress(self.status_line())

    def _sample(self, elapsed: float) -> None:
        ctx = self.context
        self._series.append(
            TimePoint.capture(
                ctx.tracker,
                elapsed=elapsed,
                connected=ctx.connected_clients,
                reconnects=ctx.reconnects,
                reloads=ctx.reloads,
                errors=ctx.client_errors,
                replies=ctx.replies if ctx.external else None,
            )
        )


async def _unless(aw: Coroutine[Any, Any, T], event: asyncio.Event) -> tuple[bool, T | None]:
    """Await ``aw`` unless ``event`` is set first (then cancel it).

    Returns:
        ``(True, result)``, or ``(False, None)`` when ``event`` came first.
    """
    task = asyncio.ensure_future(aw)
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        return False, None
    return True, task.result()
