"""Tokens: the agent key traded for an agent token; customer tokens (CONTRACT.md §8)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from vilnius_client.events import AgentTokenRequest, AgentTokenResponse, ErrorCode

from ..auth import AGENT_TOKEN_TTL, CUSTOMER_TOKEN_TTL
from ..errors import ServiceError
from ..hub import Hub

__all__ = ["agent_token", "customer_token"]


def agent_token(hub: Hub, request: AgentTokenRequest) -> AgentTokenResponse:
    """``POST /api/auth/agent-token``: trade the agent key for a token."""
    if hub.agent_key is not None and not hmac.compare_digest(
        request.agent_key.encode(), hub.agent_key.encode()
    ):
        raise ServiceError(ErrorCode.UNAUTHORIZED, "wrong agent key")
    token, expires = hub.signer.issue("agent", request.agent_id, AGENT_TOKEN_TTL)
    return AgentTokenResponse(
        token=token, agent_id=request.agent_id, expires_at=datetime.fromtimestamp(expires, UTC)
    )


def customer_token(hub: Hub, conversation_id: str) -> str:
    """A customer token for the conversation ``conversation_id``."""
    return hub.signer.issue("customer", conversation_id, CUSTOMER_TOKEN_TTL)[0]
