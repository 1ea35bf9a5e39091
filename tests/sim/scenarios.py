"""Python scenarios the simulator tests load with ``--scenario``."""

from __future__ import annotations

from vilnius_client.sim import SimContext


async def expects_a_ghost_message(ctx: SimContext) -> None:
    """A real exchange, plus a delivery that is expected but never sent (so: lost)."""
    customer = await ctx.new_customer()
    await customer.say("hello")
    ctx.tracker.expect("new-message", "ghost", ctx.agent_names(), ctx.clock())
