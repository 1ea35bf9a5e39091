"""The console scripts ``vilnius-mock-server``, ``vilnius-sim`` and ``vilnius-bot``.

Each imports its command only when run, so that a command whose optional dependencies are
not installed says in one line which extra installs them (and exits 2) instead of ending in
a traceback: ``pip install vilnius-client`` brings the SDK alone, the reference server
comes with the ``server`` extra and the simulator with ``sim``; the bot runner needs none
(a bot's fleet needs ``fleet``, its metrics ``otel``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["EXTRAS", "MISSING_EXTRA", "bot", "install_hint", "mock_server", "sim"]

EXTRAS: dict[str, str] = {
    "aiosqlite": "server",
    "jwt": "server",
    "pyotp": "server",
    "hdrh": "sim",
    "redis": "fleet",
    "opentelemetry": "otel",
}
"""The top-level module of each optional dependency, and the extra that installs it."""

MISSING_EXTRA = 2
"""Exit status of a command whose extra is not installed (nothing ran)."""


def install_hint(extra: str) -> str:
    """How to install ``extra``: from PyPI, and from a clone (the package is not on PyPI yet)."""
    return (
        f"pip install 'vilnius-client[{extra}]' (from a clone of the repository:"
        f" pip install '.[{extra}]')"
    )


def _run(prog: str, what: str, module: str) -> int:
    try:
        main: Callable[[], int] = importlib.import_module(module).main
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        extra = EXTRAS.get(missing)
        if extra is None:
            raise
        sys.stderr.write(
            f"{prog}: {what} is not installed (no module named {missing!r}); install it"
            f" with: {install_hint(extra)}\n"
        )
        return MISSING_EXTRA
    return main()


def mock_server() -> int:
    """``vilnius-mock-server``: the reference server (extra ``server``)."""
    return _run("vilnius-mock-server", "the reference server", "mock_server.__main__")


def sim() -> int:
    """``vilnius-sim``: the load and delivery simulator (extra ``sim``)."""
    return _run("vilnius-sim", "the simulator", "vilnius_client.sim.__main__")


def bot() -> int:
    """``vilnius-bot``: run a bot until SIGTERM (``vilnius-bot run module:attribute``)."""
    return _run("vilnius-bot", "the bot runner", "vilnius_client.run")
