"""Real server processes for the tests: ``python -m gqlwire serve`` on a free loopback port.

    proc = start_server("tests.apps.cli_schema:schema", "hypercorn", args=["--keepalive", "none"])
    url = proc.ws_url()          # ws://127.0.0.1:<port>/graphql
    ...
    assert proc.stop() == 0
    assert_clean_log(proc)

A test app module (``tests/apps``) exposes its ASGI app as ``app`` and the same routes as
an aiohttp Application as ``aiohttp_app`` (:mod:`tests.harness.routes`): on the aiohttp
server, a target naming ``app`` is served as ``aiohttp_app`` (see `served_target`).

Each process writes stdout and stderr to one temporary log file, kept after the process
ends so a failing test can show it. The server runs in its own session (process group),
so a forced stop also ends granian's worker.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The directory holding ``tests/``; on the servers' PYTHONPATH so ``tests.apps.x:y`` imports."""

_START_ATTEMPTS = 3  # a free port can be taken by someone else before the server binds it
_POLL_INTERVAL = 0.05
_ADDRESS_IN_USE = "address already in use"
_LISTENING_LINE = "\ngqlwire: serving "

# A log line at ERROR or CRITICAL level, in the formats of gqlwire ("ERROR:gqlwire: ..."),
# uvicorn ("ERROR:    ..."), hypercorn ("[...] [ERROR] ..."), granian ("[ERROR] ...") and
# daphne as the runner configures it ("ERROR:daphne.server: ...").
_ERROR_LINE = re.compile(r"(?:^|[\s\]])\[?(?:ERROR|CRITICAL)(?:\]|:)")


class ServerStartError(RuntimeError):
    """The server exited or did not listen in time; the message includes its log."""


@dataclass
class ServerProcess:
    """One ``gqlwire serve`` process."""

    target: str
    server: str
    port: int
    args: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log_path: Path
    _returncode: int | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def ws_url(self, path: str = "/graphql", query: str = "") -> str:
        return f"ws://{self.host}:{self.port}{path}" + (f"?{query}" if query else "")

    def http_url(self, path: str = "/graphql", query: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}" + (f"?{query}" if query else "")

    def running(self) -> bool:
        return self.process.poll() is None

    def log_offset(self) -> int:
        """The log's current length: pass it to `log(since=...)` to read only what follows."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log(self, since: int = 0) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tracebacks(self, since: int = 0) -> list[str]:
        """Every ``Traceback (most recent call last):`` block in the log, with its final line."""
        return find_tracebacks(self.log(since))

    def error_lines(self, since: int = 0) -> list[str]:
        """Log lines at ERROR or CRITICAL level, from gqlwire or the server."""
        return [line for line in self.log(since).splitlines() if _ERROR_LINE.search(line)]

    def send_signal(self, signum: int) -> None:
        if self.running():
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; its exit status (negative: killed by that signal)."""
        return self.process.wait(timeout)

    def stop(self, timeout: float = 10, signum: int = signal.SIGTERM) -> int:
        """Stop gracefully with `signum`, or kill the whole process group after `timeout`.

        Returns the exit status (negative: the signal that killed it). Idempotent.
        """
        if self._returncode is not None:
            return self._returncode
        if self.running():
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
        self._returncode = self.process.wait()
        self._kill_group()  # a worker left behind by a main process that exited
        return self._returncode

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def __repr__(self) -> str:
        return f"<ServerProcess {self.server} {self.target} port={self.port} pid={self.pid}>"


def find_tracebacks(text: str) -> list[str]:
    """The traceback blocks in `text`: the header, the indented frames, the exception line."""
    blocks: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].lstrip().startswith("Traceback (most recent call last):"):
            block = [lines[index]]
            index += 1
            while index < len(lines) and (lines[index].startswith((" ", "\t")) or not lines[index]):
                block.append(lines[index])
                index += 1
            if index < len(lines):
                block.append(lines[index])  # "SomeError: message"
            blocks.append("\n".join(block))
        index += 1
    return blocks


def assert_clean_log(
    proc: ServerProcess, *, since: int = 0, allow: Sequence[str | re.Pattern[str]] = ()
) -> None:
    """Fail if the log (from offset `since`) has a traceback or an ERROR/CRITICAL line.

    `allow` lists regular expressions for the error lines a test expects, and for the
    tracebacks it expects: those whose last line (the exception) one of them matches.
    """
    patterns = [re.compile(p) if isinstance(p, str) else p for p in allow]

    def expected(line: str) -> bool:
        return any(p.search(line) for p in patterns)

    errors = [line for line in proc.error_lines(since) if not expected(line)]
    tracebacks = [block for block in proc.tracebacks(since) if not expected(block.splitlines()[-1])]
    if errors or tracebacks:
        raise AssertionError(
            f"{proc!r} logged errors:\n"
            + "\n".join(errors + tracebacks)
            + f"\n--- full log ({proc.log_path}) ---\n{proc.log(since)}"
        )


