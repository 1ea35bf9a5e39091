"""What the simulator guide shows users to type: its commands parse, its scenario files read."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import pytest

from tests.examples.helpers import ROOT
from vilnius_client.sim import SimConfig
from vilnius_client.sim.cli import merge_parser, parser
from vilnius_client.sim.scenario_file import read_scenario_file

GUIDE = (ROOT / "docs" / "guides" / "simulator.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.DOTALL)


def commands() -> list[list[str]]:
    found = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().split(" # ")[0].split("; ")[0].replace("$i", "1")
            if line.startswith("vilnius-sim"):
                found.append(shlex.split(line.removesuffix("&"))[1:])
    return found


def test_the_guide_shows_commands() -> None:
    assert len(commands()) >= 10


@pytest.mark.parametrize("argv", commands(), ids=" ".join)
def test_the_guides_commands_parse(argv: list[str]) -> None:
    if argv[:1] == ["merge"]:
        merge_parser().parse_args(argv[1:])
    else:
        parser().parse_args(argv)


def test_the_guides_scenario_files_read(tmp_path: Path) -> None:
    written = [b for b in blocks("toml") if "--8<--" not in b]
    assert written
    fields = {f.name for f in dataclasses.fields(SimConfig)}
    for number, text in enumerate(written):
        path = tmp_path / f"{number}.toml"
        path.write_text(text)
        options = read_scenario_file(path)
        SimConfig(**{k: v for k, v in options.items() if k in fields})
