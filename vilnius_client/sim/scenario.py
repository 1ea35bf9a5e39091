"""The flag-driven scenario that `vilnius-sim` runs when no Python scenario is given."""

from __future__ import annotations

import asyncio

from .actors import SimCustomer
from .context import SimContext

__all__ = ["default_scenario"]


async def default_scenario(ctx: SimContext) -> None:
    """The flag-driven flow: customers connect (all at once, or ``spawn_rate`` a second) and
    each sends at its share of ``rate``; churned customers reload once; agents answer each
    message. Stops sending as soon as the run is stopped."""
    cfg = ctx.config
    if cfg.customers == 0:
        return
    # Per-customer message budgets (count mode) or a deadline (duration mode).
    budgets: list[int | None]
    if cfg.messages is not None:
        share, extra = divmod(cfg.messages, cfg.customers)
        budgets = [share + (1 if i < extra else 0) for i in range(cfg.customers)]
        span = cfg.messages / cfg.rate
    else:
        budgets = [None] * cfg.customers
        span = cfg.duration
    interval = cfg.customers / cfg.rate
    churners = set(ctx.random.sample(range(cfg.customers), round(cfg.churn * cfg.customers)))
    opening = asyncio.Semaphore(50)  # don't open hundreds of conversations in one burst
    ctx.start_ramp_up()
    ramp_start = ctx.clock()
    ramped = asyncio.Event()
    # Duration mode: with a spawn rate the ramp-up is part of the duration (as in Locust);
    # without one, sending starts once everybody is connected.
    deadline = ramp_start + span

    async def open_customer(index: int) -> SimCustomer | None:
        if cfg.spawn_rate is not None and not await ctx.sleep(
            ramp_start + index / cfg.spawn_rate - ctx.clock()
        ):
            return None
        async with opening:
            if ctx.stopping:
                return None
            try:
                return await ctx.new_customer()
            except Exception as exc:
                ctx.note_error(f"a customer could not start: {type(exc).__name__}: {exc}")
                return None

    async def run_customer(index: int, customer: SimCustomer) -> None:
        start = ctx.clock()
        budget = budgets[index]
        reload_at = start + ctx.random.uniform(0.2, 0.6) * span if index in churners else None
        next_send = start + ctx.random.uniform(0, interval)
        sent = 0
        while (budget is None or sent < budget) and not ctx.stopping:
            now = ctx.clock()
            if budget is None and next_send >= deadline:
                break
            if reload_at is not None and now >= reload_at:
                reload_at = None
                if not await _reload(customer, ctx.random.uniform(0.2, 0.8)):
                    return
                continue
            if next_send > now:
                await ctx.sleep(next_send - now)
                continue
            sent += 1
            await customer.say(f"hello from {customer.name}, message {sent}")
            next_send += interval
        if reload_at is not None and not ctx.stopping:  # a short run: still reload once
            await _reload(customer, 0.2)

    async def _reload(customer: SimCustomer, downtime: float) -> bool:
        try:
            await customer.reload(downtime=downtime)
        except Exception as exc:
            ctx.note_error(f"{customer.name} could not come back: {type(exc).__name__}: {exc}")
            return False
        return True

    opens = [asyncio.ensure_future(open_customer(i)) for i in range(cfg.customers)]

    async def life(index: int) -> None:
        customer = await opens[index]
        if customer is None:
            return
        if cfg.spawn_rate is None:
            await ramped.wait()
        await run_customer(index, customer)

    lives = asyncio.gather(*(life(i) for i in range(cfg.customers)))
    try:
        await asyncio.gather(*opens)
        ctx.end_ramp_up()
        if cfg.spawn_rate is None:  # nobody sent during the ramp-up: sending starts now
            ctx.send_started = ctx.clock()
            deadline = ctx.send_started + span
        ramped.set()
        await lives
    finally:
        lives.cancel()
        for task in opens:
            task.cancel()
