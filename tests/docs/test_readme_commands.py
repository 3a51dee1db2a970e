"""The README's command lines and client program, run as printed against the example schema.

The only change made to what the README prints is the port: its examples use 8000, the
tests a free one (in the commands and in the output alike). Commands run in a shell, in
a fresh directory, with this interpreter's ``gqlwire`` first on ``PATH``; what they
print (stdout and stderr, as a terminal shows them) must be exactly the README's lines.
A ``gqlwire serve`` command keeps running: once it printed the README's lines it is
stopped with Ctrl-C (SIGINT), must exit with status 0, and must have printed nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.docs.commands import shell_environment
from tests.docs.readme import Command, console, example, write_module
from tests.harness.servers import ServerPool, ServerProcess, free_port, server_environment

README_PORT = "8000"
_RUN_TIMEOUT = 30.0
_POLL = 0.05


@pytest.fixture(scope="module")
def hello_server(server_pool: ServerPool) -> ServerProcess:
    """The Quick start's server: the example schema on aiohttp, the default server."""
    return server_pool.get("examples.hello:schema", "aiohttp")


def localized(text: str, port: int) -> str:
    """`text` with the README's port replaced by `port`."""
    return text.replace(f":{README_PORT}", f":{port}").replace(
        f"--port {README_PORT}", f"--port {port}"
    )


def commands(name: str) -> list[Command]:
    """The commands of a console example, which must use the README's port."""
    found = console(name)
    assert any(README_PORT in command.command for command in found), name
    return found


def run(command: Command, port: int, cwd: Path, *, serving: bool = False) -> tuple[int, list[str]]:
    """Run `command` (on `port`) in a shell; its exit status and every line it printed.

    A `serving` command runs until it printed as many lines as the README shows, and is
    then stopped with SIGINT; any other command must end by itself.
    """
    shell_command = localized(command.command, port)
    output = cwd / ".output"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", "-c", shell_command],
            cwd=cwd,
            env=shell_environment(),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if serving:
            deadline = time.monotonic() + _RUN_TIMEOUT
            while process.poll() is None and len(_lines(output)) < len(command.output):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{shell_command!r} printed only {_lines(output)!r}")
                time.sleep(_POLL)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        status = process.wait(_RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return status, _lines(output)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def expected_output(command: Command, port: int) -> list[str]:
    return [localized(line, port) for line in command.output]


def test_the_client_commands(hello_server: ServerProcess, tmp_path: Path) -> None:
    for command in commands("client-commands"):
        status, printed = run(command, hello_server.port, tmp_path)
        assert (status, printed) == (0, expected_output(command, hello_server.port)), command


def test_the_serve_commands(tmp_path: Path) -> None:
    """The Starlette example of the README is the ``myapp.py`` these commands serve."""
    write_module("starlette-app", tmp_path, "myapp")
    for command in commands("serve-commands"):
        port = free_port()
        fails = command.output[0].startswith("gqlwire: error:")
        status, printed = run(command, port, tmp_path, serving=not fails)
        assert (status, printed) == (2 if fails else 0, expected_output(command, port)), command


def test_the_client_program(hello_server: ServerProcess, tmp_path: Path) -> None:
    text = example("client")
    assert README_PORT in text
    program = tmp_path / "client.py"
    program.write_text(localized(text, hello_server.port), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(program)],
        capture_output=True,
        text=True,
        timeout=_RUN_TIMEOUT,
        env=server_environment(),
        stdin=subprocess.DEVNULL,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "{'hello': 'Hello, Ada!'}",
        "{'countdown': 2}",
        "{'countdown': 1}",
        "{'countdown': 0}",
    ]
