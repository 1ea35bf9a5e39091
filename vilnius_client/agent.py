"""AgentClient (stub: being written)."""


class AgentClient:
    """Stub."""
