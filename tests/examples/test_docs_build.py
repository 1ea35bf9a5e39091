"""The docs build with ``mkdocs build --strict``, and the event reference matches the code."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import scaled
from tests.examples.helpers import ROOT
from vilnius_client.events import CLIENT_EVENT_PAYLOADS, SERVER_EVENT_MODELS, Event


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_event_reference_covers_every_event_and_field() -> None:
    page: str = load_hooks().render()
    for event in Event:
        assert f"### `{event.value}` {{#{event.value}}}" in page, event
    for model in SERVER_EVENT_MODELS.values():
        for name, info in model.model_fields.items():
            if not info.exclude:
                assert f"| `{info.alias or name}` | `{name}` |" in page, (model, name)
    assert "| `conversationId` | `conversation_id` |" in page
    assert len(CLIENT_EVENT_PAYLOADS) + len(SERVER_EVENT_MODELS) == len(Event)


def test_event_reference_refuses_an_undocumented_event(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = load_hooks()
    monkeypatch.delitem(hooks.ROUTING, Event.HEARTBEAT_ACK)
    with pytest.raises(RuntimeError, match="heartbeat-ack"):
        hooks.render()


def test_docs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(120),
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events_page = (site / "reference" / "events" / "index.html").read_text()
    assert "customer-typing-status" in events_page
    assert "CustomerTypingStatusEvent" in events_page
    assert not (site / "hooks.py").exists()
    first_bot = (site / "getting-started" / "index.html").read_text()
    assert "first-bot" in first_bot  # included from examples/first_bot.py
    contract = (site / "contract" / "index.html").read_text()
    assert "What a server offers" in contract
    assert "join-agent-dashboard" in contract
    assert "Lizdeika" in (site / "production-server" / "index.html").read_text()
    # Docstrings link with Markdown references; none is left raw on any page.
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert not SPHINX_ROLE.search(text), (page, SPHINX_ROLE.search(text))
        assert not UNRESOLVED_REFERENCE.search(text), (page, UNRESOLVED_REFERENCE.search(text))
    clients = (site / "reference" / "clients" / "index.html").read_text()
    assert 'href="#vilnius_client.AgentClient.disconnect"' in clients  # a resolved reference


SPHINX_ROLE = re.compile(r":(?:class|meth|attr|func|data|mod|exc|obj):`")
"""A reStructuredText role, which mkdocstrings shows as it is."""

UNRESOLVED_REFERENCE = re.compile(r"\]\[[\w.]*\]")
"""A Markdown cross-reference autorefs could not resolve: it stays as text."""


def test_readme_links_stay_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if not re.match(r"[a-z]+:", target)]
    assert "docs/contract.md" in local
    for target in local:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), target
        assert path.exists(), target
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        text = page.read_text()
        assert "../shared/" not in text, page  # the team's folder, not in the repository
        assert "`shared/" not in text, page
