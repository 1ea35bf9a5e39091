"""The load shapes at work: stages (closed model) and arrivals (open model), and what each of
their customers does unless a conversation hook says otherwise."""

from __future__ import annotations

import asyncio
import math

from .actors import SimCustomer
from .context import Conversation, SimContext
from .shape import arrival_times, customers_at, total_duration

__all__ = ["DEFAULT_ARRIVAL_MESSAGES", "arriving", "default_conversation", "staged"]

#: Seconds between two looks at the stages' target.
TICK = 0.05

#: Messages an arriving customer sends when ``messages_per_customer`` is not set.
DEFAULT_ARRIVAL_MESSAGES = 3

#: Customers opening their conversation at once, at most (no burst of hundreds).
OPENING = 50


def default_conversation(ctx: SimContext) -> Conversation:
    """What a customer of a load shape does by default: write, wait for the answer, think,
    write again; ``messages_per_customer`` times (arrivals: 3), or until let go (stages).

    A message left unanswered (no reply within the reply deadline) ends the conversation:
    the customer gives up, as a person at a chat would, and never writes over a reply still
    to come. Without agents' answers (``reply="none"``) nobody waits for one.
    """
    cfg = ctx.config
    budget = cfg.messages_per_customer
    if budget is None and cfg.arrivals:
        budget = DEFAULT_ARRIVAL_MESSAGES
    waits = cfg.bot == "external" or cfg.reply != "none"

    async def conversation(customer: SimCustomer) -> None:
        written = 0
        while budget is None or written < budget:
            written += 1
            text = f"hello from {customer.name}, message {written}"
            if waits:
                if await customer.ask(text) is None:
                    return
            elif not await customer.say(text):
                return
            if written == budget or not await customer.think():
                return

    return conversation


class _Life:
    """One customer of a load shape, from arrival to departure."""

    def __init__(
        self, ctx: SimContext, name: str, conversation: Conversation, opening: asyncio.Semaphore
    ) -> None:
        self.customer: SimCustomer | None = None
        self.retired = False
        self.task = asyncio.ensure_future(self._live(ctx, name, conversation, opening))

    def retire(self) -> None:
        self.retired = True
        if self.customer is not None:
            self.customer.retire()

    async def _live(
        self, ctx: SimContext, name: str, conversation: Conversation, opening: asyncio.Semaphore
    ) -> None:
        async with opening:
            if ctx.stopping or self.retired:
                return
            try:
                customer = await ctx.new_customer(name)
            except Exception as exc:
                ctx.note_error(f"a customer could not start: {type(exc).__name__}: {exc}")
                return
        self.customer = customer
        if self.retired:
            customer.retire()
        try:
            await conversation(customer)
        except Exception as exc:
            ctx.note_error(f"{name}'s conversation failed: {type(exc).__name__}: {exc}")
        finally:
            await customer.close()


async def staged(ctx: SimContext, conversation: Conversation) -> None:
    """Keep as many customers talking as the stages say (this shard's share of them).

    Customer slots are numbered from 0; slot n talks while the target is above n. A slot
    whose customer left (done, or gave up) gets a new customer with a new conversation, as
    long as the target keeps the slot; a ramp-down lets the highest slots go.
    """
    cfg = ctx.config
    opening = asyncio.Semaphore(OPENING)
    lives: dict[int, _Life] = {}
    every: list[_Life] = []
    generations: dict[int, int] = {}
    start = ctx.clock()
    total = total_duration(cfg.stages)
    try:
        while not ctx.stopping:
            elapsed = ctx.clock() - start
            if elapsed >= total:
                break
            target = math.floor(customers_at(cfg.stages, elapsed) + 1e-9)
            for slot in range(target):
                life = lives.get(slot)
                if cfg.shard.owns(slot) and (life is None or life.task.done()):
                    generation = generations[slot] = generations.get(slot, 0) + 1
                    name = ctx.customer_name(slot + 1)
                    name += "" if generation == 1 else f".{generation}"
                    lives[slot] = _Life(ctx, name, conversation, opening)
                    every.append(lives[slot])
            for slot, life in lives.items():
                if slot >= target:
                    life.retire()
            await ctx.sleep(TICK)
    finally:
        for life in every:
            life.retire()
        await asyncio.gather(*(life.task for life in every), return_exceptions=True)


async def arriving(ctx: SimContext, conversation: Conversation) -> None:
    """Start a customer at every arrival of the phases (this shard's share of them); each
    leaves when its conversation is over. Arrivals stop with the last phase; the customers
    still talking then finish their conversations."""
    cfg = ctx.config
    opening = asyncio.Semaphore(OPENING)
    lives: list[_Life] = []
    start = ctx.clock()
    try:
        for number, at in enumerate(arrival_times(cfg.arrivals)):
            if not cfg.shard.owns(number):
                continue
            if not await ctx.sleep(start + at - ctx.clock()):
                break
            lives.append(_Life(ctx, ctx.customer_name(number + 1), conversation, opening))
        await asyncio.gather(*(life.task for life in lives), return_exceptions=True)
    finally:
        for life in lives:
            life.retire()
        await asyncio.gather(*(life.task for life in lives), return_exceptions=True)
