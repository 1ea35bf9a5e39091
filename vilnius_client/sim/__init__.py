"""vilnius-sim: simulate customers and agent bots against a Vilnius server, and report.

Every message sent is tracked to every client that should receive it, so the report says,
per event type, what was sent, delivered, lost and duplicated, and how long delivery took.

Command line (``vilnius-sim --help``)::

    vilnius-sim --agents 5 --customers 100 --messages 1000 --rate 50 --churn 0.2 \\
        --json report.json --html report.html

Without ``--url`` it starts the bundled reference server in-process. The exit status is 1
when a message (``new-message`` or ``agent-message``) was lost or duplicated.

Python scenarios, for flows the flags don't cover: write ``async def scenario(ctx)``; ``ctx``
is a :class:`SimContext` with the connected agents already answering (per
``SimConfig.reply``). Create customers with :meth:`SimContext.new_customer`; a
:class:`SimCustomer` can :meth:`~SimCustomer.say`, :meth:`~SimCustomer.typing`,
:meth:`~SimCustomer.reload` (disconnect and come back) and exposes its SDK ``client``;
a :class:`SimAgent` can :meth:`~SimAgent.reply` and exposes its ``AgentClient``. Only the
tracked calls count in the report. Run it with ``vilnius-sim --scenario mymodule:scenario``,
or in Python::

    from vilnius_client.sim import SimConfig, SimContext, Simulation

    async def flow(ctx: SimContext) -> None:
        customer = await ctx.new_customer()
        await customer.say("where is my parcel?")
        await ctx.settle()          # the agent's answer has arrived
        await customer.reload()     # widget reload: resumes from the last seq
        await customer.say("thanks!")

    report = await Simulation(url, SimConfig(agents=2), scenario=flow).run()
    print(report.table())
    assert report.ok
"""

from .engine import Scenario, SimAgent, SimConfig, SimContext, SimCustomer, Simulation
from .report import EventReport, Report

__all__ = [
    "EventReport",
    "Report",
    "Scenario",
    "SimAgent",
    "SimConfig",
    "SimContext",
    "SimCustomer",
    "Simulation",
]
