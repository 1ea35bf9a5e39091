"""vilnius-sim: simulate customers and agent bots against a Vilnius server, and report.

Every message sent is tracked to every client that should receive it, so the report says,
per event type, what was sent, delivered, lost and duplicated, and how long delivery took.

Command line (`vilnius-sim --help`; the guide lists the flags and exit codes):

```bash
vilnius-sim --agents 5 --customers 100 --spawn-rate 20 --messages 1000 --rate 50 \\
    --max-p99-ms 250 --json report.json --csv sim --html report.html
```

Python scenarios, for flows the flags don't cover: write `async def scenario(ctx)`; `ctx` is a
[SimContext][vilnius_client.sim.SimContext] with the connected agents already answering (per
`SimConfig.reply`). Create customers with
[new_customer][vilnius_client.sim.SimContext.new_customer]; a
[SimCustomer][vilnius_client.sim.SimCustomer] can `say`, `typing`, `reload` (disconnect and
come back) and exposes its SDK `client`; a [SimAgent][vilnius_client.sim.SimAgent] can `reply`
and exposes its `AgentClient`. Only the tracked calls count in the report.

```python
from vilnius_client.sim import SimConfig, SimContext, Simulation

async def flow(ctx: SimContext) -> None:
    customer = await ctx.new_customer()
    await customer.say("where is my parcel?")
    await ctx.settle()          # the agent's answer has arrived
    await customer.reload()     # widget reload: resumes from the last seq
    await customer.say("thanks!")

report = await Simulation(url, SimConfig(agents=2, max_p99_ms=250), scenario=flow).run()
print(report.table())
assert report.ok, report.failures
```
"""

from .actors import SimAgent, SimCustomer
from .config import MissingCredentialsError, ServerUnreachableError, SimConfig
from .context import Conversation, Scenario, SimContext
from .engine import Simulation
from .figures import EventReport, IntervalStats, ReplyReport, TimePoint
from .histogram import LatencyHistogram
from .merge import MergeError, merge
from .report import Report
from .shape import ArrivalPhase, Shard, Stage, ThinkTime
from .verdict import CheckCounts, ExitCode, Outcome

__all__ = [
    "ArrivalPhase",
    "CheckCounts",
    "Conversation",
    "EventReport",
    "ExitCode",
    "IntervalStats",
    "LatencyHistogram",
    "MergeError",
    "MissingCredentialsError",
    "Outcome",
    "ReplyReport",
    "Report",
    "Scenario",
    "ServerUnreachableError",
    "Shard",
    "SimAgent",
    "SimConfig",
    "SimContext",
    "SimCustomer",
    "Simulation",
    "Stage",
    "ThinkTime",
    "TimePoint",
    "merge",
]
