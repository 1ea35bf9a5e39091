"""The command line of ``vilnius-mock-server``, and the ``VILNIUS_*`` variables behind it.

Every option can also be set by an environment variable, ``VILNIUS_`` and the option's
name (``--agent-key`` -> ``VILNIUS_AGENT_KEY``); the command line wins over the variable.
A variable that is empty counts as unset. ``server_config`` turns the parsed options into
a ``ServerConfig``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from vilnius_client import __version__

from .config import ServerConfig
from .connections import HEADER_TIMEOUT
from .outbox import MAX_BUFFER
from .production_settings import ProductionSettings, load_production_settings
from .profile import PROFILES
from .ratelimit import RateLimit
from .users import AgentUser, load_agent_users, parse_agent_user

__all__ = ["ENV_PREFIX", "environment_variables", "parse_args", "server_config"]

ENV_PREFIX = "VILNIUS_"
"""Each option's variable is this prefix and the option's name: ``VILNIUS_AGENT_KEY``."""

_SECRETS = frozenset({"agent_key", "agent_user"})
"""Options whose values are never repeated in an error message."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class _Parser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line (the usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` on standard error and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vilnius-mock-server",
        description="The Vilnius reference server: Socket.IO + REST on one port.",
        epilog="Every option can also be set by its environment variable (in brackets); "
        "the command line wins. Flags take 1/true/yes/on or 0/false/no/off.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument(
        "--port", type=_port, default=3002, help="port 0-65535, 0 = any (default: %(default)s)"
    )
    parser.add_argument(
        "--db",
        default=None,
        help="SQLite file or :memory: (default: the profile's own, vilnius.db or lizdeika.db)",
    )
    parser.add_argument(
        "--auth",
        choices=["token", "none"],
        default="token",
        help="auth mode (default: %(default)s)",
    )
    parser.add_argument(
        "--agent-key",
        default=None,
        help="key agents trade for tokens; prefer the variable, as every user can see a "
        "command line (default: generated into --agent-key-file)",
    )
    parser.add_argument(
        "--agent-key-file",
        default=None,
        metavar="PATH",
        help="where a generated agent key is written, readable by you only (default: "
        "<db>.agent-key, or a private temporary file with --db :memory:)",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="vilnius",
        help="which server to play: vilnius (our contract, docs/contract.md) or lizdeika "
        "(production, docs/production-server.md) (default: %(default)s)",
    )
    parser.add_argument(
        "--agent-user",
        action="append",
        default=[],
        type=_agent_user,
        metavar="EMAIL:PASSWORD[:NAME]",
        help="lizdeika: an agent user to create (repeatable, or one per line in the variable;"
        " the password may not contain ':')",
    )
    parser.add_argument(
        "--agent-users",
        type=_agent_users_file,
        default=[],
        metavar="FILE",
        help="lizdeika: agent users from a JSON list of {email, password, name?, totpSecret?}",
    )
    parser.add_argument(
        "--production-settings",
        type=_production_settings_file,
        default=None,
        metavar="FILE",
        help="lizdeika: categories, templates, suggestion texts and limits from a JSON file "
        "(see docs/guides/server.md)",
    )
    parser.add_argument(
        "--message-rate-limit",
        type=_rate_limit,
        default="default",
        metavar="N/SECONDS|off",
        help="limit of POST /api/messages per client IP (default: the profile's, "
        "10/60 for lizdeika, off for vilnius)",
    )
    parser.add_argument(
        "--access-token-ttl",
        type=int,
        default=None,
        metavar="SECONDS",
        help="lizdeika: access token lifetime (default: 900, as production)",
    )
    parser.add_argument(
        "--ws-compression",
        action="store_true",
        help="negotiate WebSocket permessage-deflate with clients that offer it (default: off)",
    )
    parser.add_argument(
        "--max-outgoing-buffer",
        type=int,
        default=MAX_BUFFER,
        metavar="BYTES",
        help="bytes that may wait to be sent to one connection before the server closes it"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--header-timeout",
        type=_seconds,
        default=HEADER_TIMEOUT,
        metavar="SECONDS",
        help="a connection that has not sent a request's headers this long after opening"
        " (or after its previous answer) is closed (default: %(default)s)",
    )
    parser.add_argument(
        "--console",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the browser console at /console (default: on)",
    )
    parser.add_argument(
        "--static",
        default=None,
        metavar="DIR",
        help="lizdeika: serve production's own web clients (login, dashboard, widget) from a "
        "Lizdeika checkout at the site root (default: none)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="level of the server's log on standard error; libraries log warnings only "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a line per REST request at INFO (default: on)",
    )
    for action in _options(parser):
        action.help = f"{action.help} [{_variable(action)}]"
    return parser


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options that have a variable: all but --help and --version."""
    return [
        action
        for action in parser._actions  # argparse has no public list of its actions
        if action.option_strings and action.dest not in ("help", "version")
    ]


def _variable(action: argparse.Action) -> str:
    return ENV_PREFIX + action.dest.upper()


def environment_variables() -> list[str]:
    """The variables that set ``vilnius-mock-server``'s options, in the order of ``--help``."""
    return [_variable(action) for action in _options(_parser())]


