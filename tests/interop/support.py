"""The interop app (:mod:`tests.apps.interop_app`) on one server name, as the interop
tests see it: the Node clients it runs against it, what its hooks recorded, its log."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.apps.interop_app import FAIL_MESSAGE, boom_message, flaky_message
from tests.harness.node import LiveNodeRun, NodeRun, live_node, run_node
from tests.harness.servers import ServerProcess, assert_clean_log

INTEROP_APP = "tests.apps.interop_app:app"

WAIT = float(os.environ.get("GQLWIRE_TEST_WAIT", "5.0"))
"""How long to wait for something the server must do (a hook, a source's cleanup)."""
_POLL = 0.05


@dataclass
class InteropServer:
    """The interop app on one server name."""

    proc: ServerProcess
    log_since: int
    allowed_log: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.proc.server

    def url(self, path: str = "/graphql") -> str:
        return self.proc.ws_url(path)

    def http_url(self, path: str = "/graphql") -> str:
        return self.proc.http_url(path)

    def node(
        self, script: str, scenario: str, token: str, path: str = "/graphql", **config: Any
    ) -> NodeRun:
        return run_node(script, scenario, {"url": self.url(path), "token": token, **config})

    def live_node(
        self, script: str, scenario: str, token: str, path: str = "/graphql", **config: Any
    ) -> contextlib.AbstractAsyncContextManager[LiveNodeRun]:
        return live_node(script, scenario, {"url": self.url(path), "token": token, **config})

    def events(self, token: str) -> list[tuple[str, dict[str, Any]]]:
        response = httpx.get(self.proc.http_url("/_events", f"token={token}"), timeout=WAIT)
        response.raise_for_status()
        return [(name, details) for name, details in response.json()]

    async def events_async(self, token: str) -> list[tuple[str, dict[str, Any]]]:
        async with httpx.AsyncClient(timeout=WAIT) as http:
            response = await http.get(self.proc.http_url("/_events", f"token={token}"))
        response.raise_for_status()
        return [(name, details) for name, details in response.json()]

    async def wait_for(self, token: str, name: str) -> list[tuple[str, dict[str, Any]]]:
        """Poll until an event ``name`` is recorded under ``token``; every event so far."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            events = await self.events_async(token)
            if any(event == name for event, _ in events):
                return events
            if loop.time() > deadline:
                raise AssertionError(f"no {name!r} event within {WAIT} s: {events}")
            await asyncio.sleep(_POLL)

    def wait_for_sync(self, token: str, name: str) -> list[tuple[str, dict[str, Any]]]:
        return asyncio.run(self.wait_for(token, name))

    async def stats(self, route: str = "/graphql") -> dict[str, int]:
        """``stats()`` of the server at ``route``."""
        async with httpx.AsyncClient(timeout=WAIT) as http:
            response = await http.get(self.proc.http_url("/_stats", f"route={route}"))
        response.raise_for_status()
        stats: dict[str, int] = response.json()
        return stats

    async def wait_for_idle(self, route: str = "/graphql") -> dict[str, int]:
        """Poll until the server at ``route`` runs no operation and holds no connection
        (other tests' clients are gone too: the module's tests run one at a time)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            stats = await self.stats(route)
            if stats["operations"] == 0 and stats["connections"] == 0:
                return stats
            if loop.time() > deadline:
                raise AssertionError(f"the server is not idle within {WAIT} s: {stats}")
            await asyncio.sleep(_POLL)

    def expect_errors_scenario_log(self) -> None:
        """Allow what the server logs for the "errors" scenario's resolver and source
        exceptions (a line and a traceback each), and nothing else."""
        self.allowed_log.extend(
            rf"{kind}: {re.escape(message)}$"
            for kind, message in (
                ("ValueError", FAIL_MESSAGE),
                ("ValueError", flaky_message(2)),
                ("RuntimeError", boom_message(2)),
            )
        )

    def check_log(self) -> None:
        assert_clean_log(self.proc, since=self.log_since, allow=self.allowed_log)
