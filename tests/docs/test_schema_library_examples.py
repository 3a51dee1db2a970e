"""The README's Strawberry and Ariadne examples, run as printed (on one server per adapter).

Each ``gqlwire serve`` command of the README serves its example; the commands of
``schema-library-try`` (sign in over HTTP, which sets a cookie from a resolver; a query
that reads the cookie from ``info.context["request"]``; a subscription that reads
``connection_params``) must then print what the README shows, against each example.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.commands import require_curl, run_step, serve_command
from tests.docs.readme import console
from tests.harness.servers import REPO_ROOT, ServerProcess, assert_clean_log, start_server

# The example's output is gqlwire's, whatever carries it: one server per adapter
# (tests/conftest.py); test_schema_libraries.py checks each server's
# cookies and context.
pytestmark = pytest.mark.per_adapter

EXAMPLES = ("strawberry-serve", "ariadne-serve")


@pytest.fixture(scope="module")
def examples(server_name: str) -> Iterator[dict[str, ServerProcess]]:
    """Each example served as its README command prints, by example name."""
    started: dict[str, ServerProcess] = {}
    try:
        for name in EXAMPLES:
            [command] = console(name)
            serve = serve_command(command)
            started[name] = start_server(
                serve.target, server_name, args=serve.args, cwd=str(REPO_ROOT)
            )
        yield started
    finally:
        for proc in started.values():
            proc.stop()


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_commands_print_what_the_readme_shows(
    examples: dict[str, ServerProcess], example: str, tmp_path: Path
) -> None:
    require_curl()
    proc = examples[example]
    [command] = console(example)
    servers = {serve_command(command).port: proc}
    offset = proc.log_offset()
    for step in console("schema-library-try"):
        run_step(step, servers, tmp_path)
    assert_clean_log(proc, since=offset)
