"""A QA script: plays a customer conversation and asserts the replies.

    python examples/customer_qa.py --url http://127.0.0.1:3002
    python examples/customer_qa.py --message "Where is my order?" --expect "order"

It opens a conversation like the web widget does, types, sends each ``--message`` and
waits for an agent's reply (``agent-message``) to each, checking it against ``--expect``
(a regular expression, searched case-insensitively). It prints the transcript and exits 1
at the first missing or unexpected reply. Someone must answer: run
``examples/agent_bot.py`` next to it, or switch the server to ``autopilot``
(``--autopilot`` does that for you).

Exit status: 0 when every reply matched, 1 when one did not (or a server it cannot use,
or a refused key, each one line), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys

from vilnius_client import (
    AgentClient,
    AuthError,
    CustomerClient,
    Event,
    SystemMode,
    VilniusError,
)

INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT): the check did not finish, so it did not pass."""

DEFAULT_SCRIPT = [
    "Hello! I ordered a blue teapot last week.",
    "It still hasn't arrived. Can you check order #1042?",
]


def admin_agent(args: argparse.Namespace) -> AgentClient:
    """The agent that switches the mode: a login with ``--email``, else the agent key."""
    if args.email:
        password = os.environ.get("VILNIUS_PASSWORD", "")
        return AgentClient(args.url, email=args.email, password=password)
    return AgentClient(args.url, agent_id="qa-admin", agent_key=args.agent_key)


async def run(args: argparse.Namespace) -> int:
    """Play the conversation; return 0 when every reply matched."""
    expect = re.compile(args.expect, re.IGNORECASE)
    messages: list[str] = args.message or DEFAULT_SCRIPT
    if args.autopilot:
        async with admin_agent(args) as admin:
            await admin.set_system_mode(SystemMode.AUTOPILOT)
            print("[qa] system mode set to autopilot")

    # --8<-- [start:qa]
    async with CustomerClient(args.url, visitor_id=args.visitor_id) as customer:
        started = await customer.start_conversation()
        print(f"[qa] conversation {started.id} started as {args.visitor_id}")
        async with customer.stream(Event.AGENT_MESSAGE) as replies:
            for number, text in enumerate(messages, 1):
                await customer.typing(True)
                await customer.send_message(text)
                await customer.typing(False)
                print(f"[qa] customer: {text}")
                try:
                    reply = await asyncio.wait_for(anext(replies), args.timeout)
                except TimeoutError:
                    print(f"[qa] FAIL: no reply to message {number} within {args.timeout} s")
                    return 1
                agent = reply.message.agent_id or "agent"
                print(f"[qa] {agent}: {reply.message.content}")
                if not expect.search(reply.message.content):
                    print(f"[qa] FAIL: reply {number} does not match {args.expect!r}")
                    return 1
        history = await customer.history()
        print(f"[qa] PASS: {len(messages)} messages answered; {len(history)} in the history")
    # --8<-- [end:qa]
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Simulate a customer and assert the replies.")
    parser.add_argument("--url", default=os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002"))
    parser.add_argument("--visitor-id", default="qa-visitor")
    parser.add_argument(
        "--message", action="append", help="a message to send (repeatable; default: a script)"
    )
    parser.add_argument("--expect", default=".", help="regex each reply must match")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per reply")
    parser.add_argument(
        "--autopilot", action="store_true", help="switch the server to autopilot first"
    )
    parser.add_argument(
        "--agent-key",
        default=os.environ.get("VILNIUS_AGENT_KEY"),
        help="agent key for --autopilot in token mode (default: $VILNIUS_AGENT_KEY)",
    )
    parser.add_argument(
        "--email",
        default=os.environ.get("VILNIUS_EMAIL") or None,
        help="production: --autopilot logs in as this agent user (default: $VILNIUS_EMAIL; "
        "the password only from $VILNIUS_PASSWORD)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    try:
        sys.exit(asyncio.run(run(arguments)))
    except KeyboardInterrupt:  # an interrupted check did not pass: 130, as a shell says
        print("customer_qa: stopped (Ctrl-C)", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except AuthError as exc:  # --autopilot with a wrong or missing agent key
        sys.exit(f"customer_qa: refused (--agent-key, or --email and $VILNIUS_PASSWORD): {exc}")
    except VilniusError as exc:  # no server at --url, or it failed
        sys.exit(f"customer_qa: cannot use the server at {arguments.url}: {exc}")
