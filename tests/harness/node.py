"""Third-party clients written for Node, run by the tests: each a script of
``tests/interop/node`` that plays one scenario against a URL and prints one JSON line
per event it saw.

:func:`run_node` runs a client to its end; :func:`live_node` starts one that the test
lets go on step by step (it waits for its stdin to close at each go-ahead). The scripts
need Node 20 and ``npm ci`` at the repository root (``node_modules``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.harness.servers import REPO_ROOT

NODE_DIR = REPO_ROOT / "tests" / "interop" / "node"
GRAPHQL_WS_CLIENT = "graphql_ws_client.mjs"
"""npm graphql-ws's ``createClient`` (graphql-transport-ws)."""
LEGACY_CLIENT = "legacy_client.mjs"
"""npm subscriptions-transport-ws's ``SubscriptionClient`` (legacy graphql-ws)."""

NODE_TIMEOUT = 20.0
"""The limit of one Node client run; the scripts stop themselves earlier (``timeoutMs``)."""
_SCRIPT_TIMEOUT_MS = 15_000


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
