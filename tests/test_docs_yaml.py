"""Every YAML example in the README and docs/ is YAML a user can paste: a sweep config
copied from a page must not fail to parse (a flow list with unquoted ``${...}`` macros,
say, is a YAML error, not a command)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```ya?ml[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((page.relative_to(ROOT).as_posix(), line, match.group(1)))
    return found


BLOCKS = _blocks()


def test_the_docs_have_yaml_examples() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize(("page", "line", "text"), BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_a_yaml_example_parses(page: str, line: int, text: str) -> None:
    try:
        list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        pytest.fail(f"{page} line {line}: the YAML example does not parse: {exc}")
