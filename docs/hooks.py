"""MkDocs hook: generates the event reference page from ``vilnius_client.events``.

The page ``reference/events.md`` is never written by hand. At every build this
hook renders it from the pydantic models, the ``Event`` enum and the two maps
``CLIENT_EVENT_PAYLOADS`` / ``SERVER_EVENT_MODELS``, so it cannot drift from the
code. The only hand-written part is :data:`ROUTING` (who receives an event and
when, from CONTRACT.md §3/§4); the build fails if an event is missing from it.

Run ``python docs/hooks.py`` to print the page without building the site.
"""

from __future__ import annotations

import enum
import sys
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vilnius_client import events
from vilnius_client.events import Event

PAGE = "reference/events.md"

#: Who receives each event and when (CONTRACT.md §3/§4). Keyed by every Event.
ROUTING: dict[Event, tuple[str, str]] = {
    Event.JOIN_AGENT_DASHBOARD: (
        "agent → server",
        "Joins the `agents` room and marks the agent online. The server answers this socket "
        "with `system-mode-update`, may hand out up to 2 unassigned conversations "
        "(`tickets-reassigned`, reason `agent_joined`), then sends `connected-agents-update` "
        "to `agents`. The SDK sends it on every (re)connect when `agent_id` is set.",
    ),
    Event.AGENT_TYPING: (
        "agent → server",
        "Updates the agent's activity; `agent-typing-status` goes to the conversation room, "
        "sender excluded. SDK: `AgentClient.typing(conversation_id, is_typing)`.",
    ),
    Event.HEARTBEAT: (
        "agent → server",
        "Updates the agent's activity; the server answers `heartbeat-ack`. A socket that has "
        "not joined as an agent gets `error-event` `not_joined`. The SDK sends one on every "
        "(re)connect and every `heartbeat_interval` seconds, and reconnects when no ack "
        "arrives within `heartbeat_timeout`.",
    ),
    Event.REQUEST_CURRENT_STATE: (
        "any → server",
        "The server answers `current-state` to the sender; any other value than the two "
        "allowed gets `error-event` `invalid_payload`. "
        "SDK: `AgentClient.request_current_state(...)`.",
    ),
    Event.JOIN_CONVERSATION: (
        "any → server",
        "Joins the room `<conversationId>`. The SDK remembers the rooms it joined and "
        "re-joins them after every reconnect.",
    ),
    Event.CUSTOMER_TYPING: (
        "customer → server",
        "`customer-typing-status` goes to `agents`. SDK: `CustomerClient.typing(is_typing)`.",
    ),
    Event.NEW_CONVERSATION: (
        "server → `agents`",
        "A conversation was created, explicitly (`POST /api/conversations`) or implicitly by "
        "a customer's first message.",
    ),
    Event.NEW_MESSAGE: (
        "server → `agents`",
        "Every stored message: the customer's, an agent's, the system's.",
    ),
    Event.AGENT_MESSAGE: (
        "server → conversation room",
        "An agent (or autopilot) replied in the conversation.",
    ),
    Event.CONNECTED_AGENTS_UPDATE: (
        "server → `agents`",
        "An agent connected, disconnected, or changed personal status.",
    ),
    Event.SYSTEM_MODE_UPDATE: (
        "server → joining socket; `agents` on change",
        "On `join-agent-dashboard`, and on every mode change.",
    ),
    Event.TICKETS_REASSIGNED: (
        "server → `agents`",
        "Conversations changed hands (see the reasons in `ReassignReason` below).",
    ),
    Event.CUSTOMER_TYPING_STATUS: (
        "server → `agents`",
        "A customer started or stopped typing.",
    ),
    Event.AGENT_TYPING_STATUS: (
        "server → conversation room",
        "An agent started or stopped typing (the typing agent's own socket is excluded).",
    ),
    Event.HEARTBEAT_ACK: ("server → sender", "Answer to `heartbeat`."),
    Event.CURRENT_STATE: ("server → sender", "Answer to `request-current-state`."),
    Event.ERROR_EVENT: (
        "server → sender",
        "An event this socket sent was rejected; the connection stays open. "
        "The SDK also hands it to `on_error` listeners.",
    ),
    Event.JOIN_ROOM: (
        "any → server (production only)",
        "Production's settings page joins the room `settings` with it; production lets any "
        "socket join any room by name. Not part of the contract (its servers answer "
        "`error-event`).",
    ),
    Event.AGENT_SENT_MESSAGE: (
        "server → `agents` (production only)",
        "An agent replied through `POST /api/agent/respond` (the reply itself goes to the "
        "conversation room as `agent-message`).",
    ),
    Event.CONVERSATION_SEEN_UPDATE: (
        "server → `agents` (production only)",
        "An agent marked a conversation seen (`POST /api/conversations/{id}/mark-seen`).",
    ),
    Event.CATEGORIES_UPDATED: (
        "server → `settings` (production only)",
        "The ticket categories changed. The reference server never sends it.",
    ),
    Event.TICKET_CATEGORY_ASSIGNED: (
        "server → `agents` (production only)",
        "An agent gave a conversation a category (`PATCH /api/conversations/{id}/category`, "
        "or one per conversation of `PATCH /api/admin/conversations/bulk-category`). "
        "SDK: `RestClient.set_category`, `RestClient.bulk_set_category`.",
    ),
    Event.TICKET_CATEGORY_REMOVED: (
        "server → `agents` (production only)",
        "An agent removed a conversation's category (the same endpoints, with "
        "`category_id` `null`).",
    ),
}

