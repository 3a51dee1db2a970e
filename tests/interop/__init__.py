"""Interop: gqlwire on every server name, driven by clients this project did not write
(the graphql-ws and subscriptions-transport-ws npm clients, the gql Python client).

The helpers of the tests live here: :class:`InteropServer` (the interop app,
:mod:`tests.apps.interop_app`, on one server name: what its hooks recorded, its log) and
the runners of the Node clients of ``tests/interop/node`` (:func:`run_node`, and
:func:`live_node` for a client the test lets go on step by step). The Node clients need
Node 20 and ``npm ci`` at the repository root (``node_modules``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps.interop_app import FAIL_MESSAGE, boom_message, flaky_message
from tests.harness.servers import REPO_ROOT, ServerProcess, assert_clean_log
from tests.legacy import daphne_can_send

INTEROP_APP = "tests.apps.interop_app:app"
NODE_DIR = Path(__file__).resolve().parent / "node"
GRAPHQL_WS_CLIENT = "graphql_ws_client.mjs"
LEGACY_CLIENT = "legacy_client.mjs"

WAIT = float(os.environ.get("GQLWIRE_TEST_WAIT", "5.0"))
"""How long to wait for something the server must do (a hook, a source's cleanup)."""
NODE_TIMEOUT = 20.0
"""The limit of one Node client run; the scripts stop themselves earlier (``timeoutMs``)."""
_SCRIPT_TIMEOUT_MS = 15_000
_POLL = 0.05

REASONLESS_CLOSE = frozenset({"daphne"})
"""Servers whose clients never see the reason of a close the app sends."""


def expected_close(server_name: str, code: int, reason: str) -> dict[str, Any]:
    """The close a client sees when gqlwire closes with (code, reason) on ``server_name``:
    daphne drops every reason and sends 1000 for codes it refuses to send."""
    if server_name == "daphne" and not daphne_can_send(code):
        code = 1000
    return {"code": code, "reason": "" if server_name in REASONLESS_CLOSE else reason}


# -- Node client runs -----------------------------------------------------------------------


@dataclass
class NodeRun:
    """The JSON lines one Node client printed, in order."""

    events: list[dict[str, Any]]
    returncode: int | None = None
    stderr: str = ""

    def __str__(self) -> str:
        lines = "\n".join(json.dumps(event) for event in self.events)
        return f"exit {self.returncode}\n{lines}\n--- stderr ---\n{self.stderr}"

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]

    def first(self, name: str) -> dict[str, Any]:
        found = self.named(name)
        assert found, f"no {name!r} event:\n{self}"
        return found[0]

    def of(self, op: str) -> list[tuple[str, Any]]:
        """What operation ``op`` saw, in order: ("next", result), ("error", errors or error
        object or close), ("complete", None)."""
        trace: list[tuple[str, Any]] = []
        for event in self.events:
            if event.get("op") != op:
                continue
            kind = event["event"]
            if kind == "next":
                trace.append(("next", event["result"]))
            elif kind == "error":
                detail = {k: v for k, v in event.items() if k not in ("event", "op")}
                trace.append(("error", next(iter(detail.values())) if len(detail) == 1 else detail))
            else:
                trace.append((kind, None))
        return trace

    def ran_together(self, *ops: str) -> bool:
        """Every one of ``ops`` had a result before any of them completed."""
        started: set[str] = set()
        for event in self.events:
            if event.get("op") not in ops:
                continue
            if event["event"] == "next":
                started.add(event["op"])
            elif event["event"] == "complete":
                return started == set(ops)
        return False

    def assert_succeeded(self) -> None:
        assert self.returncode == 0 and self.events[-1:] == [{"event": "done"}], str(self)


def node_command(script: str, scenario: str, config: dict[str, Any]) -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the interop tests need Node 20 and `npm ci`")
    if not (REPO_ROOT / "node_modules" / "graphql-ws").is_dir():
        pytest.fail("node_modules is missing: run `npm ci` at the repository root")
    full = {"timeoutMs": _SCRIPT_TIMEOUT_MS, **config}
    return [node, str(NODE_DIR / script), scenario, json.dumps(full)]


def _parse_lines(stdout: str) -> list[dict[str, Any]]:
    events = []
    for line in stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "unparsed", "line": line})
    return events


def run_node(script: str, scenario: str, config: dict[str, Any]) -> NodeRun:
    """Run a Node client to its end; stdin is closed at once (no waiting for go-aheads)."""
    completed = subprocess.run(
        node_command(script, scenario, config),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    return NodeRun(_parse_lines(completed.stdout), completed.returncode, completed.stderr)


class LiveNodeRun:
    """A Node client still running: read its events as they come, then let it go on
    (``go_ahead``: closes its stdin) and wait for its end."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.run = NodeRun([])

    async def until(self, name: str) -> dict[str, Any]:
        """Read events until one named ``name``; fail if the client ends first."""
        assert self.process.stdout is not None
        async with asyncio.timeout(NODE_TIMEOUT):
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    await self.finish()
                    raise AssertionError(f"the client ended before {name!r}:\n{self.run}")
                event = _parse_lines(line.decode())[0]
                self.run.events.append(event)
                if event["event"] == name:
                    return event

    async def finish(self) -> NodeRun:
        """Let the client go on and wait until it exits; its whole run."""
        assert self.process.stdout is not None and self.process.stderr is not None
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        async with asyncio.timeout(NODE_TIMEOUT):
            rest, errors = await asyncio.gather(
                self.process.stdout.read(), self.process.stderr.read()
            )
            self.run.returncode = await self.process.wait()
        self.run.events.extend(_parse_lines(rest.decode()))
        self.run.stderr = errors.decode()
        return self.run


@contextlib.asynccontextmanager
async def live_node(
    script: str, scenario: str, config: dict[str, Any]
) -> AsyncIterator[LiveNodeRun]:
    process = await asyncio.create_subprocess_exec(
        *node_command(script, scenario, config),
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield LiveNodeRun(process)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


# -- the server under test ------------------------------------------------------------------


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
