"""The pytest plugin's fixtures without the ``testing`` extra: one line that names it.

A user who installed ``vilnius-client`` alone and writes a test with ``vilnius_server``
runs pytest in a fresh interpreter where pytest-asyncio (or the server's modules) cannot
be imported; the test must fail with the extra to install, as the command-line tools say,
not with pytest's "requested an async fixture ... with no plugin or hook" (issue 20).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
from pathlib import Path

import pytest

from tests.conftest import scaled
from tests.examples.helpers import example_env

BLOCK = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Block())
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""

TEST = """
def test_my_bot(vilnius_server):
    pass
"""

HINT = (
    "install it with: pip install 'vilnius-client[testing]'"
    " (from a clone of the repository: pip install '.[testing]')"
)


def _load_plugin() -> list[str]:
    """``-p _vilnius_pytestplugin`` in a checkout that was not pip-installed."""
    entry_points = importlib.metadata.entry_points(group="pytest11")
    return (
        [] if any(ep.name == "vilnius" for ep in entry_points) else ["-p", "_vilnius_pytestplugin"]
    )


@pytest.mark.parametrize(
    ("blocked", "options", "problem"),
    [
        # --assert=plain: pytest's assertion rewriter would find plugins past the block
        (
            ["pytest_asyncio"],
            ["-p", "no:asyncio", "--assert=plain"],
            "pytest-asyncio is not installed",
        ),
        ([], ["-p", "no:asyncio"], "pytest-asyncio is installed but not active (-p no:asyncio?)"),
        (["aiosqlite"], [], "no module named 'aiosqlite'"),
    ],
    ids=["no-pytest-asyncio", "pytest-asyncio-off", "no-server-extra"],
)
async def test_the_fixtures_name_the_testing_extra(
    tmp_path: Path, blocked: list[str], options: list[str], problem: str
) -> None:
    (tmp_path / "test_bot.py").write_text(TEST)
    (tmp_path / "run.py").write_text(BLOCK.format(blocked=set(blocked)))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "run.py",
        *("-q", "-p", "no:cacheprovider", *_load_plugin(), *options),
        *("-o", "asyncio_default_fixture_loop_scope=function", "test_bot.py"),
        cwd=str(tmp_path),
        env=example_env(),  # the repository first on the path: this plugin, not an old copy
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), scaled(60))
    text = out.decode()
    assert process.returncode == 1, text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if "ERROR at setup of test_my_bot" in line)
    assert lines[header + 1] == (f"vilnius_server needs the 'testing' extra ({problem}); {HINT}"), (
        text
    )
    assert lines[header + 2].startswith("=====")  # that one line is the whole report
    assert "requested an async fixture" not in text
    assert "Traceback" not in text
