"""A raw WebSocket test client (on the `websockets` library) and small HTTP helpers.

    async with ws_client(proc.ws_url(), subprotocols=["graphql-transport-ws"]) as c:
        await c.send({"type": "connection_init"})
        assert (await c.receive())["type"] == "connection_ack"
        await c.expect_nothing()
        code, reason = await c.wait_closed()

A background task reads every frame as it arrives, so messages that came before the
close stay queued for `receive()` after `wait_closed()` returned. Leaving the block
closes the connection (or drops it, if it does not close in time) and cancels the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

ABNORMAL_CLOSURE = 1006  # the TCP connection ended without a close frame
_CLOSE_TIMEOUT = 2.0
_HTTP_TIMEOUT = 5.0


class WSClient:
    """One open WebSocket; create it with `ws_client()`."""

    def __init__(self, raw: ClientConnection) -> None:
        self.raw = raw
        self._messages: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="ws-client-reader")

    @property
    def subprotocol(self) -> str | None:
        return self.raw.subprotocol

    async def _read(self) -> None:
        try:
            while True:
                self._messages.put_nowait(await self.raw.recv())
        except ConnectionClosed:
            pass
        finally:
            self._closed.set()

    async def send(self, message: Mapping[str, Any] | Sequence[Any] | str | bytes) -> None:
        """Send a dict/list as JSON text, a str as text, bytes as a binary frame."""
        if isinstance(message, str | bytes):
            await self.raw.send(message)
        else:
            await self.raw.send(json.dumps(message))

    # The timeouts below are part of the client's API (every wait in a test is bounded by
    # default), hence the noqa for ruff's "use asyncio.timeout" rule.
    async def receive_raw(self, timeout: float = 2.0) -> str | bytes:  # noqa: ASYNC109
        """The next frame's data, as sent. `TimeoutError` if none arrives in `timeout`;
        `AssertionError` if the connection closed with nothing left to read."""
        if not self._messages.empty():
            return self._messages.get_nowait()
        next_message = asyncio.ensure_future(self._messages.get())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait(
                (next_message, closed), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
            if not next_message.done():
                next_message.cancel()
        if next_message in done:
            return next_message.result()
        if closed in done:
            code, reason = self.close_status()
            raise AssertionError(f"connection closed ({code} {reason!r}) while awaiting a message")
        raise TimeoutError(f"no message within {timeout} s")

    async def receive(self, timeout: float = 2.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The next message, which must be a JSON object sent as text."""
        data = await self.receive_raw(timeout)
        if not isinstance(data, str):
            raise AssertionError(f"expected a text frame, got binary {data!r}")
        try:
            message = json.loads(data)
        except ValueError:
            raise AssertionError(f"expected JSON, got {data!r}") from None
        if not isinstance(message, dict):
            raise AssertionError(f"expected a JSON object, got {data!r}")
        return message

    async def expect_nothing(self, window: float = 0.05) -> None:
        """Assert that no message arrives and the connection stays open for `window` s."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), window)
        if not self._messages.empty():
            raise AssertionError(f"unexpected message: {self._messages.get_nowait()!r}")
        if self._closed.is_set():
            code, reason = self.close_status()
            raise AssertionError(f"unexpected close ({code} {reason!r})")

    def closed(self) -> bool:
        return self._closed.is_set()

    def close_status(self) -> tuple[int, str]:
        """(code, reason) of the close frame the server sent; 1006 if the TCP connection
        ended without one. Only meaningful once `closed()`."""
        received = self.raw.protocol.close_rcvd
        if received is None:
            return ABNORMAL_CLOSURE, ""
        return int(received.code), received.reason

    async def wait_closed(self, timeout: float = 2.0) -> tuple[int, str]:  # noqa: ASYNC109
        """Wait for the connection to end; (code, reason) as in `close_status()`."""
        try:
            await asyncio.wait_for(self._closed.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"the connection did not close within {timeout} s") from None
        return self.close_status()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start (and wait for) the closing handshake from the client side."""
        await self.raw.close(code, reason)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), _CLOSE_TIMEOUT)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        transport = self.raw.transport
        if transport is not None:
            transport.abort()

    async def _finish(self) -> None:
        if not self._closed.is_set():
            try:
                await asyncio.wait_for(self.raw.close(), _CLOSE_TIMEOUT)
            except (TimeoutError, OSError, ConnectionClosed):
                self.abort()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def ws_client(
    url: str,
    subprotocols: Sequence[str] | None = ("graphql-transport-ws",),
    origin: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    open_timeout: float = 5.0,
    **connect_options: Any,
) -> AsyncIterator[WSClient]:
    """Open a WebSocket; leaving the block closes it and stops the reader task.

    `subprotocols=None` (or empty) offers none. No client pings and no compression by
    default, so the server sees only what the test sends; `connect_options` go to
    `websockets.asyncio.client.connect`.
    """
    options: dict[str, Any] = {
        "ping_interval": None,
        "compression": None,
        "max_size": None,
        "open_timeout": open_timeout,
        "close_timeout": _CLOSE_TIMEOUT,
    }
    options.update(connect_options)
    raw = await connect(
        url,
        subprotocols=[Subprotocol(p) for p in subprotocols or ()] or None,
        origin=Origin(origin) if origin is not None else None,
        additional_headers=dict(extra_headers or {}),
        **options,
    )
    client = WSClient(raw)
    try:
        yield client
    finally:
        await client._finish()


async def handshake_status(
    url: str,
    subprotocols: Sequence[str] | None = ("graphql-transport-ws",),
    origin: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> int:
    """The HTTP status of a WebSocket handshake: 101 if it was accepted (the connection is
    closed again at once), else the refusal's status (403 for a close before accept)."""
    try:
        async with ws_client(url, subprotocols, origin, extra_headers):
            return 101
    except InvalidStatus as refused:
        return int(refused.response.status_code)


async def http_post_json(
    url: str, body: Any, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """POST `body` as JSON (``content-type: application/json`` unless `headers` say otherwise)."""
    sent = {"content-type": "application/json", "accept": "application/json"}
    sent.update(headers or {})
    async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as client:
        return await client.post(url, content=json.dumps(body), headers=sent)


async def http_get(url: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as client:
        return await client.get(url, headers=dict(headers or {}))