class LogWatch:
    """Checks the part of a shared server's log written during one test."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.offset = server.log_offset()
        self._allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """Error lines and tracebacks matching ``pattern`` are expected by this test."""
        self._allowed.append(re.compile(pattern))

    def problems(self) -> list[str]:
        errors = self.server.error_lines(self.offset) + self.server.tracebacks(self.offset)
        return [text for text in errors if not any(p.search(text) for p in self._allowed)]

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, (
            f"{self.server!r} logged during the test:\n"
            + "\n".join(problems)
            + f"\n--- log ---\n{self.server.log(self.offset)}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: ours, the repo root on PYTHONPATH, unbuffered
    output (so the log is complete while the server runs), then `env`."""
    merged = dict(os.environ)
    paths = [str(REPO_ROOT), *filter(None, merged.get("PYTHONPATH", "").split(os.pathsep))]
    merged["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    merged["PYTHONUNBUFFERED"] = "1"
    merged.update(env or {})
    return merged


def served_target(target: str, server: str) -> str:
    """The import string `server` serves for `target`: ``module:app`` is
    ``module:aiohttp_app`` on aiohttp (which runs no ASGI apps); anything else as it is."""
    module, _, attr = target.partition(":")
    if server == "aiohttp" and attr == "app":
        return f"{module}:aiohttp_app"
    return target


def start_server(
    target: str,
    server: str,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 20,
) -> ServerProcess:
    """Start ``python -m gqlwire serve target --server server *args`` on a free port (with
    `target` as `served_target` gives it) and return once it printed its listening line
    and the port accepts TCP connections. Raises `ServerStartError` (with the log) if the
    process exits first or `timeout` passes."""
    for attempt in range(_START_ATTEMPTS):
        proc = _launch(target, server, tuple(args), env, cwd)
        try:
            _wait_until_listening(proc, timeout)
        except ServerStartError:
            proc.stop(timeout=2)
            if _ADDRESS_IN_USE in proc.log() and attempt + 1 < _START_ATTEMPTS:
                continue
            raise
        return proc
    raise AssertionError("unreachable")  # the loop returns or raises


def _launch(
    target: str,
    server: str,
    args: tuple[str, ...],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> ServerProcess:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gqlwire",
        "serve",
        served_target(target, server),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--server",
        server,
        *args,
    ]
    descriptor, log_name = tempfile.mkstemp(prefix=f"gqlwire-{server}-", suffix=".log")
    with os.fdopen(descriptor, "wb") as log:
        log.write(("$ " + " ".join(command[1:]) + "\n").encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_environment(env),
            cwd=cwd,
            start_new_session=True,
        )
    return ServerProcess(target, server, port, args, process, Path(log_name))


def _wait_until_listening(proc: ServerProcess, timeout: float) -> None:
    """Until the port accepts TCP connections and the CLI printed its listening line (the
    port may accept earlier: the CLI binds it before the server starts serving)."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.running():
            raise ServerStartError(
                f"{proc!r} exited with status {proc.process.returncode} before listening:\n"
                + proc.log()
            )
        if _LISTENING_LINE in proc.log():
            try:
                with socket.create_connection((proc.host, proc.port), timeout=0.5):
                    return
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise ServerStartError(f"{proc!r} did not listen within {timeout} s:\n" + proc.log())
        time.sleep(_POLL_INTERVAL)


class ServerPool:
    """Server processes shared by the tests of a session, one per (target, server, args, env).

    At most `capacity` run at once; the least recently used one is stopped to make room
    (a test never needs that many at the same time).
    """

    def __init__(self, capacity: int = 6) -> None:
        self.capacity = capacity
        self._running: dict[tuple[object, ...], ServerProcess] = {}
        self.stopped: list[ServerProcess] = []

    def get(
        self,
        target: str,
        server: str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> ServerProcess:
        key = (target, server, tuple(args), tuple(sorted((env or {}).items())))
        proc = self._running.pop(key, None)
        if proc is not None and not proc.running():
            self._retire(proc)  # it died: start a new one
            proc = None
        if proc is None:
            while len(self._running) >= self.capacity:
                oldest = next(iter(self._running))
                self._retire(self._running.pop(oldest))
            proc = start_server(target, server, args=args, env=env)
        self._running[key] = proc  # most recently used last
        return proc

    def _retire(self, proc: ServerProcess) -> None:
        proc.stop()
        self.stopped.append(proc)

    def close(self) -> None:
        while self._running:
            _, proc = self._running.popitem()
            self._retire(proc)
