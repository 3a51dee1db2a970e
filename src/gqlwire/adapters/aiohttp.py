"""aiohttp: WebSocket (both subprotocols) and GraphQL over HTTP in one request handler.

aiohttp reports the end of a connection in four shapes: ``CLOSE`` (the peer's close
frame), ``CLOSING`` (our own close, seen by a receive in progress), ``CLOSED`` (the
stream ended) and ``ERROR`` (a reader error: bad UTF-8, a reserved opcode, an
oversized frame, a missing pong), after which it has usually closed the socket itself
with 1006 or 1009. All four are one event here, "ended"; and since aiohttp may already
have sent a close frame, ours is sent only if aiohttp has not (closes at most once).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from aiohttp import WSMessage, WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError

from ..connection import Connection, ConnectionRegistry
from ..context import Headers
from ..http import HTTPRequest, HTTPRoute, error_response, handle_http_request
from ..http_stream import HTTPStreamResponse, write_stream
from ..protocol import CloseCode, parse_protocol_header
from .base import AGAIN, Again, Frame

if TYPE_CHECKING:
    from ..runtime import ServerRuntime

logger = logging.getLogger("gqlwire")

# How long aiohttp waits for the peer's close frame after sending ours; a dead peer
# would otherwise hold the connection's cleanup for aiohttp's default 10 s.
CLOSE_TIMEOUT = 3.0

# Below this many bytes in the socket's write buffer a frame is written at once, with
# no task switch (asyncio's default high-water mark); above it frames wait in the
# outbox for the buffer to drain.
_DIRECT_WRITE_LIMIT = 64 * 1024

# The answer to a handshake with websocket=False (ASGI servers send a bare 403).
_WEBSOCKET_OFF = "WebSocket is not served on this endpoint"

# How often a streamed response looks whether its client is still connected: aiohttp
# tells a handler nothing when its client leaves (handler cancellation is off by
# default), and a silent stream would otherwise hold its operation until the next
# keep-alive fails to write.
CLIENT_GONE_POLL = 0.5

# The two-byte headers of the text frames short enough to need no extended length.
_SHORT_TEXT_HEADERS = tuple(bytes((0x81, length)) for length in range(126))

_ENDED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})

# The message types looked at on every message, as module constants: an enum member read
# through its class costs several times more (on Python 3.11).
_TEXT: Final = WSMsgType.TEXT
_BINARY: Final = WSMsgType.BINARY
_CLOSE: Final = WSMsgType.CLOSE
_ERROR: Final = WSMsgType.ERROR


class AiohttpWebSocketTransport:
    """A :class:`~gqlwire.adapters.base.Transport` over ``aiohttp.web.WebSocketResponse``,
    whose receive is split (:class:`~gqlwire.adapters.base.SplitReceive`)."""

    splits_receive: ClassVar[bool] = True

    __slots__ = (
        "_ended",
        "_max_message_size",
        "_socket",
        "close_code",
        "close_reason",
        "handshake_error",
        "request",
        "response",
    )

    def __init__(self, request: web.Request, max_message_size: int | None) -> None:
        self.request = request
        self.response: web.WebSocketResponse | None = None
        self.handshake_error: web.HTTPException | None = None
        self._max_message_size = max_message_size
        self._ended = False
        self._socket: asyncio.Transport | None = None  # for writes that need no wait
        self.close_code: int | None = None
        self.close_reason = ""

    async def accept(self, subprotocol: str | None) -> None:
        # Offering aiohttp only the protocol we chose makes its handshake select
        # exactly that one (it would otherwise follow the client's order).
        response = web.WebSocketResponse(
            protocols=(subprotocol,) if subprotocol else (),
            max_msg_size=self._max_message_size or 0,
            compress=False,  # per-message deflate costs more CPU than it saves here
            autoping=True,
            timeout=CLOSE_TIMEOUT,
        )
        try:
            await response.prepare(self.request)
        except web.HTTPException as error:
            self.handshake_error = error
            self._end(CloseCode.ABNORMAL_CLOSURE)
            return
        except Exception as error:
            logger.debug("websocket handshake failed: %r", error)
            self._end(CloseCode.ABNORMAL_CLOSURE)
            return
        self.response = response
        socket = self.request.transport
        if socket is not None and not response.compress:
            self._socket = socket

    async def receive(self) -> str | bytes | None:
        while True:
            try:
                message = await self.receive_message()
            except Exception as error:
                self.receive_failed(error)
                return None
            data = self.message_data(message)
            if data is not AGAIN:
                return data

    # The connection calls these three itself (see SplitReceive): aiohttp's own
    # coroutine is awaited in the connection's frame, with none of ours around it.

    def receive_message(self) -> Awaitable[WSMessage | None]:
        response = self.response
        if self._ended or response is None:
            return _nothing()
        return response.receive()

    def message_data(self, message: WSMessage | None) -> str | bytes | Again | None:
        if message is None:
            return None
        kind = message.type
        if kind is _TEXT:
            return str(message.data)
        if kind is _BINARY:
            return bytes(message.data)
        if kind in _ENDED:
            response = self.response
            assert response is not None
            code = message.data if kind is _CLOSE else response.close_code
            # A reader error (bad UTF-8, reserved opcode, oversized frame) carries the
            # code aiohttp closed with; response.close_code says 1006 by then.
            if kind is _ERROR and isinstance(
                code_of_error := getattr(message.data, "code", None), int
            ):
                code = code_of_error
            code = int(code) if isinstance(code, int) else CloseCode.ABNORMAL_CLOSURE
            self._end(code, str(message.extra or ""))
            return None
        return AGAIN  # PING and PONG are answered by aiohttp itself (autoping)

    def receive_failed(self, error: Exception) -> None:
        logger.debug("receive() raised %r: treated as a disconnect", error)
        self._end(CloseCode.ABNORMAL_CLOSURE)

    def send_nowait(self, frame: Frame) -> bool:
        # The same bytes aiohttp's writer would produce for an uncompressed text frame,
        # written with one transport.write(): asyncio transports keep whole writes in
        # order, so this interleaves safely with aiohttp's own frames (pongs, close).
        socket = self._socket
        response = self.response
        if (
            socket is None
            or self._ended
            or response is None
            or response.closed
            or socket.is_closing()
            or socket.get_write_buffer_size() >= _DIRECT_WRITE_LIMIT
        ):
            return False
        data = frame if isinstance(frame, bytes) else frame.encode("utf-8")
        socket.write(text_frame(data))
        return True

    async def send(self, frame: Frame) -> bool:
        response = self.response
        if self._ended or response is None or response.closed:
            return False
        data = frame if isinstance(frame, bytes) else frame.encode("utf-8")
        try:
            await response.send_frame(data, WSMsgType.TEXT)
        except Exception as error:
            # ClientConnectionResetError "Cannot write to closing transport", and any
            # other failure: the socket is gone either way.
            logger.debug("send raised %r: treated as closed", error)
            self._end(CloseCode.ABNORMAL_CLOSURE)
            return False
        return True

    async def close(self, code: int, reason: str) -> None:
        response = self.response
        if response is None or response.closed:
            return  # aiohttp already closed it (reader error, the peer's close)
        try:
            await response.close(code=int(code), message=reason.encode("utf-8"))
        except Exception as error:
            logger.debug("close raised %r", error)

    def _end(self, code: int, reason: str = "") -> None:
        if not self._ended:
            self._ended = True
            self.close_code = code
            self.close_reason = reason


async def _nothing() -> None:
    """What a receive gives once the connection has ended: it must not wait."""


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final WebSocket text frame (RFC 6455 §5.2), as a server sends it."""
    length = len(payload)
    if length < 126:
        return _SHORT_TEXT_HEADERS[length] + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


