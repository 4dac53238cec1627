"""Every ``import`` / ``from ... import`` statement that README.md shows must run.

The statements are collected from fenced code blocks and inline code spans, so a renamed
module or a function dropped from a package breaks this test instead of a user's first try.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_STATEMENT = re.compile(r"^(?:>>> )?((?:import [\w.]+(?: as \w+)?(?:, [\w.]+(?: as \w+)?)*)|(?:from [\w.]+ import .+))$")


def _statements(text: str) -> list[str]:
    found = []
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```[^\n]*\n.*?```", "", text, flags=re.S)
    spans = re.findall(r"`([^`]+)`", rest)
    for chunk in blocks + spans:
        for line in chunk.replace(";", "\n").splitlines():
            match = _STATEMENT.match(" ".join(line.split()))
            if match:
                found.append(match.group(1))
    return list(dict.fromkeys(found))


STATEMENTS = _statements(README.read_text(encoding="utf-8"))


def test_the_readme_shows_the_basic_imports():
    # The collector itself must see the README's first snippet, or the test below checks nothing.
    assert "import minigrad as mg" in STATEMENTS
    assert "import minigrad.nn.functional as F" in STATEMENTS


@pytest.mark.parametrize("statement", STATEMENTS)
def test_readme_import_runs(statement):
    top = statement.split()[1].split(".")[0]
    if top != "minigrad" and importlib.util.find_spec(top) is None:
        pytest.skip(f"{top} is not installed")
    exec(statement, {})  # noqa: S102 - the README's own text
