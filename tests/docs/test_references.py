"""Documents the repository mentions are in the repository.

Design notes once lived outside the project; code and tests pointed at them. Now they are
``docs/``: every ``docs/...`` page mentioned must exist, and nothing may send a reader to
notes that are not here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SEARCHED = ("src", "tests", "benchmarks", "docs", "examples", "README.md")
SUFFIXES = (".py", ".md", ".mjs", ".toml")
DOCS_PAGE = re.compile(r"\bdocs/[\w./-]+\.md\b")
# How the notes that are not in the repository used to be cited.
ELSEWHERE = re.compile(
    r"DESIGN\.md|asgi-servers\.md|reference/\w+\.md|(?i:(?:protocol|server) notes)"
)


def texts() -> Iterator[tuple[Path, str]]:
    """Every searched text file but this one (which names what it looks for)."""
    for name in SEARCHED:
        top = REPO_ROOT / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if (
                path.suffix in SUFFIXES
                and path.is_file()
                and "node_modules" not in path.parts
                and path != Path(__file__).resolve()
            ):
                yield path, path.read_text(encoding="utf-8", errors="replace")


def test_the_docs_pages_mentioned_exist() -> None:
    mentioned = {
        (path.relative_to(REPO_ROOT), page)
        for path, text in texts()
        for page in DOCS_PAGE.findall(text)
    }
    assert mentioned, "nothing mentions docs/ any more: is this test still needed?"
    missing = sorted(
        (str(path), page) for path, page in mentioned if not (REPO_ROOT / page).is_file()
    )
    assert missing == []


def test_nothing_points_at_notes_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {match[0]}"
        for path, text in texts()
        for match in ELSEWHERE.finditer(text)
    ]
    assert found == []
