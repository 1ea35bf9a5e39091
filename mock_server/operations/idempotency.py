"""``Idempotency-Key``: the answer remembered per caller and request."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from vilnius_client.events import ErrorCode, WireModel

from ..auth import Identity
from ..errors import ServiceError
from ..hub import Hub

__all__ = ["remember", "replayed"]


def _fingerprint(request: WireModel) -> str:
    """A digest of what a request asks for (its body, canonical JSON)."""
    text = json.dumps(request.to_wire(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def replayed(
    hub: Hub, scope: str, identity: Identity, key: str | None, request: WireModel
) -> dict[str, Any] | None:
    """The answer remembered for this caller's ``Idempotency-Key``, or ``None``.

    Answers are kept per caller (its identity: an agent, a conversation's customer, or
    for an anonymous caller nothing, so that the body decides) and with the request's
    fingerprint: the same key with another body is refused with 422, as the IETF
    Idempotency-Key draft says, instead of answering for a different request. Call it
    only once the caller is authorised for the request.
    """
    if key is None or not hub.profile.idempotency:
        return None
    cached = await hub.store.idempotency.get(_key_scope(scope, identity), key)
    if cached is None:
        return None
    if cached.get("fingerprint") != _fingerprint(request):
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD,
            "this Idempotency-Key was used with a different request",
            {"field": "Idempotency-Key"},
            status=422,
        )
    body: dict[str, Any] = cached["body"]
    return body


def remember(
    hub: Hub,
    scope: str,
    identity: Identity,
    key: str | None,
    request: WireModel,
    body: dict[str, Any],
) -> None:
    """Remember ``body`` as the answer to this caller's ``key`` (see ``replayed``)."""
    if key is not None and hub.profile.idempotency:
        entry = {"fingerprint": _fingerprint(request), "body": body}
        hub.store.idempotency.put(_key_scope(scope, identity), key, entry)


def _key_scope(scope: str, identity: Identity) -> str:
    return f"{scope}|{identity.kind}:{identity.subject or ''}"