def is_websocket_request(request: web.Request) -> bool:
    return "websocket" in request.headers.get("Upgrade", "").lower()


class AiohttpHandler:
    """The aiohttp request handler of a :class:`~gqlwire.GraphQLServer`."""

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

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The request handler (a coroutine function, as aiohttp requires).

        A WebSocket is served in this coroutine's own frame, not in one more awaited
        from it: every open connection keeps the frames of its serving task."""
        if request.method != "GET" or not is_websocket_request(request):
            return await self.http(request)
        if not self.options.websocket:
            return _response(error_response(403, _WEBSOCKET_OFF))
        if not self.options.origin_allowed(request.headers.get("Origin")):
            return _response(error_response(403, "Origin not allowed"))
        transport = AiohttpWebSocketTransport(request, self.options.max_message_size)
        connection = Connection(
            self.runtime,
            transport,
            ("request", request),  # ctx.extra, made a dict if a hook reads it
            self.registry,
            request.headers,  # made a Headers if a hook reads them
        )
        # The offered subprotocols are not kept in this frame, which lasts as long as the
        # connection.
        await connection.serve(
            parse_protocol_header(request.headers.getall("Sec-WebSocket-Protocol", ()))
        )
        if transport.handshake_error is not None:
            raise transport.handshake_error
        # No response only when the handshake failed in a way aiohttp did not report
        # as an HTTP error (the peer left mid-handshake): nothing is left to answer.
        return transport.response or web.Response(status=400)

    async def http(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request, self.options.max_message_size)
        except (ConnectionError, HttpProcessingError):
            # The client left (or broke off) before its body ended: an everyday event,
            # not a server error. The answer goes nowhere; aiohttp drops it quietly.
            return _response(error_response(400, "Request body incomplete"))
        if body is None:
            return _response(error_response(413, "Request body too large"))
        outcome = await handle_http_request(
            self.runtime,
            HTTPRequest(
                method=request.method.upper(),
                headers=Headers(request.headers),
                query_string=request.query_string,
                body=body,
                extra={"request": request},
            ),
            self.registry,
            self.routes,
        )
        if isinstance(outcome, HTTPStreamResponse):
            return await stream_response(request, outcome)
        return _response(outcome)


async def stream_response(request: web.Request, response: HTTPStreamResponse) -> web.StreamResponse:
    """Write a streamed response chunk by chunk; the client leaving (a failed write, or
    a closed transport seen by a watcher task) cancels the operations, whose cleanup
    runs before this returns."""
    streamed = web.StreamResponse(status=response.status)
    for name, value in response.headers:
        streamed.headers.add(name, value)
    watcher: asyncio.Task[None] | None = None

    async def write(chunk: bytes) -> bool:
        try:
            await streamed.write(chunk)
        except Exception as error:
            logger.debug("write raised %r: the client is gone", error)
            return False
        return True

    try:
        await streamed.prepare(request)
        watcher = asyncio.get_running_loop().create_task(_watch_transport(request, response))
        await write_stream(response, write)
        if not watcher.done():
            await streamed.write_eof()
    except Exception as error:
        logger.debug("streamed response ended by %r", error)
        response.client_gone()
    finally:
        if watcher is not None:
            watcher.cancel()
        await response.aclose()
    return streamed


async def _watch_transport(request: web.Request, response: HTTPStreamResponse) -> None:
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            response.client_gone()
            return
        await asyncio.sleep(CLIENT_GONE_POLL)


async def read_body(request: web.Request, limit: int | None) -> bytes | None:
    """The whole request body, or ``None`` when it is longer than ``limit`` bytes.

    Read until the end of the body, whatever the client's TCP writes were: a single
    ``read(n)`` returns only what has arrived so far. A declared ``Content-Length`` over
    the limit is refused before anything is read.
    """
    if limit is None:
        return await request.read()
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _response(outcome: Any) -> web.Response:
    response = web.Response(status=outcome.status, body=outcome.body)
    for name, value in outcome.headers:
        if name.lower() == "content-type":
            response.headers["Content-Type"] = value
        else:
            response.headers.add(name, value)
    return response


def application(
    handler: AiohttpHandler, path: str = "/graphql", extra_paths: Sequence[str] = ()
) -> web.Application:
    """An aiohttp ``Application`` serving ``handler`` at ``path`` (and at
    ``extra_paths``: the metrics endpoint), closing its sockets with 1001 ``Going away``
    on shutdown."""
    app = web.Application()
    app.router.add_route("*", path, handler.handle)
    for extra in extra_paths:
        app.router.add_route("GET", extra, handler.http)

    async def close_connections(_app: web.Application) -> None:
        await handler.registry.close_all()

    app.on_shutdown.append(close_connections)
    return app
