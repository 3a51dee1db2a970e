"""Reconnection across a server restart on the same port, with resubscription.

The server process is stopped either gracefully (SIGTERM: it closes every socket with
1001 "Going away") or by SIGKILL (the TCP connections just drop: 1006), then started
again on the same port. Meanwhile the client's reconnection attempts are refused, which
counts as a failed attempt (not a fatal error) once the client is reconnecting. The
subscription that was active is subscribed again on the new process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gqlwire.client import Client
from tests.harness.control import new_token, wait_for_events
from tests.harness.protocols import PROTOCOLS
from tests.harness.servers import ServerProcess, free_port, served_target, server_environment

from .support import APP_SERVERS, CLIENT_APP, WAIT, publish_until_delivered

_LISTENING = "gqlwire: serving "

pytestmark = pytest.mark.timeout(60)


def launch(server: str, port: int) -> ServerProcess:
    """``gqlwire serve`` of the client app on `port` (the harness picks free ports)."""
    target = served_target(CLIENT_APP, server)
    command = [sys.executable, "-m", "gqlwire", "serve", target, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--server", server]
    descriptor, log_name = tempfile.mkstemp(prefix=f"gqlwire-restart-{server}-", suffix=".log")
    with os.fdopen(descriptor, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_environment(),
            start_new_session=True,
        )
    proc = ServerProcess(target, server, port, (), process, Path(log_name))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not proc.running():
            break
        if _LISTENING in proc.log():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return proc
        time.sleep(0.05)
    proc.stop(timeout=2)
    raise AssertionError(f"{proc!r} did not listen:\n{proc.log()}")


@pytest.fixture(params=APP_SERVERS)
def restartable(request: pytest.FixtureRequest) -> Iterator[list[ServerProcess]]:
    """The running process is the list's last item; the fixture stops them all."""
    processes = [launch(request.param, free_port())]
    try:
        yield processes
    finally:
        for proc in processes:
            proc.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"]
)
async def test_a_subscription_survives_a_server_restart(
    restartable: list[ServerProcess], protocol: str, stop_signal: signal.Signals
) -> None:
    first = restartable[-1]
    token = new_token()
    url = first.ws_url(query=f"token={token}")
    client = Client(url, protocol=protocol, retry_attempts=200, retry_wait=lambda _: 0.05)
    async with client, contextlib.aclosing(client.subscribe("subscription { channel }")) as results:
        next_result = asyncio.ensure_future(anext(results))
        await publish_until_delivered(first, token, "before")
        async with asyncio.timeout(WAIT):
            assert await next_result == {"data": {"channel": "before"}}

        await asyncio.to_thread(first.stop, 10, stop_signal)
        second = await asyncio.to_thread(launch, first.server, first.port)
        restartable.append(second)

        next_result = asyncio.ensure_future(anext(results))
        await publish_until_delivered(second, token, "after")
        async with asyncio.timeout(WAIT):
            assert await next_result == {"data": {"channel": "after"}}
        events = await wait_for_events(second, token, "connect", "subscribe")
        (subscribe,) = [e for e in events if e["event"] == "subscribe"]
        assert subscribe["id"] == "1"  # the same operation, subscribed again
    if stop_signal == signal.SIGTERM:
        assert first.wait(0) == 0