def _from_environment(parser: argparse.ArgumentParser, action: argparse.Action, text: str) -> Any:
    """The value of ``action`` given by its variable, converted as on the command line."""
    variable = _variable(action)
    if action.nargs == 0:  # a flag
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        parser.error(f"{variable}={text!r}: expected 1/true/yes/on or 0/false/no/off")
    convert: Callable[[str], Any] = action.type or str  # type: ignore[assignment]
    many = isinstance(action.default, list)
    secret = action.dest in _SECRETS
    values = []
    for item in text.splitlines() if many else [text]:
        if many and not item.strip():
            continue
        try:
            value = convert(item)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            parser.error(_bad_value(variable, item, exc, convert, action.metavar, secret))
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            parser.error(f"{variable}={item!r}: expected one of {choices}")
        values.append(value)
    return values if many else values[0]


def _bad_value(
    variable: str,
    text: str,
    exc: Exception,
    convert: Callable[[str], Any],
    metavar: str | tuple[str, ...] | None,
    secret: bool,
) -> str:
    if secret:  # the converter's message may quote the password
        return f"{variable}: a value is not {metavar} (not shown: it holds a secret)"
    if isinstance(exc, argparse.ArgumentTypeError):
        return f"{variable}={text!r}: {exc}"
    # what argparse says of a bad command-line value
    return f"{variable}={text!r}: invalid {getattr(convert, '__name__', 'option')} value"


def parse_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """Parse the command line, with defaults from the ``VILNIUS_*`` variables of ``environ``.

    A variable that is empty counts as unset. Repeatable options (``--agent-user``) take
    one value per line of their variable; given on the command line, they replace it.
    """
    environ = os.environ if environ is None else environ
    parser = _parser()
    lists: dict[str, list[Any]] = {}
    for action in _options(parser):
        text = environ.get(_variable(action), "")
        if isinstance(action.default, list):  # argparse would add the command line's to it
            lists[action.dest] = _from_environment(parser, action, text) if text else []
            action.default = None
        elif text:
            action.default = _from_environment(parser, action, text)
    args = parser.parse_args(argv)
    for dest, values in lists.items():
        if getattr(args, dest) is None:
            setattr(args, dest, values)
    if args.max_outgoing_buffer < 1:
        parser.error("--max-outgoing-buffer must be at least 1 byte")
    return args


def _agent_user(text: str) -> AgentUser:
    try:
        return parse_agent_user(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _agent_users_file(path: str) -> list[AgentUser]:
    try:
        return load_agent_users(path)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _production_settings_file(path: str) -> ProductionSettings:
    try:
        return load_production_settings(path)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0: any free one)")
    return port


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def _rate_limit(text: str) -> RateLimit | str:
    if text in ("default", "off"):
        return text
    try:
        return RateLimit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The configuration the parsed options (``parse_args``) describe."""
    return ServerConfig(
        host=args.host,
        port=args.port,
        db=args.db,
        auth=args.auth,
        agent_key=args.agent_key,
        profile=args.profile,
        agent_users=(*args.agent_user, *args.agent_users),
        message_rate_limit=args.message_rate_limit,
        **({"access_token_ttl": args.access_token_ttl} if args.access_token_ttl else {}),
        ws_compression=args.ws_compression,
        max_outgoing_buffer=args.max_outgoing_buffer,
        console=args.console,
        static_dir=args.static,
        **({"production": args.production_settings} if args.production_settings else {}),
        header_timeout=args.header_timeout,
    )
