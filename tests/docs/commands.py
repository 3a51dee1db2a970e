"""The README's ``console`` examples, run as printed against a test's own servers.

A printed command differs from what runs in one way only: the servers a test starts
listen on free ports, so ``127.0.0.1:8000`` (or whichever port the README printed) in
a command becomes the address of the server started for that port. ``gqlwire`` and
``curl`` are found on ``PATH``, with this interpreter's scripts (``gqlwire``) first.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.readme import Command
from tests.harness.servers import ServerProcess, server_environment

PRINTED_HOST = "127.0.0.1"
DEFAULT_PORT = "8000"  # gqlwire serve's
COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True)
class ServeCommand:
    """A printed ``gqlwire serve TARGET [options]``."""

    target: str
    args: list[str]
    """The options, without ``--port`` (the test chooses the port)."""
    port: str
    """The port the README printed (``8000`` when it printed none)."""


def serve_command(command: Command) -> ServeCommand:
    words = shlex.split(command.command)
    assert words[:2] == ["gqlwire", "serve"] and len(words) > 2, command.command
    args, port = words[3:], DEFAULT_PORT
    if "--port" in args:
        at = args.index("--port")
        port = args[at + 1]
        del args[at : at + 2]
    return ServeCommand(words[2], args, port)


def localized(command: str, servers: Mapping[str, ServerProcess]) -> str:
    """``command`` with each printed port's address replaced by its server's."""
    for port, proc in servers.items():
        command = command.replace(f"{PRINTED_HOST}:{port}", f"{proc.host}:{proc.port}")
    return command


def shell_environment() -> dict[str, str]:
    """A server's environment (the repository importable, unbuffered output), with this
    interpreter's scripts (``gqlwire``) first on PATH, as in an activated virtualenv."""
    environment = server_environment()
    scripts = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([scripts, environment.get("PATH", "")])
    return environment


def require_curl() -> None:
    if shutil.which("curl") is None:
        message = "curl is not on PATH (Debian/Ubuntu: apt-get install curl)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true requires curl: {message}", pytrace=False)
        pytest.skip(message)


def run_step(step: Command, servers: Mapping[str, ServerProcess], cwd: Path) -> None:
    """Run one printed command; it must succeed and print exactly what the README shows."""
    command = localized(step.command, servers)
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=shell_environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert (result.returncode, result.stdout.splitlines()) == (0, step.output), (
        f"$ {command}\nstderr: {result.stderr}"
    )
