"""Server events on their way in: from the link's callback to the handlers.

`Inbound` does everything between a Socket.IO event arriving and its model
being queued for the handlers (`vilnius_client._dispatch`):

1. an event the SDK has a model for is validated into it; a payload that does
   not fit is reported as `InvalidEventError` and goes no further. An event
   without a model reaches its subscribers as the raw payload (a dict,
   usually), or is ignored when nobody subscribed;
2. the answer that confirms a join and a ``heartbeat-ack`` are handed to
   whoever waits for them (``take``, ``on_heartbeat_ack``); an ``error-event``
   is also reported as the matching `ServerError`;
3. while a (re)connection is being set up (rooms joined, missed messages
   caught up) live events are held back; `Inbound.release` lets them go, in
   order, once the session is ready;
4. the filters (the clients' de-duplication) may drop a live event;
5. the event is submitted to the dispatcher.

It also keeps the subscriptions side honest: only server -> client events can
be subscribed to, and a name that looks like a typo of a known one is logged.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from typing import Any

import pydantic

from ._dispatch import Dispatcher, Handler
from ._watchers import EventStream
from .errors import InvalidEventError, ServerError, error_from_code
from .events import SERVER_EVENT_MODELS, ErrorEvent, Event, ServerEvent

__all__ = ["EventFilter", "Inbound", "event_name"]

EventFilter = Callable[[Event | str, Any], bool]
"""``keep(event, model)``: ``False`` drops a live event before the handlers see it."""

#: Wire name -> (event, model) of every server -> client event.
_SERVER_EVENTS: dict[str, tuple[Event, type[ServerEvent]]] = {
    event.value: (event, model) for event, model in SERVER_EVENT_MODELS.items()
}


def event_name(event: Event | str) -> Event | str:
    """The `Event` of a known name; an unknown name as it is.

    Raises:
        ValueError: ``event`` is empty or not a string.
    """
    try:
        return Event(event)
    except ValueError:
        if not isinstance(event, str) or not event:
            raise ValueError(f"not an event name: {event!r}") from None
        return event


def _raw_payload(args: tuple[Any, ...]) -> Any:
    """An unmodelled event's payload: its one argument, ``None``, or a list of several."""
    if not args:
        return None
    return args[0] if len(args) == 1 else list(args)


class Inbound:
    """Validates, holds back, filters and dispatches the server's events.

    Args:
        dispatcher: Where events go once they pass.
        report_error: Receives invalid payloads and ``error-event`` errors.
        logger: For typos and ignored events.
        take: Offered every ``current-state`` model first; returns whether it
            took it (the answer that confirms joins, not handed on).
        on_heartbeat_ack: Called on every ``heartbeat-ack``.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        report_error: Callable[[BaseException], None],
        logger: logging.Logger,
        take: Callable[[Any], bool],
        on_heartbeat_ack: Callable[[], None],
    ) -> None:
        self.dispatcher = dispatcher
        self._report_error = report_error
        self._logger = logger
        self._take = take
        self._on_heartbeat_ack = on_heartbeat_ack
        self._filters: list[EventFilter] = []
        self._held: list[tuple[Event | str, Any]] = []
        self.ready = False

    # -- the session gate ----------------------------------------------------------

    def hold(self) -> None:
        """A new link: hold live events back until `release` (forget older ones)."""
        self.ready = False
        self._held.clear()

    def release(self) -> None:
        """The session is ready: let the held events go, in order, and the next ones at once."""
        held, self._held = self._held, []
        self.ready = True
        for event, model in held:
            self._pass(event, model)

    @property
    def held(self) -> int:
        """How many live events wait for `release`."""
        return len(self._held)

    def add_filter(self, keep: EventFilter) -> None:
        """Add ``keep(event, model) -> bool``; ``False`` drops a live event."""
        self._filters.append(keep)

    # -- receiving -----------------------------------------------------------------

    def receive(self, name: str, args: tuple[Any, ...]) -> None:
        """One event from the link, as python-socketio decoded it."""
        known = _SERVER_EVENTS.get(name)
        if known is None:
            self._receive_unmodelled(name, args)
            return
        event, model_cls = known
        raw = args[0] if args else None
        try:
            model = model_cls.model_validate(raw)
        except pydantic.ValidationError as exc:
            self._report_error(
                InvalidEventError(
                    f"invalid {event} payload from server: {exc}",
                    event=event.value,
                    payload=raw,
                    errors=exc.errors(include_url=False),
                )
            )
            return
        if event is Event.CURRENT_STATE and self._take(model):
            return
        if event is Event.HEARTBEAT_ACK:
            self._on_heartbeat_ack()
        elif isinstance(model, ErrorEvent):
            error: ServerError = error_from_code(model.code, model.message, details=model.details)
            self._report_error(error)
        self._arrive(event, model)

    def _receive_unmodelled(self, name: str, args: tuple[Any, ...]) -> None:
        if not self.dispatcher.wants(name):
            self._logger.debug("ignored unknown event %r", name)
            return
        self._arrive(name, _raw_payload(args))

    def _arrive(self, event: Event | str, model: Any) -> None:
        if self.ready:
            self._pass(event, model)
        else:
            self._held.append((event, model))

    def _pass(self, event: Event | str, model: Any) -> None:
        for keep in self._filters:
            try:
                if not keep(event, model):
                    return
            except Exception as exc:
                self._report_error(exc)
        self.dispatcher.submit(event, model)

    def deliver(self, event: Event | str, model: Any) -> None:
        """Queue a locally produced event (a replayed message) for the handlers, unfiltered."""
        self.dispatcher.submit(server_event(event), model)

    # -- subscriptions ---------------------------------------------------------------

    def subscribe(self, event: Event | str, handler: Handler) -> None:
        """Register ``handler`` for a server event (see `server_event`)."""
        name = server_event(event)
        if not isinstance(name, Event):
            self._warn_if_typo(name)
        self.dispatcher.add(name, handler)

    def unsubscribe(self, event: Event | str, handler: Handler) -> None:
        """Unregister one registration of ``handler``; unknown handlers are ignored."""
        self.dispatcher.remove(server_event(event), handler)

    async def wait_for(
        self, event: Event | str, predicate: Callable[[Any], bool] | None, within: float | None
    ) -> Any:
        """The next ``event`` whose model satisfies ``predicate`` (see `Dispatcher.wait_for`)."""
        return await self.dispatcher.wait_for(server_event(event), predicate, within)

    def stream(self, event: Event | str, maxsize: int) -> EventStream[Any]:
        """A bounded stream of ``event``'s models."""
        return self.dispatcher.stream(server_event(event), maxsize)

    def _warn_if_typo(self, name: str) -> None:
        close = difflib.get_close_matches(name, list(_SERVER_EVENTS), n=1, cutoff=0.85)
        if close:
            self._logger.warning(
                "subscribed to %r, which the SDK does not know (handlers get the raw payload);"
                " did you mean %r?",
                name,
                close[0],
            )


def server_event(event: Event | str) -> Event | str:
    """``event`` as a name handlers can be registered for.

    Raises:
        ValueError: ``event`` is a client -> server event, or not a name.
    """
    name = event_name(event)
    if isinstance(name, Event) and name not in SERVER_EVENT_MODELS:
        raise ValueError(f"{name} is not a server -> client event")
    return name
