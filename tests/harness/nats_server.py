"""NATS for the tests: the shared one at ``NATS_URL``, a private nats-server process, cleanup.

A NATS server that the tests only talk to comes from ``NATS_URL`` (default
``nats://127.0.0.1:4222``); it must have JetStream enabled. Tests that kill and restart
NATS run their own ``nats-server -js`` on a free port with a store directory of their own
(:class:`NatsProcess`): restarted on the same directory it keeps its streams, restarted on
a fresh one it has lost them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest

from tests.harness.redis_server import in_ci
from tests.harness.servers import free_port

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
START_HINT = 'start one with: nats-server -js -a 127.0.0.1 -p 4222 -sd "$(mktemp -d)" &'


def server_info(host: str, port: int, timeout: float = 2.0) -> dict[str, object]:
    """The INFO a NATS server greets a client with (raises OSError/ValueError otherwise)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        greeting = b""
        while not greeting.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            greeting += chunk
    if not greeting.startswith(b"INFO "):
        raise ValueError(f"not a NATS server greeting: {greeting[:60]!r}")
    info: dict[str, object] = json.loads(greeting[5:])
    return info


def nats_url_or_skip() -> str:
    """``NATS_URL`` if a NATS server with JetStream answers there; else skip (fail under
    ``CI=true``)."""
    url = os.environ.get("NATS_URL", DEFAULT_NATS_URL)
    parsed = urllib.parse.urlsplit(url)
    try:
        info = server_info(parsed.hostname or "127.0.0.1", parsed.port or 4222)
        if not info.get("jetstream"):
            raise ValueError("the server runs without JetStream (start it with -js)")
    except (OSError, ValueError) as error:
        message = f"no NATS with JetStream answers at NATS_URL={url} ({error}); {START_HINT}"
        if in_ci():
            pytest.fail(f"CI=true requires a NATS server with JetStream: {message}", pytrace=False)
        pytest.skip(message)
    return url


def nats_server_binary_or_skip() -> str:
    # Debian's package installs it in /usr/sbin, which not every user has on PATH.
    binary = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")
    if binary is None:
        message = "nats-server is not on PATH (Debian/Ubuntu: apt-get install nats-server)"
        if in_ci():
            pytest.fail(f"CI=true requires nats-server: {message}", pytrace=False)
        pytest.skip(message)
    return binary


async def delete_stream(url: str, stream: str) -> None:
    """Delete ``stream`` if it exists (a test's cleanup)."""
    client = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        await client.jetstream(timeout=5).delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await client.close()


class NatsProcess:
    """A nats-server of our own, with JetStream, that can be killed and restarted."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._stores = 0
        self.store = self._new_store()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = directory / "nats.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, fresh_store: bool = False) -> None:
        """Start on the same port; ``fresh_store``: on an empty store (every stream lost)."""
        assert not self.running, "already running"
        if fresh_store:
            self.store = self._new_store()
        command = [
            self.binary,
            "-js",
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-sd", str(self.store),
            "-l", str(self._log),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self._log.read_text()[-2000:]}")
            try:
                if server_info("127.0.0.1", self.port, timeout=1).get("jetstream"):
                    return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not answer on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients; the kernel closes their sockets."""
        process = self._process
        assert process is not None and process.poll() is None, "not running"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self._process = None

    def ensure_running(self) -> None:
        if not self.running:
            self._process = None
            self.start()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _new_store(self) -> Path:
        self._stores += 1
        store = self.directory / f"store-{self._stores}"
        store.mkdir()
        return store
