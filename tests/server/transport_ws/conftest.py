"""Fixtures for the ported reference suites: one reference-app process per server name.

``ref`` is the server under test (``tests.apps.reference_app:app``, started once per server
name for the session) with the helpers the reference tests get from their test server:
recorded hook calls (``wait_for``), the ping pub/sub (``pong``) and gates for held hooks
(``release``). After every test the part of the server log written during the test must hold
no traceback and no error line, apart from what the test declared with ``ref.expect_log``.

Timing: the reference uses 10-30 ms windows, too tight for a loaded 2-core CI machine. Every
wait here is bounded by ``WAIT`` and every "nothing happens" window lasts ``QUIET``; set
``GQLWIRE_TEST_WAIT`` / ``GQLWIRE_TEST_QUIET`` (seconds) to widen them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.harness.protocols import TRANSPORT_WS
from tests.harness.servers import ServerPool, ServerProcess, find_tracebacks
from tests.harness.wsclient import WSClient, ws_client

REFERENCE_APP = "tests.apps.reference_app:app"

WAIT = float(os.environ.get("GQLWIRE_TEST_WAIT", "2.0"))
"""How long to wait for something that must happen."""
QUIET = float(os.environ.get("GQLWIRE_TEST_QUIET", "0.2"))
"""How long nothing must happen where the reference waits 20-30 ms."""
_POLL = 0.02

# -- what each server loses (see docs/design.md, "What servers do after a disconnect") --------

REASONLESS_CLOSE = frozenset({"daphne"})
"""Servers that drop the reason of the app's ``websocket.close`` (django/daphne#374): the
client sees the code with an empty reason."""


def peer_close_seen_by_app(server: str, code: int, reason: str) -> tuple[int, str]:
    """The (code, reason) a server hands the app in ``websocket.disconnect`` when the client
    closes cleanly with (code, reason)."""
    if server == "hypercorn":
        return 1006, ""  # a clean client close is reported as 1006 (pgjones/hypercorn#127)
    if server in ("daphne", "granian"):
        return code, ""  # their websocket.disconnect carries no reason
    return code, reason


def close_code_sent_by(server: str, code: int) -> int:
    """The close code the client gets when the app closes with ``code``. daphne's WebSocket
    library (autobahn) only lets a server send 1000 or 3000-4999 and raises for anything else;
    gqlwire then closes with 1000."""
    if server == "daphne" and code != 1000 and not 3000 <= code <= 4999:
        return 1000
    return code


def assert_close(server: str, status: tuple[int, str], code: int, reason: str) -> None:
    """``status`` (from ``wait_closed``) is the close (code, reason) the server sent, minus
    what ``server`` is known to lose."""
    expected = (close_code_sent_by(server, code), "" if server in REASONLESS_CLOSE else reason)
    assert status == expected


# -- the server under test ------------------------------------------------------------------


@dataclass
class RefServer:
    """The reference app on one server, plus the test-side helpers."""

    proc: ServerProcess
    http: httpx.AsyncClient
    log_since: int = 0
    allowed_log: list[re.Pattern[str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.proc.server

    def url(self, path: str = "/graphql", token: str | None = None, query: str = "") -> str:
        params = "&".join(p for p in (f"token={token}" if token else "", query) if p)
        return self.proc.ws_url(path, params)

    def connect(
        self,
        path: str = "/graphql",
        token: str | None = None,
        *,
        query: str = "",
        subprotocols: tuple[str, ...] | None = (TRANSPORT_WS,),
    ) -> contextlib.AbstractAsyncContextManager[WSClient]:
        return ws_client(self.url(path, token, query), subprotocols=subprotocols)

    async def events(self, token: str) -> list[tuple[str, dict[str, Any]]]:
        response = await self.http.get(self.proc.http_url("/_events", f"token={token}"))
        response.raise_for_status()
        return [(name, args) for name, args in response.json()]

    async def wait_for(
        self, token: str, name: str, within: float = WAIT, **match: Any
    ) -> dict[str, Any]:
        """The args of the first recorded ``name`` event whose args include ``match``."""

        def found(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
            for event, args in events:
                if event == name and all(args.get(k) == v for k, v in match.items()):
                    return args
            return None

        deadline = asyncio.get_running_loop().time() + within
        while True:
            events = await self.events(token)
            args = found(events)
            if args is not None:
                return args
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {name} {match} event within {within} s: {events}")
            await asyncio.sleep(_POLL)

    async def event_names(self, token: str) -> list[str]:
        return [name for name, _ in await self.events(token)]

    async def pong(self, key: str) -> None:
        """Publish one pong to the fixture's ``ping(key)`` subscription in the server."""
        (await self.http.post(self.proc.http_url("/_pong", f"key={key}"))).raise_for_status()

    async def pending_pongs(self, key: str) -> int:
        response = await self.http.get(self.proc.http_url("/_pending_pongs", f"key={key}"))
        return int(response.json()["pending"])

    async def release(self, key: str) -> None:
        """Open the gate a held hook of the connection with token ``key`` waits on."""
        (await self.http.post(self.proc.http_url("/_release", f"key={key}"))).raise_for_status()

    def expect_log(self, *patterns: str) -> None:
        """Allow error lines and tracebacks (by their last line) matching ``patterns``: for
        tests where application code raises on purpose and the server logs it."""
        self.allowed_log.extend(re.compile(p) for p in patterns)

    def check_log(self) -> None:
        check_log(self.proc, self.log_since, self.allowed_log)


