"""The README's examples, read from the README itself, so that a test runs what a user copies.

An example is the fenced code block that follows a marker line::

    <!-- example: starlette-app -->
    ```python
    ...
    ```

``example(name)`` returns the block's text; ``console(name)`` splits a ``console``
block into the commands (lines starting with ``$ ``, with ``\\`` continuations joined)
and the output printed after each. A marker that is missing, or that is not followed
by a code block, fails the test that asks for it, so an example cannot silently drop
out of the suite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

_MARKER = re.compile(r"^<!-- example: (?P<name>[\w.-]+) -->\s*$")
_FENCE = re.compile(r"^(?P<fence>```+)(?P<lang>\w*)\s*$")


@dataclass(frozen=True)
class Example:
    name: str
    language: str
    text: str


@cache
def examples() -> dict[str, Example]:
    """Every marked example of the README, by name."""
    lines = README.read_text(encoding="utf-8").splitlines()
    found: dict[str, Example] = {}
    index = 0
    while index < len(lines):
        marker = _MARKER.match(lines[index])
        index += 1
        if marker is None:
            continue
        name = marker["name"]
        if name in found:
            raise AssertionError(f"README.md marks two examples {name!r}")
        opening = _FENCE.match(lines[index]) if index < len(lines) else None
        if opening is None:
            raise AssertionError(f"README.md: example {name!r} is not followed by a code block")
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].rstrip() != opening["fence"]:
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise AssertionError(f"README.md: example {name!r} has no closing fence")
        index += 1
        found[name] = Example(name, opening["lang"], "\n".join(body) + "\n")
    return found


def example(name: str) -> str:
    """The text of the README example called ``name``."""
    try:
        return examples()[name].text
    except KeyError:
        raise AssertionError(f"README.md has no example marked {name!r}") from None


def write_module(name: str, directory: Path, module: str | None = None) -> Path:
    """Write the example ``name`` as ``directory/<module>.py`` (default: the name with
    dashes as underscores), ready to be imported or served by ``gqlwire serve``."""
    path = directory / f"{module or name.replace('-', '_')}.py"
    path.write_text(example(name), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Command:
    command: str
    """The command as a shell would run it (continuation lines joined)."""
    output: list[str]
    """The lines printed after it in the README, before the next command."""


def console(name: str) -> list[Command]:
    """The commands of a ``console`` example and the output the README shows for each."""
    commands: list[Command] = []
    pending: list[str] = []
    output: list[str] = []
    continuing = False
    for line in example(name).splitlines():
        if continuing:
            pending.append(line.strip())
            continuing = line.endswith("\\")
            continue
        if line.startswith("$ "):
            if pending:
                commands.append(Command(_joined(pending), output))
            pending, output = [line[2:]], []
            continuing = line.endswith("\\")
        elif pending:
            output.append(line)
    if pending:
        commands.append(Command(_joined(pending), output))
    if not commands:
        raise AssertionError(f"README.md: example {name!r} has no '$ ' command")
    return commands


def _joined(lines: list[str]) -> str:
    return " ".join(part.removesuffix("\\").strip() for part in lines)
