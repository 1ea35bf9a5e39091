"""Client -> server events on their way out: the payload checked and encoded, the answer read.

`encode` validates a payload with the contract's validator of its event
(`vilnius_client.events.CLIENT_EVENT_PAYLOADS`, the one the server uses too),
so that a bad payload fails here as `InvalidPayloadError` instead of coming
back as an ``error-event``. `emit` sends it, and with ``ack`` reads the
server's acknowledgement: ``{ok: true}``, or ``{ok: false, error: {code,
message}}`` raised as the `ServerError` of the code.
"""

from __future__ import annotations

from typing import Any

import pydantic

from ._transport import SocketLink
from .errors import InvalidPayloadError, ProtocolError, error_from_code
from .events import CLIENT_EVENT_PAYLOADS, Ack, Event, WireModel

__all__ = ["emit", "encode"]


def encode(event: Event, data: Any) -> Any:
    """The wire payload of ``event``: ``data`` (a model, a dict in either case, a string) checked.

    Raises:
        InvalidPayloadError: ``data`` does not fit the event.
    """
    adapter = CLIENT_EVENT_PAYLOADS.get(event)
    if adapter is None:
        return data.to_wire() if isinstance(data, WireModel) else data
    try:
        value = adapter.validate_python(data)
    except pydantic.ValidationError as exc:
        raise InvalidPayloadError(
            f"invalid payload for {event}: {exc.error_count()} error(s)",
            details=exc.errors(include_url=False),
        ) from exc
    if isinstance(value, WireModel):
        return value.to_wire()
    return adapter.dump_python(value, mode="json")


async def emit(
    link: SocketLink, event: Event, payload: Any, *, ack: bool, within: float
) -> Ack | None:
    """Send an encoded payload; with ``ack``, wait (``within`` seconds) for the answer.

    Returns:
        The positive acknowledgement, or ``None`` without ``ack``.

    Raises:
        NotConnectedError: The link is down.
        ConnectionLostError: The link dropped before the acknowledgement.
        ReplyTimeoutError: No acknowledgement in time.
        ProtocolError: The acknowledgement is not ``{ok, error}``.
        ServerError: A negative acknowledgement (the subclass of its code).
    """
    if not ack:
        await link.emit(event.value, payload)
        return None
    args = await link.call(event.value, payload, ack_within=within)
    try:
        answer = Ack.model_validate(args[0] if args else {"ok": True})
    except pydantic.ValidationError as exc:
        raise ProtocolError(f"invalid acknowledgement for {event}: {args!r}") from exc
    if not answer.ok:
        code = answer.error.code if answer.error else None
        message = answer.error.message if answer.error else "refused"
        raise error_from_code(code, message)
    return answer
