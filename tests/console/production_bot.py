"""A bot in production's dialect (profile ``lizdeika``), for the console's browser test.

It does what a bot against production must: log in as an agent user (e-mail and password)
for its user id, join the dashboard under that id without waiting for acknowledgements
(production sends none), and answer visitor messages with ``agent-typing`` and
``POST /api/agent/respond``. Configured by ``VILNIUS_URL``, ``BOT_EMAIL``, ``BOT_PASSWORD``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import aiohttp
import socketio

URL = os.environ.get("VILNIUS_URL", "http://127.0.0.1:3002")


async def main() -> None:
    async with aiohttp.ClientSession() as http:
        credentials = {"email": os.environ["BOT_EMAIL"], "password": os.environ["BOT_PASSWORD"]}
        async with http.post(f"{URL}/api/auth/login", json=credentials) as response:
            response.raise_for_status()
            user_id = (await response.json())["data"]["user"]["id"]
        sio = socketio.AsyncClient(reconnection_delay_max=2)

        @sio.event
        async def connect() -> None:
            await sio.emit("join-agent-dashboard", user_id)

        @sio.on("new-message")
        async def reply(data: dict[str, Any]) -> None:
            message = data["message"]
            if message["sender"] != "visitor":
                return
            conversation_id = data["conversationId"]
            await sio.emit("agent-typing", {"conversationId": conversation_id, "isTyping": True})
            answer = {
                "conversationId": conversation_id,
                "message": f"You said: {message['content']}",
                "agentId": user_id,
            }
            async with http.post(f"{URL}/api/agent/respond", json=answer) as response:
                response.raise_for_status()

        await sio.connect(URL, transports=["websocket"])
        print(f"production-bot is online as {user_id}", flush=True)  # noqa: T201
        await sio.wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
