"""``--static DIR``: a Lizdeika checkout's web clients at the site root, ahead of the API.

The checkout here is a stand-in made by the test (a few files named as production's are);
no file of production's is in this repository. The real clients run in
``test_production_web_browser.py``, against a checkout the developer points at.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from mock_server import RunningServer, ServerConfig, serve
from tests.conftest import scaled
from tests.examples.helpers import ROOT
from tests.server.helpers import recorder

STARTUP = scaled(30.0)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory laid out as a Lizdeika checkout: ``custom-widget/`` with the clients."""
    web = tmp_path / "lizdeika" / "custom-widget"
    files = {
        "index.html": "<title>index</title>",
        "login.html": "<title>login</title>",
        "agent-dashboard.html": "<title>dashboard</title>",
        "widget.js": "window.LizdeikaChat = {};",
        "js/agent-dashboard.js": "import './agent-dashboard/core/x.js';",
        "js/agent-dashboard/core/x.js": "export const x = 1;",
        "js/vendor/notes.txt": "text",
        "README.md": "not a client file",
        ".env": "SECRET=1",
        "backend/server.js": "the backend's source",
        "backend/.env": "JWT_SECRET=1",
    }
    for name, text in files.items():
        (web / name).parent.mkdir(parents=True, exist_ok=True)
        (web / name).write_text(text)
    (tmp_path / "outside.js").write_text("outside")
    (web / "js" / "link.js").symlink_to(tmp_path / "outside.js")
    return tmp_path / "lizdeika"


@pytest.fixture
async def served(checkout: Path) -> AsyncIterator[RunningServer]:
    config = ServerConfig(port=0, db=":memory:", profile="lizdeika", static_dir=str(checkout))
    async with serve(config=config) as running:
        yield running


async def _get(url: str, method: str = "GET") -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.request(method, url) as response:
        return response.status, await response.text(), dict(response.headers)


async def test_the_clients_are_served_at_the_root(served: RunningServer) -> None:
    status, text, headers = await _get(served.url + "/")
    assert (status, text) == (200, "<title>index</title>")
    assert headers["Content-Type"] == "text/html; charset=UTF-8"
    status, text, headers = await _get(served.url + "/login.html")
    assert (status, text) == (200, "<title>login</title>")
    for path in ("/widget.js", "/js/agent-dashboard.js?v=1.0.0", "/js/agent-dashboard/core/x.js"):
        status, _, headers = await _get(served.url + path)
        assert status == 200, path
        assert headers["Content-Type"] == "application/javascript; charset=UTF-8"
        assert headers["Cache-Control"].startswith("no-store")  # an edit shows on reload
    status, text, headers = await _get(served.url + "/js/vendor/notes.txt")
    assert (status, text, headers["Content-Type"]) == (200, "text", "text/plain; charset=UTF-8")
    status, text, headers = await _get(served.url + "/agent-dashboard.html", "HEAD")
    assert (status, text, headers["Content-Length"]) == (
        200,
        "",
        str(len("<title>dashboard</title>")),
    )


@pytest.mark.parametrize(
    "path",
    [
        "/README.md",  # production's image copies *.html, *.js and js/ only
        "/.env",
        "/backend/server.js",
        "/backend/.env",
        "/js/link.js",  # a link out of the checkout
        "/js/../backend/server.js",
        "/js/%2e%2e/backend/server.js",
        "/js/",
        "/nope.html",
    ],
)
async def test_nothing_else_of_the_checkout_is(served: RunningServer, path: str) -> None:
    status, text, _ = await _get(served.url + path)
    assert status == 404, path
    assert "source" not in text
    assert "SECRET" not in text


async def test_the_api_and_socket_io_stay_behind_it(served: RunningServer) -> None:
    status, text, _ = await _get(served.url + "/health")
    assert status == 200
    assert '"status":"ok"' in text
    status, _, _ = await _get(served.url + "/api/config/branding")
    assert status == 200
    status, _, _ = await _get(served.url + "/login.html", "POST")  # GET and HEAD only
    assert status == 404
    async with recorder(served.url) as socket:
        await socket.client.emit("request-current-state", "system-mode")
        current = await socket.wait_for("current-state")
    assert current == {"type": "system-mode", "data": "hitl"}


async def test_the_custom_widget_directory_itself_is_accepted(checkout: Path) -> None:
    config = ServerConfig(
        port=0, db=":memory:", profile="lizdeika", static_dir=str(checkout / "custom-widget")
    )
    async with serve(config=config) as running:
        status, text, _ = await _get(running.url + "/widget.js")
    assert (status, text) == (200, "window.LizdeikaChat = {};")


def test_a_bad_directory_or_profile_is_refused_before_anything_opens(checkout: Path) -> None:
    with pytest.raises(ValueError, match=r"not a Lizdeika checkout \(no custom-widget/ with"):
        RunningServer(
            ServerConfig(profile="lizdeika", static_dir=str(checkout / "custom-widget" / "backend"))
        )
    with pytest.raises(ValueError, match="no such directory"):
        RunningServer(ServerConfig(profile="lizdeika", static_dir=str(checkout / "nope")))
    with pytest.raises(ValueError, match="use it with --profile lizdeika, not vilnius"):
        RunningServer(ServerConfig(profile="vilnius", static_dir=str(checkout)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--profile", "lizdeika", "--static", "{checkout}/custom-widget/js"],
            "--static {checkout}/custom-widget/js: not a Lizdeika checkout (no custom-widget/ "
            "with login.html, agent-dashboard.html, widget.js)",
        ),
        (
            ["--static", "{checkout}"],
            "--static serves production's web clients, which log in as users: use it with "
            "--profile lizdeika, not vilnius",
        ),
    ],
)
async def test_the_command_line_refuses_in_one_line(
    checkout: Path, args: list[str], message: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "mock_server", "--port", "0", "--db", ":memory:"),
        *(arg.format(checkout=checkout) for arg in args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    out, err = await asyncio.wait_for(process.communicate(), STARTUP)
    assert process.returncode == 1
    assert out == b""
    assert err.decode().splitlines() == [
        "vilnius-mock-server: " + message.format(checkout=checkout)
    ]


def _documented_commands() -> list[str]:
    """The ``--static`` server commands the guides show (production.md, console.md)."""
    commands = []
    for guide in ("production.md", "console.md"):
        text = (ROOT / "docs" / "guides" / guide).read_text()
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            commands += [line for line in block.splitlines() if "--static" in line]
    return commands


@pytest.mark.parametrize("command", _documented_commands())
async def test_the_guides_commands_serve_the_clients(checkout: Path, command: str) -> None:
    words = shlex.split(command.replace("~/src/lizdeika", str(checkout)))
    program = 2 if words[:2] == ["./dev", "server"] else 1
    assert words[:program] in (["./dev", "server"], ["vilnius-mock-server"]), command
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "mock_server", *words[program:], "--port", "0", "--db", ":memory:"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=dict(os.environ),
    )
    assert process.stdout is not None
    try:
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Press Ctrl+C"):
            line = await asyncio.wait_for(process.stdout.readline(), STARTUP)
            assert line, banner
            banner.append(line.decode().strip())
        url = banner[0].split("listening on ")[1].split()[0]
        assert f"Production's web clients: {url}/login.html (the widget: /widget.js)" in banner
        status, text, _ = await _get(url + "/login.html")
        assert (status, text) == (200, "<title>login</title>")
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), STARTUP)
