"""The console's picture and page are in the docs, where a newcomer looks."""

from __future__ import annotations

from tests.examples.helpers import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_getting_started_shows_the_console() -> None:
    picture = ROOT / "docs" / "img" / "console.png"
    assert picture.read_bytes().startswith(PNG_SIGNATURE)
    guide = (ROOT / "docs" / "getting-started.md").read_text()
    assert "](img/console.png)" in guide
    assert "/console" in guide
    assert "guides/console.md" in (ROOT / "mkdocs.yml").read_text()
    assert "](../img/console.png)" in (ROOT / "docs" / "guides" / "console.md").read_text()
