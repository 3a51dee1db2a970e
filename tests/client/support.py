"""Helpers of the client tests: watching the server app, and a scripted server.

The real-server tests observe :mod:`tests.apps.client_app` over plain HTTP (what its
hooks and sources recorded, its connection counts), and drive it (close a token's
connections, publish to its ``channel`` subscriptions).

:class:`ScriptedServer` is an aiohttp WebSocket server in the test's own event loop whose
behaviour each test writes as a coroutine: for what no real server does on demand
(invalid messages, withheld pongs or acks, arbitrary close codes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from aiohttp import WSMsgType, web

from gqlwire.client import Client
from tests.harness.protocols import PROTOCOLS, TRANSPORT_WS
from tests.harness.servers import ServerProcess

CLIENT_APP = "tests.apps.client_app:app"
APP_SERVERS = ("aiohttp", "uvicorn")
"""gqlwire on aiohttp (its own adapter) and on an ASGI server."""

WAIT = 10.0
"""Upper bound of every wait for something that must happen."""
_POLL = 0.02


def fast_retry(retries: int) -> float:
    """A ``retry_wait`` for tests: reconnect almost at once."""
    return 0.05


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, within: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(_POLL)


async def _post(server: ServerProcess, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(timeout=5.0) as http:
        response = await http.post(server.http_url(path), params=params)
    response.raise_for_status()
    return response.json()


async def stats(server: ServerProcess) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        response = await http.get(server.http_url("/_stats"))
    response.raise_for_status()
    result: dict[str, int] = response.json()
    return result


async def wait_until_idle(server: ServerProcess) -> None:
    """No connection and no operation left on the server."""

    async def idle() -> bool:
        return await stats(server) == {"connections": 0, "operations": 0}

    await wait_until(idle, f"{server!r} has no connection and no operation left")


async def close_connections(server: ServerProcess, token: str, code: int, reason: str = "") -> int:
    """The server closes the token's open connections; how many there were."""
    answer = await _post(server, "/_close", token=token, code=str(code), reason=reason)
    return int(answer["closed"])


async def publish(server: ServerProcess, token: str, value: str) -> int:
    """Send `value` to the token's ``channel`` subscriptions; how many got it."""
    answer = await _post(server, "/_publish", token=token, value=value)
    return int(answer["delivered"])


async def publish_until_delivered(server: ServerProcess, token: str, value: str) -> None:
    """Publish once a ``channel`` subscription of the token exists (it may be starting)."""

    async def delivered() -> bool:
        return await publish(server, token, value) > 0

    await wait_until(delivered, f"a channel subscription of {token} received {value!r}")


def client_close_codes(protocol: str) -> set[int]:
    """The codes the server may record when the client closes with 1000 right after
    cancelling an operation. On the legacy protocol the server answers `stop` with
    `complete`; when that send meets the client's close frame, the gqlwire server
    records the failed send (1006) instead of the 1000 it then reads."""
    return {1000} if protocol == TRANSPORT_WS else {1000, 1006}


def client_for(
    server: ServerProcess, token: str, protocol: str, path: str = "/graphql", **options: Any
) -> Client:
    options.setdefault("retry_wait", fast_retry)
    return Client(server.ws_url(path, f"token={token}"), protocol=protocol, **options)


# -- a scripted server -------------------------------------------------------------------------

Script = Callable[[web.WebSocketResponse], Awaitable[None]]


class ScriptedServer:
    """Serves WebSockets at ``/``; each connection runs the current ``script``."""

    def __init__(self, protocols: tuple[str, ...]) -> None:
        self.protocols = protocols
        self.script: Script | None = None
        self.connections = 0
        self.received: list[list[dict[str, Any]]] = []  # per connection, via `receive`
        self.requests: list[web.Request] = []
        self.close_codes: list[int | None] = []  # per connection, once it ended
        self.errors: list[BaseException] = []  # what scripts raised: fails the test
        self.connected = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=self.protocols, autoping=True)
        await ws.prepare(request)
        async with self.connected:
            self.connections += 1
            self.received.append([])
            self.requests.append(request)
            self.connected.notify_all()
        try:
            if self.script is not None:
                try:
                    await self.script(ws)
                except ConnectionError:
                    pass  # the client went away: the test decides whether that is right
                except Exception as error:
                    self.errors.append(error)
            if not ws.closed:
                await ws.close()
        finally:
            async with self.connected:
                self.close_codes.append(ws.close_code)
                self.connected.notify_all()
        return ws

    async def wait_connections(self, count: int) -> None:
        async with asyncio.timeout(WAIT), self.connected:
            await self.connected.wait_for(lambda: self.connections >= count)

    async def wait_ended(self, count: int) -> None:
        """Until `count` connections ended (their close codes are in ``close_codes``)."""
        async with asyncio.timeout(WAIT), self.connected:
            await self.connected.wait_for(lambda: len(self.close_codes) >= count)

    def abort(self) -> None:
        """Drop the latest connection's TCP connection without a close frame."""
        transport = self.requests[-1].transport
        assert transport is not None
        transport.abort()

    async def receive(self, ws: web.WebSocketResponse) -> dict[str, Any] | None:
        """The next message from the client (recorded), or None once it closed."""
        async with asyncio.timeout(WAIT):
            message = await ws.receive()
        if message.type is not WSMsgType.TEXT:
            return None
        parsed: dict[str, Any] = json.loads(message.data)
        self.received[-1].append(parsed)
        return parsed

    async def expect(self, ws: web.WebSocketResponse, kind: str) -> dict[str, Any]:
        message = await self.receive(ws)
        assert message is not None and message["type"] == kind, f"expected {kind}, got {message}"
        return message

    async def acknowledge(self, ws: web.WebSocketResponse) -> None:
        await self.expect(ws, "connection_init")
        await self.send(ws, {"type": "connection_ack"})

    async def send(self, ws: web.WebSocketResponse, message: dict[str, Any] | str) -> None:
        await ws.send_str(message if isinstance(message, str) else json.dumps(message))

    async def drain(self, ws: web.WebSocketResponse) -> None:
        """Read (and record) until the client closes."""
        while await self.receive(ws) is not None:
            pass


@contextlib.asynccontextmanager
async def scripted_server(
    protocols: tuple[str, ...] = PROTOCOLS,
) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(protocols)
    app = web.Application()
    app.router.add_get("/", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"ws://127.0.0.1:{port}/"
    try:
        yield server
    finally:
        await runner.cleanup()
    if server.errors:
        raise AssertionError(f"the server script failed: {server.errors!r}") from server.errors[0]
