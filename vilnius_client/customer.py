"""CustomerClient (stub: being written)."""


class CustomerClient:
    """Stub."""
