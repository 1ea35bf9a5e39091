"""Load shapes, reply bookkeeping and scenario files, without sockets."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import pytest

from tests.examples.helpers import EXAMPLES
from vilnius_client.sim import ArrivalPhase, Shard, Stage, ThinkTime
from vilnius_client.sim.replies import ReplyTracker
from vilnius_client.sim.scenario_file import read_scenario_file
from vilnius_client.sim.shape import arrival_times, customers_at, parse_stage, parse_think_time

RAMP = (Stage(10, 50), Stage(30, 50), Stage(10, 0))


def test_stages_ramp_up_hold_and_ramp_down_linearly() -> None:
    assert [customers_at(RAMP, t) for t in (0, 5, 10, 25, 40, 45, 50, 60)] == [
        0,
        25,
        50,
        50,
        50,
        25,
        0,
        0,
    ]
    # A stage of length 0 jumps to its target.
    assert customers_at((Stage(0, 8), Stage(5, 8)), 0) == 8


def test_arrivals_are_evenly_spaced_by_the_rate_and_carry_on_across_phases() -> None:
    assert list(arrival_times((ArrivalPhase(5, 2),))) == [0.0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]
    assert list(arrival_times((ArrivalPhase(3, 0.5), ArrivalPhase(3, 0.5)))) == [0, 2, 4]
    ramp = list(arrival_times((ArrivalPhase(2, 0, ramp_to=4),)))
    assert ramp == pytest.approx([0, 1, math.sqrt(2), math.sqrt(3)])  # the area under 2t
    gaps = [b - a for a, b in pairwise(ramp)]
    assert gaps == sorted(gaps, reverse=True), "faster and faster"
    assert list(arrival_times((ArrivalPhase(3, 0),))) == []


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_split_the_customers_exactly(count: int) -> None:
    owners = [
        [i for i in range(1, count + 1) if Shard(i, count).owns(number)] for number in range(50)
    ]
    assert all(len(owner) == 1 for owner in owners), "each customer in one shard"
    assert {owner[0] for owner in owners} == set(range(1, count + 1)), "none idle"


def test_parsing_flags() -> None:
    assert parse_stage("10s:50") == Stage(10, 50)
    assert parse_stage("1.5m:3") == Stage(90, 3)
    assert parse_stage("500ms:1") == Stage(0.5, 1)
    assert parse_think_time("2") == ThinkTime(2, 2)
    assert parse_think_time("1-3") == ThinkTime(1, 3)
    assert parse_think_time("250ms-1s") == ThinkTime(0.25, 1)


def test_a_reply_answers_every_waiting_message_of_its_conversation() -> None:
    replies = ReplyTracker(deadline=2.0)
    replies.sent("c1", at=0.0)
    replies.sent("c1", at=0.5)  # a second message before the answer
    replies.sent("c2", at=0.0)

    assert replies.replied("c1", "r1", at=1.0)
    assert replies.outstanding(now=1.0) == 1  # c2's
    assert replies.outstanding(now=2.5) == 0  # its deadline passed
    counts = replies.close()

    assert (counts.sent, counts.answered, counts.unanswered, counts.late) == (3, 2, 1, 0)
    assert counts.latency.count == 2
    assert counts.latency.max == pytest.approx(1.0, rel=1e-3)
    assert counts.latency.min == pytest.approx(0.5, rel=1e-3)


def test_answered_twice_late_duplicated_and_unsolicited_replies() -> None:
    replies = ReplyTracker(deadline=1.0)
    assert not replies.replied("c1", "hello", at=0.0)  # a greeting before any message
    replies.sent("c1", at=1.0)
    assert replies.replied("c1", "r1", at=1.2)
    assert not replies.replied("c1", "r1", at=1.3)  # the same reply delivered again
    assert not replies.replied("c1", "r2", at=1.4)  # a second answer
    assert not replies.replied("c1", "r3", at=1.5)  # a third: still one message answered twice
    replies.sent("c1", at=2.0)
    assert replies.replied("c1", "r4", at=3.5)  # after the deadline

    counts = replies.close()
    assert (counts.sent, counts.answered, counts.unanswered, counts.late) == (2, 1, 1, 1)
    assert (counts.twice, counts.duplicates, counts.unsolicited) == (1, 1, 1)
    assert counts.latency.count == 1, "a late reply is no answer within the deadline"


def test_a_failed_send_expects_no_reply() -> None:
    replies = ReplyTracker(deadline=1.0)
    replies.sent("c1", at=0.0)
    replies.withdraw("c1", at=0.0)

    counts = replies.close()
    assert (counts.sent, counts.unanswered) == (0, 0)


def test_the_staged_example_file_reads_as_its_comments_say() -> None:
    options = read_scenario_file(EXAMPLES / "scenarios" / "staged.toml")

    assert options["stages"] == (Stage(2, 6), Stage(3, 6), Stage(1, 0))
    assert options["think_time"] == ThinkTime(0.2, 0.5)
    assert options["reply_deadline"] == 5.0
    assert options["max_unanswered"] == 0


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("customers = 'ten'", "customers: wants a whole number, got 'ten'"),
        ("agent_key = 'k'", "agent_key: the agent key comes from $VILNIUS_AGENT_KEY"),
        ("shard = '1/2'", "shard: the shard differs between runs of one file"),
        ("colour = 'red'", "unknown key 'colour'"),
        ("[[stages]]\nduration = 5", "stages: #1: missing 'customers'"),
        ("[[stages]]\nduration = 5\ncustomers = 2\nrate = 3", "stages: #1: unknown key 'rate'"),
        ("[[arrivals]]\nduration = -1\nrate = 3", "arrivals: #1: a phase's duration must be > 0"),
        ("think_time = '3-1'", "think_time: think time wants 0 <= low <= high"),
        ("stages = [", "not valid TOML"),
    ],
)
def test_a_wrong_scenario_file_says_where(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "load.toml"
    path.write_text(text + "\n")

    with pytest.raises(ValueError, match=r"load\.toml: ") as raised:
        read_scenario_file(path)
    assert why in str(raised.value)
