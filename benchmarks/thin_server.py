"""The thinnest stock python-socketio + aiohttp server doing the Vilnius fan-out.

The baseline the reference server is compared with: no validation, no auth, no
persistence. ``customer-typing`` becomes ``customer-typing-status`` to room
``agents``; ``POST /api/messages`` becomes ``new-message`` to room ``agents``.
Run: ``python -m benchmarks.thin_server --port 3010``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import socketio
from aiohttp import hdrs, web


@web.middleware
async def _no_compression(request: web.Request, handler: Any) -> web.StreamResponse:
    if hdrs.SEC_WEBSOCKET_EXTENSIONS not in request.headers:
        response: web.StreamResponse = await handler(request)
        return response
    headers = request.headers.copy()
    del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
    response = await handler(request.clone(headers=headers))
    return response


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create_app(ws_compression: bool = True) -> web.Application:
    """Build the aiohttp application with the Socket.IO server attached.

    ``ws_compression=False`` declines the clients' ``permessage-deflate`` offers (stock
    python-socketio accepts them).
    """
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    app = web.Application(middlewares=[] if ws_compression else [_no_compression])
    sio.attach(app)
    seq = itertools.count(1)
    current_seq = [0]

    @sio.on("join-agent-dashboard")  # type: ignore[untyped-decorator]
    async def join_agent_dashboard(sid: str, agent_id: Any) -> dict[str, bool]:
        await sio.enter_room(sid, "agents")
        return {"ok": True}

    @sio.on("join-conversation")  # type: ignore[untyped-decorator]
    async def join_conversation(sid: str, conversation_id: Any) -> dict[str, bool]:
        await sio.enter_room(sid, str(conversation_id))
        return {"ok": True}

    @sio.on("customer-typing")  # type: ignore[untyped-decorator]
    async def customer_typing(sid: str, data: dict[str, Any]) -> dict[str, bool]:
        await sio.emit(
            "customer-typing-status",
            {
                "conversationId": data["conversationId"],
                "isTyping": data["isTyping"],
                "timestamp": _now(),
            },
            room="agents",
        )
        return {"ok": True}

    @sio.on("heartbeat")  # type: ignore[untyped-decorator]
    async def heartbeat(sid: str, data: dict[str, Any]) -> dict[str, bool]:
        ack = {"timestamp": data.get("timestamp"), "agentId": "bench"}
        await sio.emit("heartbeat-ack", ack, to=sid)
        return {"ok": True}

    async def all_messages(request: web.Request) -> web.Response:
        # Enough of GET /api/messages for an AgentClient to find the head.
        return web.json_response({"messages": [], "lastSeq": current_seq[0]})

    async def burst(request: web.Request) -> web.Response:
        """Benchmark helper: emit ``count`` new-message events to ``agents`` back to back."""
        count = int((await request.json())["count"])
        for i in range(count):
            current_seq[0] = n = next(seq)
            now = _now()
            message = {
                "id": f"m{n}",
                "conversationId": "bench-c0",
                "content": f"burst #{i}",
                "sender": "visitor",
                "timestamp": now,
                "metadata": {},
                "seq": n,
            }
            payload = {"conversationId": "bench-c0", "message": message, "aiSuggestion": None}
            await sio.emit("new-message", {**payload, "timestamp": now}, room="agents")
        return web.json_response({"sent": count})

    async def health(request: web.Request) -> web.Response:
        # What it offers of the contract: acknowledged joins, seq and the head of
        # GET /api/messages (so that an AgentClient takes it for a contract server).
        contract = {"name": "thin", "version": 1, "features": ["acks", "seq", "catch-up"]}
        return web.json_response({"status": "ok", "contract": contract})

    async def post_message(request: web.Request) -> web.Response:
        body = await request.json()
        conversation_id = str(body["conversationId"])
        now = _now()
        message = {
            "id": str(uuid.uuid4()),
            "conversationId": conversation_id,
            "content": body["message"],
            "sender": "visitor",
            "timestamp": now,
            "metadata": {},
            "seq": next(seq),
        }
        current_seq[0] = message["seq"]
        await sio.emit(
            "new-message",
            {
                "conversationId": conversation_id,
                "message": message,
                "aiSuggestion": None,
                "timestamp": now,
            },
            room="agents",
        )
        return web.json_response(
            {"conversationId": conversation_id, "userMessage": message, "aiMessage": None},
            dumps=json.dumps,
        )

    app.router.add_get("/health", health)
    app.router.add_post("/api/messages", post_message)
    app.router.add_get("/api/messages", all_messages)
    app.router.add_post("/bench/burst", burst)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the thin server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3010)
    parser.add_argument(
        "--no-ws-compression", action="store_true", help="decline permessage-deflate offers"
    )
    args = parser.parse_args(argv)
    app = create_app(ws_compression=not args.no_ws_compression)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
