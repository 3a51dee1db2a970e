"""ASGI 3: WebSocket (both subprotocols), GraphQL over HTTP, and lifespan.

Servers differ in what they do after a disconnect (see ``docs/design.md``):
``receive()`` may block forever (hypercorn, daphne), ``send()`` may raise any type or
silently succeed, ``websocket.connect`` may arrive twice, ports may be strings and
``spec_version`` may be missing. This module turns all of that into the plain
:class:`~gqlwire.adapters.base.Transport` contract; nothing above it sees a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..asgi_types import Message, Receive, Scope, Send
from ..connection import Connection, ConnectionRegistry
from ..context import Headers
from ..http import HTTPRequest, HTTPRoute, error_response, handle_http_request
from ..http_stream import HTTPStreamResponse, write_stream
from ..protocol import CloseCode, parse_protocol_header
from .base import Frame

if TYPE_CHECKING:
    from ..runtime import ServerRuntime

logger = logging.getLogger("gqlwire")

# The close code every server lets an application send, for when one refuses ours. A
# plain int: daphne's WebSocket library refuses an IntEnum close code.
_FALLBACK_CLOSE = int(CloseCode.NORMAL_CLOSURE)

# After this many sends in a row that the server suspended, a socket stops stepping
# send() by hand: on a server that always suspends (granian hands every frame to its
# own threads), that costs a task per frame anyway, plus the stepping.
_STEPPING_GIVEN_UP_AFTER = 8


class ASGIWebSocketTransport:
    """A :class:`~gqlwire.adapters.base.Transport` over an ASGI websocket scope."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._scope = scope
        self._ended = False  # a disconnect was seen: never call receive() again
        self._close_sent = False
        # The rest of a send() that send_nowait() started and the server suspended
        # (its write buffer was full, or it hands frames to another thread): every
        # later frame waits behind it.
        self._inflight: asyncio.Task[None] | None = None
        self._suspended = 0  # send_nowait() calls in a row whose send() suspended
        self.close_code: int | None = None
        self.close_reason = ""

    async def wait_for_connect(self) -> bool:
        """Read up to the handshake's ``websocket.connect``; ``False`` if the client left."""
        while True:
            message = await self._next_message()
            if message is None:
                return False
            if message.get("type") == "websocket.connect":
                return True

    async def accept(self, subprotocol: str | None) -> None:
        message: Message = {"type": "websocket.accept"}
        if subprotocol is not None:
            message["subprotocol"] = subprotocol
        await self._call_send(message)

    async def refuse(self) -> None:
        """Close before accepting: every server answers the handshake with HTTP 403."""
        self._close_sent = True
        code = int(CloseCode.NORMAL_CLOSURE)  # the code is not seen: no HTTP response has one
        await self._call_send({"type": "websocket.close", "code": code})

    async def receive(self) -> str | bytes | None:
        while True:
            message = await self._next_message()
            if message is None:
                return None
            kind = message.get("type")
            if kind == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    return str(text)
                data = message.get("bytes")
                return bytes(data) if data is not None else ""
            # A repeated websocket.connect (granian < 2.3.2) or anything unknown:
            # not data, so keep reading.

    def send_nowait(self, frame: Frame) -> bool:
        """Run the server's ``send()`` up to its first suspension, here and now.

        Most servers (uvicorn, hypercorn, daphne) write a frame without ever suspending
        unless their buffer is full: stepping the coroutine once delivers the frame
        without the task per frame that an ``await`` from a writer would cost. When it
        does suspend, a task finishes that one send, and the frame still counts as
        taken (it is the server's now, in order); the next frames wait behind it."""
        if (
            self._ended
            or self._close_sent
            or self._inflight is not None
            or self._suspended >= _STEPPING_GIVEN_UP_AFTER
        ):
            return False
        # A text frame is a str in ASGI: the server encodes it again (no way around it).
        text = frame if isinstance(frame, str) else frame.decode("utf-8")
        try:
            steps = self._send({"type": "websocket.send", "text": text}).__await__()
            pending = next(steps)
        except StopIteration:
            self._suspended = 0
            return True  # written without suspending: the common case
        except Exception as error:
            self._lost("websocket.send", error)
            return False  # send() now answers False: the outbox reports the loss
        self._suspended += 1
        self._inflight = asyncio.get_running_loop().create_task(self._finish(steps, pending))
        return True

    async def _finish(self, steps: Iterator[Any], pending: Any) -> None:
        try:
            await _resume(steps, pending)
        except Exception as error:
            self._lost("websocket.send", error)
        finally:
            self._inflight = None

    async def wait_sent(self) -> None:
        """Wait for a send that send_nowait() started and the server suspended
        (without cancelling it if this wait is cancelled: the frame is the server's)."""
        inflight = self._inflight
        if inflight is not None:
            await asyncio.wait([inflight])

    async def send(self, frame: Frame) -> bool:
        await self.wait_sent()
        if self._ended or self._close_sent:
            return False
        text = frame if isinstance(frame, str) else frame.decode("utf-8")
        return await self._call_send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str) -> None:
        if self._close_sent or self._ended:
            return
        self._close_sent = True
        inflight = self._inflight
        if inflight is not None:
            # A frame the server still holds (its buffer is full) is dropped like the
            # outbox's queued ones: the close must not wait for a client that may never
            # read again. A close that should follow every frame waits for
            # wait_sent() first (the outbox's flush).
            inflight.cancel()
        # Plain int and str: daphne's WebSocket library refuses an IntEnum close code.
        message = {"type": "websocket.close", "code": int(code), "reason": str(reason)}
        try:
            await self._send(message)
            return
        except Exception as error:
            if int(code) == _FALLBACK_CLOSE:
                logger.debug("send(websocket.close) raised %r: treated as closed", error)
                self._end(CloseCode.ABNORMAL_CLOSURE, "")
                return
            # daphne (autobahn) lets an application send only 1000 or 3000-4999, so
            # 1001, 1009 and 1011 raise and the socket would stay open: fall back to a
            # code every server sends rather than leave it open.
            logger.debug("close code %d refused (%r): closing with 1000", code, error)
        await self._call_send(
            {"type": "websocket.close", "code": _FALLBACK_CLOSE, "reason": str(reason)}
        )

    async def _next_message(self) -> Message | None:
        if self._ended:
            return None
        try:
            message = await self._receive()
        except Exception as error:
            # Any failure to receive means the connection is over ("ASGI flow error"
            # from granian, for one); it is not our error to report.
            logger.debug("receive() raised %r: treated as a disconnect", error)
            self._end(CloseCode.ABNORMAL_CLOSURE, "")
            return None
        if message.get("type") == "websocket.disconnect":
            # ASGI makes "code" optional; a server that leaves it out saw no code.
            code = message.get("code")
            code = int(code) if isinstance(code, int) else CloseCode.NO_STATUS_RECEIVED
            self._end(code, message.get("reason") or "")
            return None
        return message

    async def _call_send(self, message: Message) -> bool:
        try:
            await self._send(message)
        except Exception as error:
            self._lost(message["type"], error)
            return False
        return True

    def _lost(self, kind: str, error: Exception) -> None:
        # uvicorn raises OSError or RuntimeError, hypercorn its own Exception,
        # daphne autobahn's Disconnected...: whatever the type, the socket is gone.
        logger.debug("send(%s) raised %r: treated as closed", kind, error)
        self._close_sent = True
        if not self._ended:
            self._end(CloseCode.ABNORMAL_CLOSURE, "")

    def _end(self, code: int, reason: str) -> None:
        self._ended = True
        self.close_code = code
        self.close_reason = reason


