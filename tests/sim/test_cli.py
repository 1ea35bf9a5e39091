"""vilnius-sim as a CI gate: exit codes, thresholds, environment, CSV, Ctrl-C.

Every run talks to the real reference server (in-process, or the test's fixture) or to a
loopback port nobody listens on.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.metadata
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_server import RunningServer, serve
from tests.conftest import scaled
from tests.deployments import server_config
from tests.examples.helpers import ROOT, example_env
from vilnius_client import RestClient
from vilnius_client.sim import ExitCode
from vilnius_client.sim.__main__ import main

QUICK = ["--agents", "1", "--customers", "2", "--messages", "6", "--rate", "60", "--quiet"]


@pytest.fixture(autouse=True)
def _no_vilnius_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own VILNIUS_* settings must not leak into these runs."""
    for name in [n for n in os.environ if n.startswith("VILNIUS_") and "TEST" not in n]:
        monkeypatch.delenv(name)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_exit_codes_are_the_documented_ones() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "LOST": 1,
        "USAGE": 2,
        "ERROR": 3,
        "THRESHOLD": 4,
        "UNREACHABLE": 5,
        "INTERRUPTED": 130,
    }
    guide = (ROOT / "docs" / "guides" / "simulator.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in guide, code


def test_unreachable_server_from_the_environment_fails_fast_with_the_cause(
    closed_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VILNIUS_URL", f"http://127.0.0.1:{closed_port}")
    started = time.monotonic()

    status = main(["--connect-timeout", "1", "--quiet"])

    elapsed = time.monotonic() - started
    assert status == ExitCode.UNREACHABLE == 5
    assert elapsed < scaled(1 + 2)  # the timeout, plus closing the attempts
    err = capsys.readouterr().err
    assert f"cannot reach http://127.0.0.1:{closed_port} within 1 s" in err
    assert "Connect call failed" in err  # the cause, not a counter


def test_p99_threshold_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "report.json"

    status = main([*QUICK, "--max-p99-ms", "0.001", "--json", str(report_path)])

    assert status == ExitCode.THRESHOLD == 4
    out = capsys.readouterr().out
    assert "FAILED (exit 4): message p99" in out
    report = json.loads(report_path.read_text())
    assert report["ok"] is False
    assert report["exitCode"] == 4
    assert report["events"]["agent-message"]["lost"] == 0  # delivered, only too slowly
    assert report["thresholds"]["maxP99Ms"] == 0.001


def test_a_client_error_fails_the_run_unless_the_error_rate_allows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [*QUICK, "--scenario", "tests.sim.scenarios:answers_a_missing_conversation"]

    assert main(args) == ExitCode.THRESHOLD
    out = capsys.readouterr().out
    assert "client error rate" in out
    assert "errors 1" in out

    assert main([*args, "--max-error-rate", "0.5"]) == ExitCode.OK


def test_an_unfinished_final_wait_fails_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            *QUICK,
            *("--scenario", "tests.sim.scenarios:leaves_work_running", "--drain-timeout", "0.5"),
        ]
    )

    assert status == ExitCode.LOST
    out = capsys.readouterr().out
    assert "the final wait timed out" in out
    # One message and its answer: nothing was lost, only the wait did not finish.
    assert "delivered 3/3" in out


def test_bad_flag_values_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--spawn-rate", "0", "--quiet"]) == ExitCode.USAGE
    assert "spawn rate must be > 0" in capsys.readouterr().err
    assert main(["--scenario", "tests.sim.scenarios:nope", "--quiet"]) == ExitCode.USAGE
    assert main(["--bot", "external", "--quiet"]) == ExitCode.USAGE
    assert "--bot external needs --url" in capsys.readouterr().err
    assert main(["--shard", "1/2", "--quiet"]) == ExitCode.USAGE
    assert "--shard needs --run-id" in capsys.readouterr().err
    for wrong, why in (
        (["--shard", "3/2", "--run-id", "x"], "a shard is I/N with 1 <= I <= N, got 3/2"),
        (["--stage", "10"], "--stage wants DURATION:CUSTOMERS (like 10s:50), got '10'"),
        (["--think-time", "3-1"], "think time wants 0 <= low <= high, got 3.0-1.0"),
    ):
        with pytest.raises(SystemExit) as exited:  # argparse's own usage error
            main([*wrong, "--quiet"])
        assert exited.value.code == ExitCode.USAGE
        assert why in capsys.readouterr().err
    assert main(["--run-id", "Not Ok", "--quiet"]) == ExitCode.USAGE
    assert "run id must be" in capsys.readouterr().err
    assert main(["--messages-per-customer", "2", "--quiet"]) == ExitCode.USAGE
    assert "messages per customer is for stages and arrivals" in capsys.readouterr().err
    both = ["--scenario", "tests.sim.scenarios:expects_a_ghost_message", "--conversation", "m:f"]
    assert main([*both, "--quiet"]) == ExitCode.USAGE
    assert "a Python --scenario replaces the load" in capsys.readouterr().err


