"""An approval bot for production's ``hitl`` mode: it reviews each AI suggestion, then sends it.

    VILNIUS_PASSWORD=... python examples/approval_bot.py --url URL --email reviewer@example.com

In ``hitl`` (human in the loop) mode production drafts an answer to every customer message
(the *pending suggestion*) and waits for an agent to approve it, edit it, or write their
own. This bot is that agent: for each customer message it takes the pending suggestion,
lets ``review`` accept or edit it, and replies saying which (``suggestionAction``
``as-is`` or ``edited``), so that production's statistics (``GET /api/statistics/*``,
its dashboard) show how much of the AI's work went out unchanged. Replace ``review`` with
your own policy, or with a call to another model.

Production only: our contract has no suggestions. ``--max-replies N`` stops after N replies
and prints the suggestion statistics production now shows for this agent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from vilnius_client import AgentClient, AuthError, Event, NewMessageEvent, NotFoundError, Sender
from vilnius_client.events import SuggestionAction


# --8<-- [start:review]
def review(customer_message: str, suggestion: str) -> str:
    """The text to send for ``suggestion``: the suggestion itself, or an edited one."""
    if "refund" in customer_message.lower():
        return f"{suggestion} Refunds reach your account within 5 working days."
    return suggestion


class ApprovalBot:
    """Approves (or edits) production's suggestion for each customer message."""

    def __init__(self, client: AgentClient, *, max_replies: int | None) -> None:
        self.client = client
        self.max_replies = max_replies
        self.replies = 0
        self.done = asyncio.Event()
        client.on(Event.NEW_MESSAGE, self.on_message)

    async def on_message(self, event: NewMessageEvent) -> None:
        """Take the conversation's pending suggestion, review it, send it."""
        if event.message.sender is not Sender.VISITOR or self.done.is_set():
            return
        conversation = event.conversation_id
        rest = self.client.rest
        try:
            suggestion = (await rest.pending_suggestion(conversation)).text
        except NotFoundError:  # none waiting (already answered, or not hitl): ask for one
            suggestion = (await rest.generate_suggestion(conversation)).text
        text = review(event.message.content, suggestion)
        action = SuggestionAction.AS_IS if text == suggestion else SuggestionAction.EDITED
        await rest.agent_respond(
            conversation,
            text,
            self.client.agent_id or "",
            used_suggestion=True,  # a suggestion was there: production counts this reply
            suggestion_action=action,
        )
        self.replies += 1
        print(f"[approval] {action.value:>6} {conversation}: {text!r}", flush=True)
        if self.max_replies is not None and self.replies >= self.max_replies:
            self.done.set()


# --8<-- [end:review]


async def run(args: argparse.Namespace) -> int:
    """Run the bot until Ctrl-C or ``--max-replies``; then print this agent's statistics."""
    client = AgentClient(
        args.url, email=args.email, password=os.environ.get("VILNIUS_PASSWORD", "")
    )
    bot = ApprovalBot(client, max_replies=args.max_replies)
    async with client:
        print(f"[approval] {client.agent_id} reviewing suggestions at {args.url}", flush=True)
        await bot.done.wait()
        stats = await client.rest.statistics_suggestions(agent_id=client.agent_id)
    usage = stats.data
    print(
        f"[approval] statistics: {usage.total_suggestions} suggestions, "
        f"{usage.sent_as_is} as-is ({usage.sent_as_is_percentage:.0f}%), "
        f"{usage.edited} edited ({usage.edited_percentage:.0f}%)",
        flush=True,
    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Approve or edit production's AI suggestions.")
    parser.add_argument("--url", default=os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002"))
    parser.add_argument(
        "--email",
        default=os.environ.get("VILNIUS_EMAIL"),
        required=not os.environ.get("VILNIUS_EMAIL"),
        help="the agent user to log in as (default: $VILNIUS_EMAIL; the password only "
        "from $VILNIUS_PASSWORD)",
    )
    parser.add_argument("--max-replies", type=int, help="stop after this many replies")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        with contextlib.suppress(KeyboardInterrupt):
            sys.exit(asyncio.run(run(parse_args())))
    except AuthError as exc:  # a wrong login: one line, not a traceback
        sys.exit(f"approval_bot: refused (--email and $VILNIUS_PASSWORD): {exc}")