def check_log(
    proc: ServerProcess, since: int = 0, allowed: list[re.Pattern[str]] | None = None
) -> None:
    """No traceback and no error line in the log from ``since`` on, except those whose line
    (for a traceback: its last line, the exception) matches one of ``allowed``."""
    text = proc.log(since)

    def expected(line: str) -> bool:
        return any(p.search(line) for p in allowed or ())

    errors = [line for line in proc.error_lines(since) if not expected(line)]
    tracebacks = [b for b in find_tracebacks(text) if not expected(b.splitlines()[-1])]
    if errors or tracebacks:
        raise AssertionError(
            f"{proc!r} logged errors:\n"
            + "\n".join(errors + tracebacks)
            + f"\n--- log from the start of the test ---\n{text}"
        )


@pytest.fixture(scope="module")
def ref_process(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(REFERENCE_APP, server_name)


@pytest.fixture
async def ref(ref_process: ServerProcess) -> AsyncIterator[RefServer]:
    assert ref_process.running(), ref_process.log()
    async with httpx.AsyncClient(timeout=WAIT * 2) as http:
        server = RefServer(ref_process, http, log_since=ref_process.log_offset())
        yield server
        # let the server finish logging what this test caused (closing handshakes, hooks)
        await asyncio.sleep(_POLL)
    server.check_log()


@pytest.fixture
def token() -> str:
    """A key unique to the test: the websocket ``token`` and the ping subscription's key."""
    return uuid.uuid4().hex


# -- protocol helpers -------------------------------------------------------------------------


async def init(client: WSClient, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send ``connection_init`` and return the ``connection_ack``."""
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    await client.send(message)
    ack = await client.receive(WAIT)
    assert ack["type"] == "connection_ack", ack
    return ack


async def subscribe(client: WSClient, id: str, query: str, **payload: Any) -> None:
    await client.send({"id": id, "type": "subscribe", "payload": {"query": query, **payload}})


async def complete(client: WSClient, id: str) -> None:
    await client.send({"id": id, "type": "complete"})


async def barrier(client: WSClient) -> None:
    """A ping/pong round trip: the server has handled every message sent before it, as it
    reads one connection's messages in order (the reference tests wait for the server's
    socket to emit the message instead)."""
    await client.send({"type": "ping", "payload": {"barrier": True}})
    assert await client.receive(WAIT) == {"type": "pong", "payload": {"barrier": True}}


def next_message(id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": id, "type": "next", "payload": {"data": data}}


def complete_message(id: str) -> dict[str, Any]:
    return {"id": id, "type": "complete"}