def test_an_invalid_url_fails_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()

    assert main(["--url", "notaurl", "--quiet"]) == ExitCode.USAGE

    assert time.monotonic() - started < scaled(2)  # no connection attempt, no timeout
    assert "--url wants http(s)://host[:port], got 'notaurl'" in capsys.readouterr().err
    assert main(["--url", "http://127.0.0.1:99999", "--quiet"]) == ExitCode.USAGE
    assert "Port out of range" in capsys.readouterr().err


async def test_a_login_missing_on_production_is_one_line_before_any_load(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with serve(config=server_config("lizdeika")) as production:
        status = await asyncio.to_thread(main, ["--url", production.url, "--customers", "2"])
        async with RestClient(production.url) as rest:
            listed = await rest.admin_conversations()

    assert status == ExitCode.USAGE == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "agents log in: set $VILNIUS_EMAIL and $VILNIUS_PASSWORD" in err
    assert listed.conversations == [], "no customer was started"


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert (
        capsys.readouterr().out == f"vilnius-sim {importlib.metadata.version('vilnius-client')}\n"
    )


async def test_agent_key_from_the_environment(
    token_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VILNIUS_URL", token_server.url)
    monkeypatch.setenv("VILNIUS_AGENT_KEY", "test-key")
    # main() runs its own event loop: off this one, which serves the server.
    assert await asyncio.to_thread(main, QUICK) == ExitCode.OK

    monkeypatch.setenv("VILNIUS_AGENT_KEY", "wrong")
    assert await asyncio.to_thread(main, QUICK) == ExitCode.ERROR

    monkeypatch.delenv("VILNIUS_AGENT_KEY")  # missing, not wrong: a usage error
    assert await asyncio.to_thread(main, QUICK) == ExitCode.USAGE


def test_spawn_rate_and_csv(tmp_path: Path) -> None:
    prefix, report_path = tmp_path / "run", tmp_path / "report.json"

    status = main(
        [
            *("--agents", "1", "--customers", "4", "--spawn-rate", "8", "--duration", "2.5"),
            *("--rate", "40", "--no-typing", "--quiet", "--seed", "5"),
            *("--csv", str(prefix), "--json", str(report_path)),
        ]
    )

    assert status == ExitCode.OK
    report = json.loads(report_path.read_text())
    assert report["settings"]["spawn_rate"] == 8
    assert report["rampSeconds"] >= 3 / 8  # the 4th customer starts 3/8 s after the 1st
    with (tmp_path / "run_stats.csv").open() as f:
        stats = {row["Event"]: row for row in csv.DictReader(f)}
    assert set(stats) == {
        "new-message",
        "agent-message",
        "customer-typing-status",
        "agent-typing-status",
        "Aggregated",
    }
    new_message = stats["new-message"]
    assert int(new_message["Sent"]) == report["events"]["new-message"]["sent"] > 0
    assert int(new_message["Delivered"]) == report["events"]["new-message"]["delivered"]
    assert float(new_message["99%"]) == pytest.approx(
        report["events"]["new-message"]["latencyMs"]["p99"], abs=0.001
    )
    assert int(stats["Aggregated"]["Delivered"]) == report["throughput"]["deliveries"]
    with (tmp_path / "run_stats_history.csv").open() as f:
        history = [row for row in csv.DictReader(f) if row["Event"] == "Aggregated"]
    assert len(history) >= 2  # a point a second, and the last one
    elapsed = [float(row["Elapsed s"]) for row in history]
    assert elapsed == sorted(elapsed)
    assert int(history[-1]["Delivered"]) == report["throughput"]["deliveries"]
    assert (
        sum(int(row["Interval deliveries"]) for row in history)
        == (report["throughput"]["deliveries"])
    )


async def test_ctrl_c_stops_sending_and_prints_the_partial_report(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "vilnius_client.sim", "--agents", "1", "--customers", "3", "--duration", "60"),
        *("--rate", "30", "--no-typing", "--json", str(report_path)),
        cwd=ROOT,
        env=example_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(scaled(30)):
            # The live line (after 1 s, then every 5 s) shows messages flowing.
            while True:
                line = (await process.stderr.readline()).decode()
                assert line, "vilnius-sim ended before sending"
                if "delivered" in line and " sent 0 " not in line:
                    break
            process.send_signal(signal.SIGINT)
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    out = stdout.decode()
    assert process.returncode == ExitCode.INTERRUPTED == 130, out + stderr.decode()
    assert "interrupted: no more sends" in stderr.decode()
    assert "INTERRUPTED after" in out
    report = json.loads(report_path.read_text())
    assert report["interrupted"] is True
    assert report["sendSeconds"] < 30  # it stopped sending long before the 60 s
    agent_message = report["events"]["agent-message"]
    assert agent_message["delivered"] == agent_message["sent"] > 0  # in flight: waited for
