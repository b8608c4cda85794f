"""The documentation keeps working: every relative link of README.md and docs/ reaches a file (and a
heading, when it names one), every `make` target they name exists, the README's first screen takes a
newcomer to a first `plan`, and the docs tell the product as it is, not its history."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def _lines(page: Path, code: bool = False) -> list[str]:
    """The page's lines outside code blocks (`code`: inside them)."""
    lines, inside = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        if inside == code:
            lines.append(line)
    return lines


def _prose(page: Path) -> list[str]:
    return _lines(page)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in _prose(page):
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            name, n = base, 1
            while name in found:
                name, n = f"{base}-{n}", n + 1
            found.add(name)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_reaches_its_file_and_heading(page: Path) -> None:
    broken = []
    for line in _prose(page):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):  # https:, mailto:: not ours to check here
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{target}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{target}: no such heading in {file.name}")
    assert not broken, broken


def test_every_make_target_the_docs_name_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))
    named = {name for page in PAGES
             for name in re.findall(r"`make ([a-z][a-z0-9-]*)", page.read_text(encoding="utf-8"))}
    named |= {found[1] for page in PAGES for line in _lines(page, code=True)
              if (found := re.match(r"\s*make ([a-z][a-z0-9-]*)", line))}
    assert named and named <= targets, sorted(named - targets)


def test_the_first_screen_reaches_a_first_plan_and_the_docs() -> None:
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:100])
    for needed in ("make demo", "pip install", "gcs2s3 plan --config", "gcs2s3 sync --config", "DevLevel",
                   "exit", "docs/settings.md", "docs/aws.md"):
        assert needed in head, needed
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


def test_docs_describe_the_product_not_its_history() -> None:
    history = re.compile(r"\b(issue \d+|issue's|before issue|since issue|until issue|DESIGN\b)", re.IGNORECASE)
    found = [f"{page.name}: {line.strip()[:80]}" for page in PAGES for line in _prose(page) if history.search(line)]
    assert not found, found
