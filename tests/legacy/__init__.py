"""The legacy ``graphql-ws`` subprotocol, black-box over real servers.

Also home of the helpers that observe the instrumented test apps
(:mod:`tests.apps.legacy_app`, :mod:`tests.apps.seed_app`) from the test process: what
their hooks recorded, their connection counts, and a per-test check of the server log.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from typing import Any

from tests.harness.servers import ServerProcess
from tests.harness.wsclient import WSClient, http_get

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


def daphne_can_send(code: int) -> bool:
    """daphne's autobahn refuses to send any close code but 1000 and 3000-4999."""
    return code == 1000 or 3000 <= code <= 4999


def assert_close(
    client: WSClient, closed: tuple[int, str], code: int, reason: str | None, server_name: str
) -> None:
    """The close code, and the reason where the server transmits reasons.

    daphne drops every reason, and cannot send 1001, 1009 or 1011 at all: there the
    socket must still be closed, with 1000 in place of a code it refuses.
    """
    expected = code
    if server_name == "daphne" and not daphne_can_send(code):
        expected = 1000
    assert closed[0] == expected, f"closed with {closed}, expected {expected}"
    if reason is not None and server_name != "daphne":
        assert closed[1] == reason, f"closed with {closed}, expected reason {reason!r}"


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
