"""vilnius-sim against production's behaviour (``--profile lizdeika``): logins, throttling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mock_server import RateLimit, serve
from tests.deployments import USERS, server_config
from vilnius_client.sim import SimConfig, Simulation
from vilnius_client.sim.__main__ import main


def test_cli_against_the_bundled_production_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    json_path = tmp_path / "report.json"
    status = main(
        [
            *("--profile", "lizdeika", "--agents", "2", "--customers", "4"),
            *("--messages", "16", "--rate", "40", "--churn", "0.5", "--seed", "2", "--quiet"),
            *("--json", str(json_path)),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads(json_path.read_text())
    assert report["reloads"] == 2, "the churned customers came back and lost nothing"
    # The replies reach the agents as agent-sent-message there (no new-message): counted.
    assert report["events"]["new-message"]["delivered"] == 2 * 32
    assert report["events"]["agent-message"]["delivered"] == 16
    assert report["throttling"]["productionWouldRefuse"] == 6, "16 messages within a minute"
    assert "would refuse 6 of 16" in out
    assert "password" not in json.dumps(report["settings"])


async def test_a_throttling_server_is_waited_out_not_hammered() -> None:
    user = USERS["bot"]
    config = server_config("lizdeika", message_rate_limit=RateLimit(4, 1.0))
    async with serve(config=config) as production:
        sim_config = SimConfig(
            agents=1,
            customers=2,
            messages=8,
            rate=40,
            typing=False,
            email=user.email,
            password=user.password,
        )
        report = await Simulation(production.url, sim_config).run()
    assert report.ok, report.table()
    assert report.event("new-message").delivered == 16
    assert report.throttling.waits >= 1
    assert report.throttling.refused == 0
    assert report.errors == 0, "a 429 waited out is no client error"
