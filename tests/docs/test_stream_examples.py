"""The README's Server-Sent Events and multipart HTTP examples, run as printed against
the Quick start's server, on one server per adapter: the ``curl -N`` commands must print
exactly the README's lines, and the ``HTTPClient`` program what the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.commands import localized, require_curl, run_step
from tests.docs.readme import console, example
from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log, server_environment

# The examples' output is gqlwire's, whatever carries it: one server per adapter
# (tests/conftest.py); test_http_streams.py checks each server's streams.
pytestmark = [pytest.mark.timeout(60), pytest.mark.per_adapter]


@pytest.fixture(scope="module")
def hello_server(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get("examples.hello:schema", server_name)


@pytest.mark.parametrize("name", ["sse-curl", "multipart-curl"])
def test_the_curl_commands(hello_server: ServerProcess, name: str, tmp_path: Path) -> None:
    require_curl()
    since = hello_server.log_offset()
    for step in console(name):
        assert "-N" in step.command
        run_step(step, {"8000": hello_server}, tmp_path)
    assert_clean_log(hello_server, since=since)


def test_the_sse_client_program(hello_server: ServerProcess, tmp_path: Path) -> None:
    program = tmp_path / "sse_client.py"
    program.write_text(localized(example("sse-client"), {"8000": hello_server}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(program)],
        capture_output=True,
        text=True,
        timeout=30,
        env=server_environment(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["{'countdown': 1}", "{'countdown': 0}"]
