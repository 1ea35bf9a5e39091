"""The ``vilnius-mock-server`` command line, run as a subprocess."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest

import vilnius_client
from mock_server.options import environment_variables, parse_args
from tests.server.cli_server import LOG_LINE, STARTUP, Server
from tests.server.cli_server import environment as _environment
from tests.server.helpers import Api
from vilnius_client import AgentClient

# -- the agent key ------------------------------------------------------------------


async def test_token_mode_prints_generated_key(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    server = await Server.start("--db", str(db), "--log-level", "warning")
    try:
        key_file = Path(f"{db}.agent-key")
        key = key_file.read_text().strip()  # noqa: ASYNC240 - a tiny local file
        assert key_file.stat().st_mode & 0o777 == 0o600  # noqa: ASYNC240
        assert not any(key in line for line in server.banner)  # #11: never shows the key
        assert any(str(key_file) in line for line in server.banner)
        async with Api(server.url) as api:
            assert (await api.get("/health")).body["status"] == "ok"
            token = await api.agent_token("a1", key)
            reply = await api.post("/api/messages", {"conversationId": "c1", "message": "hi"})
            assert reply.status == 200
            assert (await api.get("/api/messages", token=token)).body["lastSeq"] == 1
    finally:
        code = await server.stop()
    assert code == 0
    assert db.exists()
    assert server.log == []  # --log-level warning: nothing went wrong, nothing to say


@pytest.mark.parametrize(
    ("args", "expect_key"),
    [(["--auth", "none"], False), (["--auth", "token", "--agent-key", "secret-k"], True)],
)
async def test_given_key_or_no_auth(args: list[str], expect_key: bool) -> None:
    server = await Server.start("--db", ":memory:", *args)
    try:
        assert not any(line.startswith("Generated agent key") for line in server.banner)
        assert not any("secret-k" in line for line in server.banner)
        async with Api(server.url) as api:
            status = (await api.get("/api/messages")).status
            assert status == (401 if expect_key else 200)
    finally:
        assert await server.stop(signal.SIGINT) == 0  # Ctrl+C stops as cleanly as SIGTERM


# -- --version and the environment ----------------------------------------------------


async def test_version() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "--version", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), STARTUP)
    assert process.returncode == 0
    assert out.decode().strip() == f"vilnius-mock-server {vilnius_client.__version__}"


async def test_configured_by_the_environment_alone(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    server = await Server.start(
        VILNIUS_PORT="0",
        VILNIUS_DB=str(db),
        VILNIUS_AUTH="token",
        VILNIUS_AGENT_KEY="env-secret",
        VILNIUS_ACCESS_LOG="off",
    )
    try:
        assert not any("env-secret" in line for line in server.banner)
        assert not Path(f"{db}.agent-key").exists()  # noqa: ASYNC240 - the key was given
        async with Api(server.url) as api:
            assert (
                await api.post("/api/auth/agent-token", {"agentId": "a", "agentKey": "no"})
            ).status == 401
            await api.agent_token("a1", "env-secret")
        await server.log_line(r"INFO mock_server: listening on ")
    finally:
        assert await server.stop() == 0
    assert db.exists()
    assert not [line for line in server.log if "mock_server.access" in line]  # VILNIUS_ACCESS_LOG


def test_every_variable_is_documented() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "guides" / "server.md").read_text()
    variables = environment_variables()
    assert {"VILNIUS_AGENT_KEY", "VILNIUS_PORT", "VILNIUS_DB", "VILNIUS_LOG_LEVEL"} <= set(
        variables
    )
    for variable in variables:
        flag = "--" + variable.removeprefix("VILNIUS_").lower().replace("_", "-")
        assert re.search(rf"^\| `{flag}`.* \| `{variable}` \|", guide, re.M), variable


def test_the_command_line_wins_over_the_environment() -> None:
    env = {
        "VILNIUS_PORT": "4000",
        "VILNIUS_AUTH": "none",
        "VILNIUS_WS_COMPRESSION": "yes",
        "VILNIUS_LOG_LEVEL": "debug",
        "VILNIUS_AGENT_USER": "a@example.com:pw-a\nb@example.com:pw-b:Bee\n",
        "VILNIUS_MESSAGE_RATE_LIMIT": "",  # empty: unset
    }
    from_env = parse_args([], env)
    assert (from_env.port, from_env.auth, from_env.ws_compression) == (4000, "none", True)
    assert from_env.log_level == "DEBUG"
    assert [user.email for user in from_env.agent_user] == ["a@example.com", "b@example.com"]
    assert from_env.agent_user[1].name == "Bee"
    assert from_env.message_rate_limit == "default"
    assert from_env.access_log is True
    given = parse_args(
        ["--port", "5000", "--auth", "token", "--no-access-log", "--agent-user", "c@x.io:pw"],
        env,
    )
    assert (given.port, given.auth, given.access_log) == (5000, "token", False)
    assert [user.email for user in given.agent_user] == ["c@x.io"]
    assert parse_args([], {}).agent_user == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("VILNIUS_PORT", "abc", "VILNIUS_PORT='abc': 'abc' is not a port (0-65535"),
        ("VILNIUS_PORT", "70000", "VILNIUS_PORT='70000': '70000' is not a port (0-65535"),
        ("VILNIUS_HEADER_TIMEOUT", "0", "VILNIUS_HEADER_TIMEOUT='0': '0' is not a number"),
        ("VILNIUS_AUTH", "basic", "VILNIUS_AUTH='basic': expected one of token, none"),
        ("VILNIUS_ACCESS_LOG", "maybe", "VILNIUS_ACCESS_LOG='maybe': expected 1/true/yes/on"),
        ("VILNIUS_MESSAGE_RATE_LIMIT", "fast", "VILNIUS_MESSAGE_RATE_LIMIT='fast': "),
        ("VILNIUS_AGENT_USER", "bob:hunter2", "VILNIUS_AGENT_USER: a value is not EMAIL:"),
    ],
)
def test_a_bad_variable_is_named(
    variable: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args([], {variable: value})
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vilnius-mock-server: error: {message}"), err
    assert err.count("\n") == 1, err  # one line, pointing at --help for the usage
    assert err.endswith("(see vilnius-mock-server --help)\n"), err
    assert "hunter2" not in err  # a secret's value is never repeated


async def _run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``python -m mock_server args``; its exit status, standard output and error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "mock_server", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_environment(),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), STARTUP)
    finally:
        if process.returncode is None:  # it started after all: stop it
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("port", ["99999", "65536", "-5", "abc", "3.5"])
async def test_a_bad_port_is_one_line(port: str) -> None:
    code, out, err = await _run_cli("--port", port, "--db", ":memory:")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"vilnius-mock-server: error: argument --port: {port!r} is not a port (0-65535; 0: any"
        " free one) (see vilnius-mock-server --help)"
    ]


def test_the_edges_of_the_port_range_are_ports() -> None:
    assert parse_args(["--port", "0"], {}).port == 0
    assert parse_args(["--port", "65535"], {}).port == 65535


async def test_help_points_at_the_documents_of_the_repository() -> None:
    code, out, _ = await _run_cli("--help")
    assert code == 0
    text = " ".join(out.split())  # argparse wraps lines
    root = Path(__file__).parents[2]
    for document in ("docs/contract.md", "docs/production-server.md"):
        assert document in text, text
        assert (root / document).is_file()
    assert "CONTRACT.md" not in text
    assert "PRODUCTION.md" not in text
    assert "--header-timeout SECONDS" in text


# -- start-up failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("db", "reason"),
    [
        (
            "missing/dir/chat.db",
            r"unable to open database file \(there is no directory .*missing/dir\)",
        ),
        ("garbage.db", "file is not a database"),
        (".", r"unable to open database file \(it is a directory\)"),
    ],
)
async def test_a_bad_database_is_one_line(tmp_path: Path, db: str, reason: str) -> None:
    (tmp_path / "garbage.db").write_bytes(b"not SQLite at all\n" * 100)
    path = tmp_path / db
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "mock_server", "--port", "0", "--db", str(path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_environment(),
    )
    out, err = await asyncio.wait_for(process.communicate(), STARTUP)
    assert process.returncode == 1
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(
        rf"vilnius-mock-server: cannot open the database {re.escape(str(path))}: {reason}",
        lines[0],
    ), lines


# -- what it logs ---------------------------------------------------------------------


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_logs_requests_sockets_and_joins_but_no_secrets(level: str) -> None:
    server = await Server.start(
        "--db", ":memory:", "--log-level", level, VILNIUS_AGENT_KEY="key-of-the-test"
    )
    try:
        async with AgentClient(server.url, agent_id="bot-7", agent_key="key-of-the-test"):
            await server.log_line(r"agent bot-7 joined the dashboard \(socket (\S+)\)")
        sid = (await server.log_line(r"connect (\S+) from 127\.0\.0\.1 \(agent bot-7\)"))[1]
        await server.log_line(rf"disconnect {re.escape(sid)} \(agent bot-7\): ")
        async with Api(server.url) as api:
            token = await api.agent_token("reader", "key-of-the-test")
            assert (await api.get("/api/messages?after=0", token=token)).status == 200
            body = {"conversationId": "c-log", "message": "a body never logged"}
            assert (await api.post("/api/messages", body)).status == 200
            assert (await api.get("/api/messages", token="forged")).status == 401
    finally:
        assert await server.stop() == 0
    log = "\n".join(server.log)
    access = r"INFO mock_server\.access: 127\.0\.0\.1 \"{} {}\" {} \d+ ms$"
    assert re.search(access.format("POST", "/api/auth/agent-token", 200), log, re.M), log
    assert re.search(access.format("POST", "/api/messages", 200), log, re.M), log
    assert re.search(access.format("GET", r"/api/messages\?after=0", 200), log, re.M), log
    assert re.search(access.format("GET", "/api/messages", 401), log, re.M), log
    assert "/socket.io/" not in log  # the socket lines say it better
    for secret in ("key-of-the-test", token, "forged", "a body never logged", "Bearer"):
        assert secret not in log
    for line in server.log:  # libraries stay quiet, at DEBUG too
        match = LOG_LINE.match(line)
        assert match, line
        assert match[2] == "mock_server" or match[2].startswith("mock_server."), line
