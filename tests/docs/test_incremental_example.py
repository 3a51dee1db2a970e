"""The README's incremental delivery example, run as printed (on one server per adapter).

``gqlwire serve examples.incremental:schema`` serves the example; the commands of
``incremental-try`` (a deferred query over WebSocket with the CLI, one line per result,
and over plain HTTP with curl, one whole result) must print what the README shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gqlwire.response_stream import GRAPHQL_CORE_3_3
from tests.docs.commands import require_curl, run_step, serve_command
from tests.docs.readme import console
from tests.harness.servers import REPO_ROOT, ServerProcess, assert_clean_log, start_server

# The example's output is gqlwire's, whatever carries it: one server per adapter
# (tests/conftest.py); server/test_incremental_delivery.py checks each server.
pytestmark = [
    pytest.mark.skipif(not GRAPHQL_CORE_3_3, reason="incremental delivery needs graphql-core 3.3"),
    pytest.mark.per_adapter,
]


@pytest.fixture(scope="module")
def example(server_name: str) -> Iterator[ServerProcess]:
    [command] = console("incremental-serve")
    serve = serve_command(command)
    proc = start_server(serve.target, server_name, args=serve.args, cwd=str(REPO_ROOT))
    try:
        yield proc
    finally:
        proc.stop()


def test_the_commands_print_what_the_readme_shows(example: ServerProcess, tmp_path: Path) -> None:
    require_curl()
    [command] = console("incremental-serve")
    servers = {serve_command(command).port: example}
    offset = example.log_offset()
    for step in console("incremental-try"):
        run_step(step, servers, tmp_path)
    assert_clean_log(example, since=offset)
