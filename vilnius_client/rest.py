"""RestClient (stub: being written)."""


class RestClient:
    """Stub."""