DATA_MODELS: tuple[type[BaseModel], ...] = (
    events.Message,
    events.Conversation,
    events.AgentData,
    events.Reassignment,
)

ENUMS: tuple[type[enum.Enum], ...] = (
    events.Sender,
    events.ConversationStatus,
    events.AgentStatus,
    events.PersonalStatus,
    events.SystemMode,
    events.StateType,
    events.ReassignReason,
    events.ErrorCode,
)

_LINKED: set[type[Any]] = {*DATA_MODELS, *ENUMS}


def _anchor(tp: type[Any]) -> str:
    return tp.__name__.lower()


def _type_text(tp: Any) -> str:
    """Render an annotation as short Markdown (links to the types on this page)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_text(arg) for arg in args)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{getattr(arg, "value", arg)}"`' for arg in args)
    if origin in (list, tuple, set):
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is dict or tp is dict:
        return "object"
    if tp is type(None):
        return "`null`"
    if tp is datetime:
        return "timestamp"
    if tp is typing.Any:
        return "any"
    if isinstance(tp, type) and tp in _LINKED:
        return f"[{tp.__name__}](#{_anchor(tp)})"
    if isinstance(tp, type):
        return {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def _fields_table(model: type[BaseModel]) -> list[str]:
    rows = ["| wire field | Python attribute | type | required |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        alias = info.alias or name
        required = "yes" if info.is_required() else "no"
        rows.append(f"| `{alias}` | `{name}` | {_type_text(info.annotation)} | {required} |")
    return rows


def _client_payload(adapter: TypeAdapter[Any]) -> tuple[str, type[BaseModel] | None]:
    core = adapter.core_schema
    tp: Any = getattr(adapter, "_type", None)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"`{tp.__name__}`", tp
    if tp is not None:
        return _type_text(tp), None
    return str(core.get("type", "?")), None  # pragma: no cover - pydantic internals changed


def render() -> str:
    """Return the Markdown of the event reference page."""
    missing = [event for event in Event if event not in ROUTING]
    if missing:
        raise RuntimeError(f"docs/hooks.py ROUTING has no entry for {missing}")
    lines = [
        "# Event reference",
        "",
        '!!! note "Generated"',
        "    This page is generated at build time from `vilnius_client/events.py` by",
        "    `docs/hooks.py`: field names and types are read from the pydantic models",
        "    themselves, so it always matches the code.",
        "",
        "Wire fields are camelCase; the Python models expose the snake_case attribute and accept",
        "either on input. Every model keeps unknown extra fields (`model.model_extra`) and",
        "`.to_wire()` gives back the camelCase dict. Timestamps accept ISO-8601 strings and epoch",
        "milliseconds and are exposed as timezone-aware `datetime`s.",
        "",
        "Subscribe with the wire name or the enum member; the handler receives the model:",
        "",
        "```python",
        "from vilnius_client import Event, NewMessageEvent",
        "",
        '@client.on(Event.NEW_MESSAGE)          # or client.on("new-message")',
        "async def on_message(event: NewMessageEvent) -> None:",
        "    print(event.conversation_id, event.message.seq, event.message.content)",
        "```",
        "",
        "## Summary",
        "",
        "| event | enum member | direction | Python type |",
        "|---|---|---|---|",
    ]
    for event in Event:
        direction = ROUTING[event][0]
        if event in events.SERVER_EVENT_MODELS:
            py = f"`{events.SERVER_EVENT_MODELS[event].__name__}`"
        else:
            py, _ = _client_payload(events.CLIENT_EVENT_PAYLOADS[event])
        lines.append(
            f"| [`{event.value}`](#{event.value}) | `Event.{event.name}` | {direction} | {py} |"
        )

    lines += ["", "## Client → server events", ""]
    for event, adapter in events.CLIENT_EVENT_PAYLOADS.items():
        payload, model = _client_payload(adapter)
        lines += [
            f"### `{event.value}` {{#{event.value}}}",
            "",
            f"**Direction:** {ROUTING[event][0]}  ",
            f"**Payload:** {payload}",
            "",
            ROUTING[event][1],
            "",
        ]
        if model is not None:
            lines += [*_fields_table(model), ""]

    lines += ["## Server → client events", ""]
    for event, server_model in events.SERVER_EVENT_MODELS.items():
        lines += [
            f"### `{event.value}` {{#{event.value}}}",
            "",
            f"**Direction:** {ROUTING[event][0]}  ",
            f"**Model:** `{server_model.__name__}`: {_first_line(server_model.__doc__)}",
            "",
            ROUTING[event][1],
            "",
            *_fields_table(server_model),
            "",
        ]

    lines += [
        "Every server event model also has `replayed: bool` (never on the wire): `True` on",
        "messages the SDK recovered over REST after a reconnect rather than received live.",
        "",
        "## Data types",
        "",
    ]
    for data_model in DATA_MODELS:
        lines += [
            f"### {data_model.__name__} {{#{_anchor(data_model)}}}",
            "",
            _first_line(data_model.__doc__),
            "",
            *_fields_table(data_model),
            "",
        ]

    lines += ["## Enumerations", ""]
    for enum_type in ENUMS:
        values = ", ".join(f"`{member.value}`" for member in enum_type)
        lines += [
            f"### {enum_type.__name__} {{#{_anchor(enum_type)}}}",
            "",
            f"{_first_line(enum_type.__doc__)} Values: {values}.",
            "",
        ]
    return "\n".join(lines) + "\n"


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the generated event reference to the site's files."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files


if __name__ == "__main__":
    sys.stdout.write(render())
