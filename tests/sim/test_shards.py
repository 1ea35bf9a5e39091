"""Runs across machines: runs sharing a server ignore each other, shards of a scenario merged
count what one run of it counts, and the --hdr-out file is an HdrHistogram log."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from mock_server import RunningServer
from vilnius_client.sim import ExitCode, MergeError, Report, Shard, merge
from vilnius_client.sim.__main__ import main
from vilnius_client.sim.hdrlog import read_log
from vilnius_client.sim.tracker import KINDS

SCENARIO = [
    *("--agents", "2", "--customers", "5", "--messages", "20", "--rate", "40"),
    *("--seed", "4", "--quiet"),
]


async def sim(*args: str) -> int:
    """`vilnius-sim ARGS` in a thread (its own event loop; the test's serves the server)."""
    return await asyncio.to_thread(main, list(args))


def counts(report: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on how the scenario was split."""
    names = ("sent", "expected", "delivered", "lost", "duplicated", "unexpected", "errors")
    events = {kind: {n: report["events"][kind][n] for n in names} for kind in KINDS}
    throughput = report["throughput"]
    return {
        "events": events,
        "customerMessages": throughput["customerMessages"],
        "agentMessages": throughput["agentMessages"],
        "measured": report["messages"]["delivered"] - report["messages"]["warmup"],
    }


async def test_two_shards_merged_count_what_one_run_of_the_scenario_counts(
    server: RunningServer, tmp_path: Path
) -> None:
    whole, first, second = (tmp_path / f"{name}.hlog" for name in ("whole", "s1", "s2"))

    # The whole scenario and its two shards, all at once on one server: every run's agents
    # hear every message and answer and count only their own run's.
    def shard(index: int, path: Path) -> list[str]:
        return ["--run-id", "split", "--shard", f"{index}/2", "--hdr-out", str(path)]

    statuses = await asyncio.gather(
        sim("--url", server.url, *SCENARIO, "--run-id", "whole", "--hdr-out", str(whole)),
        sim("--url", server.url, *SCENARIO, *shard(1, first)),
        sim("--url", server.url, *SCENARIO, *shard(2, second)),
    )
    assert statuses == [ExitCode.OK] * 3
    merged_json, one_json = tmp_path / "merged.json", tmp_path / "one.json"
    assert await sim("merge", str(second), str(first), "--json", str(merged_json)) == 0
    assert await sim("merge", str(whole), "--json", str(one_json)) == 0

    merged, one = json.loads(merged_json.read_text()), json.loads(one_json.read_text())
    assert counts(merged) == counts(one)
    assert counts(one)["customerMessages"] == counts(one)["agentMessages"] == 20
    for kind in KINDS:
        assert merged["events"][kind]["duplicated"] == merged["events"][kind]["unexpected"] == 0
    # The shards' customers were the scenario's customers, each once.
    shard_customers = [
        read_log(path).data["clients"] - 2 for path in (first, second)
    ]  # 2 agents each
    assert sorted(shard_customers) == [2, 3]
    assert (merged["shards"], merged["runId"], merged["ok"]) == (2, "split", True)


def test_the_hdr_out_file_is_an_hdrhistogram_log(tmp_path: Path) -> None:
    path = tmp_path / "run.hlog"
    status = main([*SCENARIO, "--agents", "1", "--run-id", "alone", "--hdr-out", str(path)])
    assert status == ExitCode.OK

    reader = HistogramLogReader(str(path), HdrHistogram(1, 3_600_000_000, 3))
    read: dict[str, int] = {}
    while (histogram := reader.get_next_interval_histogram()) is not None:
        read[histogram.get_tag()] = histogram.get_total_count()
    reader.close()
    log = read_log(path)
    assert read == {tag: h.count for tag, h in log.histograms.items()}
    assert set(read) == set(KINDS)
    # The merge of one file is the run's own report again.
    report = merge([path])
    assert report.event("new-message").delivered == log.data["events"]["new-message"][2] == 40
    assert report.histograms["new-message"].count == read["new-message"]


@pytest.mark.parametrize(
    ("shards", "why"),
    [
        ([("a", 1, 2), ("b", 2, 2)], "the files are of different runs (a, b)"),
        ([("a", 1, 2)], "run a: shard 2/2 missing"),
        ([("a", 1, 2), ("a", 1, 2)], "shard 1/2 twice"),
        ([("a", 1, 2), ("a", 2, 3)], "the files split the scenario differently"),
    ],
)
def test_merge_refuses_files_that_are_not_one_whole_run(
    tmp_path: Path, shards: list[tuple[str, int, int]], why: str
) -> None:
    paths = []
    for number, (run, index, count) in enumerate(shards):
        report = Report("http://x", {}, 1.0, [], run_id=run, shard=Shard(index, count))
        paths.append(tmp_path / f"{number}.hlog")
        report.write_hdr(paths[-1])

    with pytest.raises(MergeError, match=re.escape(why)):
        merge(paths)


def test_merge_of_a_file_that_is_not_ours_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.hlog"
    other.write_text('"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed"\n')

    assert main(["merge", str(other)]) == ExitCode.USAGE
    assert "not a vilnius-sim --hdr-out file" in capsys.readouterr().err