@types.coroutine
def _resume(steps: Iterator[Any], pending: Any) -> Generator[Any, None, None]:
    """Go on with an awaitable that was stepped by hand until it yielded ``pending``:
    hand ``pending`` to the task, then pass the task's resumption on, as ``await``
    would have from the start (a task resumes with ``None`` or throws into it)."""
    while True:
        try:
            yield pending
        except BaseException as error:
            throw = getattr(steps, "throw", None)
            if throw is None:
                raise
            try:
                pending = throw(error)
            except StopIteration:
                return
            continue
        yield from steps
        return


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header, decoded as latin-1 (as HTTP specifies)."""
    for key, value in scope.get("headers") or ():
        if bytes(key).lower() == name:
            return bytes(value).decode("latin-1")
    return None


def request_headers(scope: Scope) -> Headers:
    """The request's or handshake's headers, for hooks: decoded only if one reads them."""
    return Headers(scope.get("headers") or ())


class ASGIApp:
    """The ASGI application of a :class:`~gqlwire.GraphQLServer`."""

    def __init__(
        self,
        runtime: ServerRuntime,
        registry: ConnectionRegistry,
        routes: Sequence[HTTPRoute] = (),
    ) -> None:
        self.runtime = runtime
        self.options = runtime.options
        self.registry = registry
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "websocket":
            await self.websocket(scope, receive, send)
        elif kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = ASGIWebSocketTransport(scope, receive, send)
        if not await transport.wait_for_connect():
            return
        if not self.options.websocket or not self.options.origin_allowed(header(scope, b"origin")):
            await transport.refuse()
            return
        # The raw pairs: made a Headers if a hook reads them.
        connection = Connection(
            self.runtime, transport, ("scope", scope), self.registry, scope.get("headers") or ()
        )
        # The offered subprotocols are not kept in this frame, which lasts as long as the
        # connection.
        await connection.serve(
            parse_protocol_header(str(p) for p in scope.get("subprotocols") or ())
        )

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive, self.options.max_message_size)
        except _ClientGone:
            return  # nobody to answer: the server has already dropped the connection
        if body is None:
            refusal = error_response(413, "Request body too large")
            await _respond(send, refusal.status, refusal.headers, refusal.body)
            return
        request = HTTPRequest(
            method=str(scope.get("method", "GET")).upper(),
            headers=request_headers(scope),
            query_string=bytes(scope.get("query_string") or b"").decode("latin-1"),
            body=body,
            extra={"scope": scope},
        )
        response = await handle_http_request(self.runtime, request, self.registry, self.routes)
        if isinstance(response, HTTPStreamResponse):
            await _stream(receive, send, response)
        else:
            await _respond(send, response.status, response.headers, response.body)

    async def close_all(self) -> None:
        """End every WebSocket and HTTP stream of this server (``gqlwire serve`` calls it
        on a stop signal: uvicorn waits for open responses before the lifespan's
        shutdown, so a stream would otherwise hold the stop forever)."""
        await self.registry.close_all()

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                # Tell clients the server is going away instead of letting each server
                # drop the sockets its own way.
                await self.registry.close_all()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _ClientGone(Exception):
    """The client left before its request body ended."""


async def _read_body(receive: Receive, limit: int | None) -> bytes | None:
    """The whole request body, or ``None`` once it is longer than ``limit`` bytes.

    Read up to the limit even when a longer ``Content-Length`` is declared: an ASGI
    server drops the connection when the application answers while the client is still
    sending, and the client then never reads the 413 (measured on uvicorn)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            raise _ClientGone
        chunk = bytes(message.get("body") or b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _stream(receive: Receive, send: Send, response: HTTPStreamResponse) -> None:
    """Write a streamed response chunk by chunk while a task watches for the client's
    ``http.disconnect``, which cancels the operations (their cleanup runs before this
    returns). A send that raises also means the client is gone: servers raise any type."""
    watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, response))

    async def write(chunk: bytes) -> bool:
        return await _send_quietly(
            send, {"type": "http.response.body", "body": chunk, "more_body": True}
        )

    try:
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        start = {"type": "http.response.start", "status": response.status, "headers": headers}
        if await _send_quietly(send, start):
            await write_stream(response, write)
            if not watcher.done():
                await _send_quietly(send, {"type": "http.response.body", "body": b""})
        else:
            response.client_gone()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await response.aclose()


async def _watch_disconnect(receive: Receive, response: HTTPStreamResponse) -> None:
    while True:
        try:
            message = await receive()
        except Exception as error:
            logger.debug("receive() raised %r: treated as a disconnect", error)
            break
        if message.get("type") == "http.disconnect":
            break
    response.client_gone()


async def _send_quietly(send: Send, message: Message) -> bool:
    try:
        await send(message)
    except Exception as error:
        logger.debug("send(%s) raised %r: the client is gone", message["type"], error)
        return False
    return True


async def _respond(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if not any(k == b"content-length" for k, _ in raw_headers):
        raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
