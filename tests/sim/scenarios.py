"""Python scenarios the simulator tests load with ``--scenario``."""

from __future__ import annotations

import asyncio

from vilnius_client.sim import SimContext, SimCustomer


async def expects_a_ghost_message(ctx: SimContext) -> None:
    """A real exchange, plus a delivery that is expected but never sent (so: lost)."""
    customer = await ctx.new_customer()
    await customer.say("hello")
    ctx.tracker.expect("new-message", "ghost", ctx.agent_names(), ctx.clock())


async def answers_a_missing_conversation(ctx: SimContext) -> None:
    """A real exchange, plus an agent reply the server refuses (a client error, nothing lost)."""
    customer = await ctx.new_customer()
    await customer.say("hello")
    await ctx.agents[0].reply("no-such-conversation", "hello?")


async def leaves_work_running(ctx: SimContext) -> None:
    """A real exchange, plus background work that never ends (so the final wait times out)."""
    customer = await ctx.new_customer()
    await customer.say("hello")
    ctx.spawn(asyncio.Event().wait())


async def expects_a_tracking_number(customer: SimCustomer) -> None:
    """A conversation whose check first-bot fails (it only repeats the question)."""
    reply = await customer.ask("Where is my parcel?")
    customer.check("the answer has a tracking number", reply is not None and "LT" in reply.content)
