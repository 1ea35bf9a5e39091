"""The scenario that `vilnius-sim` runs when no Python scenario is given: the load the flags
(or the scenario file) describe."""

from __future__ import annotations

import asyncio

from .actors import SimCustomer
from .context import Conversation, SimContext
from .loads import arriving, default_conversation, staged

__all__ = ["default_scenario", "flat"]


async def default_scenario(ctx: SimContext) -> None:
    """The configured load: stages, arrivals, or the flat load (`flat`). Each customer of a
    load shape runs ``ctx.conversation`` (by default: messages with think time between)."""
    cfg = ctx.config
    conversation = ctx.conversation or default_conversation(ctx)
    if cfg.stages:
        await staged(ctx, conversation)
    elif cfg.arrivals:
        await arriving(ctx, conversation)
    else:
        await flat(ctx, ctx.conversation)


async def flat(ctx: SimContext, conversation: Conversation | None = None) -> None:
    """The flat load: customers connect (all at once, or ``spawn_rate`` a second) and each
    sends at its share of ``rate`` (or after a random ``think_time``); churned customers
    reload once; with a bot under test each waits for the answer before writing again, and
    gives up on a message left unanswered. With ``conversation``, each customer runs it
    once instead. Stops sending as soon as the run is stopped."""
    cfg = ctx.config
    if cfg.customers == 0:
        return
    # Per-customer message budgets (count mode) or a deadline (duration mode), over the
    # whole scenario: a shard keeps its customers' share.
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
    mine = [i for i in range(cfg.customers) if cfg.shard.owns(i)]
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
                return await ctx.new_customer(ctx.customer_name(index + 1))
            except Exception as exc:
                ctx.note_error(f"a customer could not start: {type(exc).__name__}: {exc}")
                return None

    def pause(customer: SimCustomer) -> float:
        think = cfg.think_time
        return interval if think is None else customer.random.uniform(think.low, think.high)

    async def run_customer(index: int, customer: SimCustomer) -> None:
        start = ctx.clock()
        budget = budgets[index]
        rng = customer.random
        reload_at = start + rng.uniform(0.2, 0.6) * span if index in churners else None
        next_send = start + rng.uniform(0, pause(customer))
        sent = 0
        while (budget is None or sent < budget) and not ctx.stopping:
            now = ctx.clock()
            if budget is None and next_send >= deadline:
                break
            if reload_at is not None and now >= reload_at:
                reload_at = None
                if not await _reload(customer, rng.uniform(0.2, 0.8)):
                    return
                continue
            if next_send > now:
                await ctx.sleep(next_send - now)
                continue
            sent += 1
            text = f"hello from {customer.name}, message {sent}"
            if ctx.external:
                if await customer.ask(text) is None:
                    return  # unanswered: the customer gives up
            else:
                await customer.say(text)
            next_send += pause(customer)
        if reload_at is not None and not ctx.stopping:  # a short run: still reload once
            await _reload(customer, 0.2)

    async def _reload(customer: SimCustomer, downtime: float) -> bool:
        try:
            await customer.reload(downtime=downtime)
        except Exception as exc:
            ctx.note_error(f"{customer.name} could not come back: {type(exc).__name__}: {exc}")
            return False
        return True

    opens = {i: asyncio.ensure_future(open_customer(i)) for i in mine}

    async def life(index: int) -> None:
        customer = await opens[index]
        if customer is None:
            return
        if cfg.spawn_rate is None:
            await ramped.wait()
        if conversation is None:
            await run_customer(index, customer)
            return
        try:
            await conversation(customer)
        except Exception as exc:
            ctx.note_error(f"{customer.name}'s conversation failed: {type(exc).__name__}: {exc}")

    lives = asyncio.gather(*(life(i) for i in mine))
    try:
        await asyncio.gather(*opens.values())
        ctx.end_ramp_up()
        if cfg.spawn_rate is None:  # nobody sent during the ramp-up: sending starts now
            ctx.send_started = ctx.clock()
            deadline = ctx.send_started + span
        ramped.set()
        await lives
    finally:
        lives.cancel()
        for task in opens.values():
            task.cancel()
