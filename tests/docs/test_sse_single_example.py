"""The README's example of GraphQL over SSE in single connection mode, run as printed on
one server per adapter: ``gqlwire serve examples.sse_single:server`` (``sse-single-serve``), and
the npm graphql-sse client of ``sse-single-client`` in Node, whose output must be the
lines of ``sse-single-output``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.commands import serve_command
from tests.docs.readme import console, example
from tests.harness.servers import REPO_ROOT, ServerProcess, assert_clean_log, start_server

# The example's output is gqlwire's, whatever carries it: one server per adapter
# (tests/conftest.py); test_sse_single.py checks each server's
# single connection streams.
pytestmark = pytest.mark.per_adapter

PRINTED_URL = "http://127.0.0.1:8000/graphql"


@pytest.fixture(scope="module")
def served(server_name: str) -> Iterator[ServerProcess]:
    [command] = console("sse-single-serve")
    serve = serve_command(command)
    proc = start_server(serve.target, server_name, args=serve.args, cwd=str(REPO_ROOT))
    try:
        yield proc
    finally:
        proc.stop()


def test_the_client_prints_what_the_readme_shows(served: ServerProcess, tmp_path: Path) -> None:
    program = example("sse-single-client")
    assert PRINTED_URL in program
    script = tmp_path / "client.mjs"
    script.write_text(program.replace(PRINTED_URL, served.http_url("/graphql")), encoding="utf-8")
    # Node resolves `graphql-sse` from the script's directory upwards.
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: this example needs Node 20 and `npm ci`")
    offset = served.log_offset()
    completed = subprocess.run(
        [node, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == example("sse-single-output").splitlines()
    assert_clean_log(served, since=offset)
