"""Redis for the tests: the shared one at ``REDIS_URL``, a private redis-server process, probes.

A Redis that the tests only talk to comes from ``REDIS_URL`` (default
``redis://127.0.0.1:6379/0``). Tests that kill and restart Redis run their own
``redis-server`` on a free port in a temporary directory (:class:`RedisProcess`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from tests.harness.servers import free_port

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
START_HINT = "start one with: redis-server --port 6379 --save '' --daemonize yes"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def redis_url_or_skip() -> str:
    """``REDIS_URL`` if a Redis answers there; else skip (fail under ``CI=true``)."""
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        message = f"no Redis answers at REDIS_URL={url} ({error}); {START_HINT}"
        if in_ci():
            pytest.fail(f"CI=true requires a Redis server: {message}", pytrace=False)
        pytest.skip(message)
    finally:
        client.close()
    return url


def redis_server_binary_or_skip() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not on PATH (Debian/Ubuntu: apt-get install redis-server)"
        if in_ci():
            pytest.fail(f"CI=true requires redis-server: {message}", pytrace=False)
        pytest.skip(message)
    return binary


class RedisProcess:
    """A redis-server of our own that can be killed, frozen and restarted on its port.

    ``persistent``: an append-only file synced on every write, so that a restart after
    SIGKILL finds every acknowledged write; otherwise a restart starts empty.
    """

    def __init__(self, binary: str, directory: Path, *, persistent: bool = False) -> None:
        self.binary = binary
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = directory / "redis.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        assert not self.running, "already running"
        # SO_REUSEADDR (set by redis-server) lets a restart bind the port at once.
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--dir", str(self.directory),
            "--logfile", str(self._log),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self._log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients; the kernel closes their sockets."""
        process = self._require()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self._process = None

    def freeze(self) -> None:
        """SIGSTOP: sockets stay open and nothing answers, like a lost network path."""
        self._require().send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._require().send_signal(signal.SIGCONT)

    def ensure_running(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.thaw()
            return
        self._process = None
        self.start()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _require(self) -> subprocess.Popen[bytes]:
        assert self._process is not None and self._process.poll() is None, "not running"
        return self._process


async def numsub(url: str, channel: str) -> int:
    """How many connections the Redis server at ``url`` has subscribed to ``channel``."""
    client = redis.asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        rows: list[tuple[Any, int]] = await client.pubsub_numsub(channel)
        return int(rows[0][1])
    finally:
        await client.aclose()


def delete_keys(url: str, prefix: str) -> None:
    """Delete the keys (streams) a test made under its own ``prefix``."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        keys = list(client.scan_iter(match=prefix.replace("*", r"\*") + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
