"""The control endpoints of the instrumented test apps, read from the test process.

:mod:`tests.apps.legacy_app` (and :mod:`tests.apps.adapter_app`, built on its routes)
records what its hooks and sources saw under a *token* of the test's choosing, counts its
connections and operations, and publishes pongs on demand, over plain HTTP on the
server's port: ``GET /_events?token=``, ``GET /_stats?route=`` and ``POST /_pong?key=``.
:mod:`tests.apps.client_app` records its events the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from tests.harness.servers import ServerProcess
from tests.harness.wsclient import http_get

_POLL_INTERVAL = 0.05


def new_token() -> str:
    """A key no other test uses, for the events the server records."""
    return uuid.uuid4().hex


async def fetch_events(server: ServerProcess, token: str) -> list[dict[str, Any]]:
    response = await http_get(server.http_url("/_events", f"token={token}"))
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()
    return events


def event_names(events: list[dict[str, Any]]) -> list[str]:
    return [event["event"] for event in events]


async def wait_for_events(
    server: ServerProcess, token: str, *names: str, within: float = 5.0
) -> list[dict[str, Any]]:
    """Poll the recorded events until each of ``names`` appears; return them all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        events = await fetch_events(server, token)
        if not Counter(names) - Counter(event_names(events)):
            return events
        if loop.time() > deadline:
            raise AssertionError(f"expected {names} within {within} s, recorded {events}")
        await asyncio.sleep(_POLL_INTERVAL)


async def fetch_stats(server: ServerProcess, route: str) -> dict[str, int]:
    response = await http_get(server.http_url("/_stats", f"route={route}"))
    response.raise_for_status()
    stats: dict[str, int] = response.json()
    return stats


async def wait_until_idle(server: ServerProcess, route: str, within: float = 10.0) -> None:
    """Poll ``server.stats()`` of ``route`` until no connection and no operation is left."""
    idle = {"connections": 0, "operations": 0}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (stats := await fetch_stats(server, route)) != idle:
        if loop.time() > deadline:
            raise AssertionError(f"{route} still has {stats} after {within} s")
        await asyncio.sleep(_POLL_INTERVAL)


async def post_pong(server: ServerProcess, key: str) -> None:
    """Publish one pong to the ``ping(key)`` subscription inside the server process."""
    import httpx

    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.post(server.http_url("/_pong", f"key={key}"))
    response.raise_for_status()
