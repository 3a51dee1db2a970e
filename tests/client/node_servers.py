"""The reference servers the client tests run in Node (``node/*.mjs``), as processes.

Each script prints one JSON line per event (the first is ``{"event": "listening",
"port": N}``); :class:`NodeServer` starts one, collects its lines from a thread, and
stops it with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.harness.servers import REPO_ROOT

from .support import WAIT

NODE_DIR = Path(__file__).parent / "node"
NODE_MODULES = REPO_ROOT / "node_modules"


class NodeServer:
    """A reference server process and the events it printed."""

    def __init__(self, script: str) -> None:
        self.process = subprocess.Popen(
            ["node", str(NODE_DIR / script)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.output: list[str] = []
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(WAIT):
            self.stop()
            raise RuntimeError(f"{script} did not listen:\n" + "".join(self.output))
        self.port = int(self.events[0]["port"])

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a warning or a stack trace: kept in `output`
            self.events.append(event)
            if event.get("event") == "listening":
                self._listening.set()

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def http_url(self, path: str = "/graphql", query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    async def tagged(self, name: str, tag: str, count: int) -> list[dict[str, Any]]:
        """The events `name` of requests tagged `tag`, once there are `count` of them.

        Events come from a reader thread, so an event is counted by its tag rather than
        by its position: a late line of an earlier test cannot shift the window."""
        async with asyncio.timeout(WAIT):
            while len(found := [e for e in self.named(name) if e.get("tag") == tag]) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return found

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in list(self.events) if event["event"] == name]

    async def seen(self, event: dict[str, Any]) -> None:
        """Once the server has printed ``event``. On a server shared by several tests,
        waiting for a count of events of a name returns at once with the earlier
        tests' events, before the reader thread has this test's."""
        try:
            async with asyncio.timeout(WAIT):
                while event not in list(self.events):  # noqa: ASYNC110 - from a thread
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"{event} not seen among {self.events}") from None

    async def wait_for(self, name: str, count: int = 1) -> list[dict[str, Any]]:
        async with asyncio.timeout(WAIT):
            while len(self.named(name)) < count:  # noqa: ASYNC110 - events come from a thread
                await asyncio.sleep(0.02)
        return self.named(name)

    def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait(5)
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return status


def _serve(script: str) -> Iterator[NodeServer]:
    server = NodeServer(script)
    try:
        yield server
    finally:
        status = server.stop()
        # (The reference logs the syntax error test's exception: not checked here.)
        assert status == 0, "".join(server.output)


def serve_node(script: str) -> Iterator[NodeServer]:
    """A fixture's body: the server while the fixture lives; it must exit with 0."""
    server = NodeServer(script)
    try:
        yield server
    finally:
        status = server.stop()
        assert status == 0, "".join(server.output)
