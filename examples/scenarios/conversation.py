"""What each customer of a load does, for ``vilnius-sim --conversation``.

    vilnius-sim --bot external --url URL --arrival-rate 2 --duration 10 \\
        --conversation examples/scenarios/conversation.py:ask_about_parcel

Each arriving customer asks, checks the bot's answer, thinks, and thanks it. A failed check
fails the run (exit 4); the report counts each check's passes and failures.
"""

from vilnius_client.sim import SimCustomer


async def ask_about_parcel(customer: SimCustomer) -> None:
    """Ask where the parcel is; check that the answer is about it; say thanks."""
    reply = await customer.ask("Where is my parcel?")
    if reply is None:
        return  # no answer within the deadline: counted as unanswered
    customer.check("the answer is about the parcel", "parcel" in reply.content.lower())
    if await customer.think():  # a random think time; False when the run is ending
        await customer.ask("Thanks!")
