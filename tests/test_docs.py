"""The documents a clone carries: every relative link in README.md and docs/ leads to a file in the
repository (a link out of it, like the plan's old `../shared/plan/…`, is broken in every clone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, …


def relative_links(text: str) -> list[str]:
    """The targets of the markdown links (inline, image and reference) that name a path, outside code."""
    prose = CODE_SPAN.sub("", FENCE.sub("", text))
    targets = INLINE.findall(prose) + REFERENCE.findall(prose)
    return [t for t in targets if not SCHEME.match(t) and not t.startswith("#")]


def broken_links(text: str, base: Path, root: Path = ROOT) -> list[str]:
    """The relative links in `text` (a document in `base`) whose file is missing or outside `root`."""
    broken = []
    for link in relative_links(text):
        path = (base / link.split("#", 1)[0].split("?", 1)[0]).resolve()
        if not path.is_relative_to(root) or not path.exists():
            broken.append(link)
    return broken


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_in_the_repository(document):
    assert broken_links(document.read_text(), document.parent) == []


def test_the_plan_is_in_the_repository_and_the_readme_links_it():
    assert (ROOT / "docs" / "incident-response-plan.md").read_text().startswith("# PreSkool ERP")
    assert "docs/incident-response-plan.md" in relative_links((ROOT / "README.md").read_text())


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n")
    text = (
        "[ok](docs/there.md) [anchor](docs/there.md#there) [web](https://temporal.io) [top](#top)\n"
        "![missing picture](docs/images/none.png) [outside](../shared/plan/plan.md)\n"
        "[ref]: docs/gone.md\n"
        "`[in code](nowhere.md)`\n```\n[in a fence](nowhere.md)\n```\n"
    )
    assert broken_links(text, tmp_path, root=tmp_path) == [
        "docs/images/none.png",
        "../shared/plan/plan.md",
        "docs/gone.md",
    ]
