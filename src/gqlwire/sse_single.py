"""GraphQL over SSE in single connection mode (graphql-sse): one event stream per
client carries the results of every operation the client posts with its token.

The bookkeeping (tokens, operation ids, what is refused with which status) is the
sans-I/O table of :mod:`gqlwire.protocol.sse_single`; this module runs it on the HTTP
streaming core (:mod:`gqlwire.http_stream`): a reservation's event stream is an
:class:`~gqlwire.http_stream.HTTPStreamResponse` that outlives its operations, each
operation a task of it reporting to a
:class:`~gqlwire.http_stream.StreamedOperation`. The rules: docs/streams.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

import orjson
from graphql import OperationType

from .connection import ConnectionRegistry
from .hooks import call_hook
from .http import (
    APPLICATION_JSON,
    HTTPRequest,
    HTTPResponse,
    MalformedRequest,
    cross_site_refusal,
    error_response,
    failure_response,
    over_process_limits,
    parse_media_type,
    read_request_parameters,
    with_response_draft,
)
from .http_stream import RETRY_AFTER_SECONDS, HTTPStreamResponse, StreamedOperation
from .operation import Operation
from .protocol.sse_single import (
    OPERATION_ID_PARAMETER,
    STREAM_NOT_FOUND,
    TOKEN_HEADER,
    TOKEN_PARAMETER,
    Phase,
    Refusal,
    Reservation,
    SingleConnectionStreams,
    operation_key,
)
from .sse import EVENT_STREAM, SSEContext, SSEFraming

if TYPE_CHECKING:
    from .runtime import ServerRuntime

TEXT_PLAIN: Final = "text/plain"
METHODS: Final = "GET, POST, PUT, DELETE"


def token_of(request: HTTPRequest) -> str | None:
    """The reservation token a request carries (header first, then ``?token=``)."""
    token = request.headers.get(TOKEN_HEADER)
    if token:
        return token.strip()
    values = parse_qs(request.query_string).get(TOKEN_PARAMETER)
    return values[0] if values and values[0] else None


def accepts(accept: str | None, *media: str) -> bool:
    """Whether ``Accept`` admits one of ``media`` (exactly, by its type's wildcard or by
    ``*/*``, with a q-value above 0); a missing header admits everything."""
    if accept is None or not accept.strip():
        return True
    for part in accept.split(","):
        if not part.strip():
            continue
        given, parameters = parse_media_type(part)
        try:
            quality = float(parameters.get("q", "1"))
        except ValueError:
            continue
        if quality <= 0:
            continue
        for wanted in media:
            if given in (wanted, "*/*", wanted.split("/")[0] + "/*"):
                return True
    return False


def wants_event_stream(request: HTTPRequest) -> bool:
    """Whether the request asks for an event stream (names ``text/event-stream``)."""
    accept = request.headers.get("accept")
    if not accept:
        return False
    return any(
        parse_media_type(part)[0] == EVENT_STREAM for part in accept.split(",") if part.strip()
    )


def _carries_operation(request: HTTPRequest) -> bool:
    if request.method == "POST":
        return bool(request.body.strip())
    return bool(parse_qs(request.query_string).get("query"))


def _refusal_response(refusal: Refusal) -> HTTPResponse:
    headers = [] if refusal.retry_after is None else [("retry-after", str(refusal.retry_after))]
    return error_response(refusal.status, refusal.message, headers)


def _empty(status: int) -> HTTPResponse:
    return HTTPResponse(status, [], b"")


class SingleConnectionFraming(SSEFraming):
    """graphql-sse's events in single connection mode: each names its operation
    (``next``: ``{"id": ..., "payload": result}``, ``complete``: ``{"id": ...}``)."""

    __slots__ = ()

    def result(
        self, payload_json: bytes, operation_id: str | None, cursor: str | None = None
    ) -> bytes:
        head = b'{"id":' + orjson.dumps(operation_id) + b',"payload":'
        return self.event("next", head + payload_json + b"}")

    def complete(self, operation_id: str | None) -> bytes:
        return self.event("complete", orjson.dumps({"id": operation_id}))


class _MutationOverGet(Exception):
    """A mutation posted with ``GET`` (with its token in the query string)."""


def _refuse_get_mutations(method: str) -> Callable[[OperationType], None]:
    def refuse(kind: OperationType) -> None:
        if kind is OperationType.MUTATION and method == "GET":
            raise _MutationOverGet

    return refuse


class ReservedStream(HTTPStreamResponse):
    """The event stream of one reservation: created by the ``PUT`` (operations posted
    before it opens wait in its queue), opened by one event stream request, ended by
    the client leaving, the reservation expiring, or the server shutting down.

    Its operations are its tasks, by operation id."""

    __slots__ = ("expiry", "mode", "reservation", "tasks")

    def __init__(
        self, mode: SingleConnectionMode, reservation: Reservation, registry: ConnectionRegistry
    ) -> None:
        options = mode.options
        super().__init__(
            SingleConnectionFraming(options.sse_keep_alive),
            registry,
            slow_consumer_timeout=options.slow_consumer_timeout,
            cleanup_timeout=options.cleanup_timeout,
            ends_with_last_operation=False,
        )
        self.mode = mode
        self.reservation = reservation
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.expiry: asyncio.TimerHandle | None = None

    async def aclose(self) -> None:
        # The token names nothing from now on, before the operations' cleanup runs.
        self.mode.forget(self)
        await super().aclose()

    async def stop(self, operation_id: str) -> None:
        """Stop one operation (``DELETE``), wait for its cleanup, then end it on the
        stream with its ``complete``, as graphql-sse's handler does once the stopped
        source has returned."""
        task = self.tasks.get(operation_id)
        if task is None:
            return
        operation = self._operations.get(task)
        report = operation is not None and operation.opened and operation.is_active()
        if operation is not None and report:
            operation.ended = True  # cancelled, it queues nothing more of its own
        task.cancel()
        await asyncio.wait([task], timeout=self.mode.options.cleanup_timeout)
        if report:
            self.put_final(self.framing.complete(operation_id))


class SingleConnectionMode:
    """The single connection mode of one server: its reservations and their streams."""

    def __init__(self, runtime: ServerRuntime, registry: ConnectionRegistry) -> None:
        self.runtime = runtime
        self.registry = registry
        options = runtime.options
        self.options = options
        self.table = SingleConnectionStreams(
            max_streams=options.sse_max_streams,
            reservation_timeout=options.sse_reservation_timeout,
            max_operations=options.max_subscriptions_per_connection,
        )
        self._streams: dict[str, ReservedStream] = {}
        self._closing: set[asyncio.Task[None]] = set()  # expired streams being closed

    # -- routing ----------------------------------------------------------------------

    def claims(self, request: HTTPRequest) -> bool:
        """Whether ``request`` belongs to this mode: a ``PUT``, a ``DELETE``, or a
        request with a token. An event stream request whose token names no stream but
        which carries an operation is left to the distinct connections mode (a token
        may be an application's own ``?token=``)."""
        if request.method in ("PUT", "DELETE"):
            return True
        token = token_of(request)
        if token is None:
            return False
        if wants_event_stream(request) and _carries_operation(request):
            return self._find(token) is not None
        return True

    async def handle(self, request: HTTPRequest) -> HTTPResponse | HTTPStreamResponse:
        """Answer one request of the mode (the origin check has been made)."""
        options = self.options
        if request.method not in ("GET", "POST", "PUT", "DELETE"):
            return error_response(
                405, f"Method {request.method} is not allowed", [("allow", METHODS)]
            )
        # A POST without a body (graphql-sse opens a stream so, and answers one whose
        # token names nothing 404) carries nothing a cross-site form could smuggle in:
        # like a GET, it does something only with a token that names a stream.
        if request.method == "POST" and request.body.strip() and options.csrf_prevention:
            refusal = cross_site_refusal(request, options.trusted_origins)
            if refusal is not None:
                return refusal
        context = SSEContext(request.method, request.headers, request.extra)
        try:
            admitted = await call_hook(options.on_connect, context)
        except Exception as error:
            return failure_response(error, "on_connect", options.debug)
        if admitted is False:
            return with_response_draft(
                error_response(403, "Forbidden"), context.response, options.debug
            )
        if request.method == "PUT":
            response = self._reserve(request)
        elif request.method == "DELETE":
            response = await self._stop(request)
        elif wants_event_stream(request):
            opened = self._open(request)
            if isinstance(opened, HTTPStreamResponse):
                return opened
            response = opened
        else:
            response = await self._start(request, context)
            if response.status == 500:
                return response  # an exception: what the application set is dropped
        return with_response_draft(response, context.response, options.debug)

    # -- the requests --------------------------------------------------------------------

    def _find(self, token: str) -> ReservedStream | None:
        now = asyncio.get_running_loop().time()
        reservation = self.table.find(token, now)
        stream = None if reservation is None else self._streams.get(reservation.token)
        if stream is not None and stream.ended:
            # Dropped (a client that took nothing), not yet closed: it names nothing.
            self.forget(stream)
            return None
        return stream

    def _reserve(self, request: HTTPRequest) -> HTTPResponse:
        if not accepts(request.headers.get("accept"), TEXT_PLAIN):
            return error_response(406, f"A reservation's token is sent as {TEXT_PLAIN}")
        busy = over_process_limits(self.registry, self.options)
        if busy is not None:
            return busy  # max_connections counts WebSockets and streams together
        loop = asyncio.get_running_loop()
        reservation = self.table.reserve(loop.time())
        if isinstance(reservation, Refusal):
            return _refusal_response(reservation)
        stream = self._streams[reservation.token] = ReservedStream(self, reservation, self.registry)
        timeout = self.options.sse_reservation_timeout
        if timeout is not None:
            stream.expiry = loop.call_later(timeout, self._expire, stream)
        return HTTPResponse(
            201,
            [("content-type", f"{TEXT_PLAIN}; charset=utf-8"), ("cache-control", "no-store")],
            reservation.token.encode(),
        )

    def _open(self, request: HTTPRequest) -> HTTPResponse | HTTPStreamResponse:
        token = token_of(request) or ""
        if self._find(token) is None:
            return _refusal_response(STREAM_NOT_FOUND)
        opened = self.table.open(token, asyncio.get_running_loop().time())
        if isinstance(opened, Refusal):
            return _refusal_response(opened)
        stream = self._streams[token]
        if stream.expiry is not None:
            stream.expiry.cancel()
            stream.expiry = None
        return stream

    async def _stop(self, request: HTTPRequest) -> HTTPResponse:
        token = token_of(request) or ""
        values = parse_qs(request.query_string).get(OPERATION_ID_PARAMETER)
        operation_id = values[0] if values else None
        now = asyncio.get_running_loop().time()
        found = self.table.stop_operation(token, operation_id, now)
        if isinstance(found, Refusal):
            return _refusal_response(found)
        stream = self._streams.get(found.token)
        if stream is not None and operation_id:
            await stream.stop(operation_id)
        return _empty(200)

    async def _start(self, request: HTTPRequest, context: SSEContext) -> HTTPResponse:
        """An operation sent with a token: 202 once it executes (its results go to the
        stream), else the answer graphql-sse's handler gives."""
        # graphql-sse's order: the stream first (404), then what the client accepts.
        token = token_of(request) or ""
        if self._find(token) is None:
            return _refusal_response(STREAM_NOT_FOUND)
        if not accepts(request.headers.get("accept"), APPLICATION_JSON):
            return error_response(406, f"Acceptable media type is {APPLICATION_JSON}")
        try:
            payload = read_request_parameters(request)
        except MalformedRequest as error:
            return error_response(415 if error.status == 415 else 400, str(error))
        limit = self.options.max_operations
        if limit is not None and self.registry.running >= limit:
            self.registry.refused_operations += 1
            return _refusal_response(
                Refusal(
                    503,
                    f"Operation limit reached: this server runs at most {limit} operations at once",
                    RETRY_AFTER_SECONDS,
                )
            )
        operation_id = (payload.get("extensions") or {}).get("operationId")
        now = asyncio.get_running_loop().time()
        reservation = self.table.start_operation(token, operation_id, now)
        if isinstance(reservation, Refusal):
            return _refusal_response(reservation)
        stream = self._streams[reservation.token]
        key = operation_key(operation_id)
        sink = StreamedOperation(stream, key, debug=self.options.debug)
        operation = Operation(
            self.runtime,
            context,
            key,
            payload,
            sink,
            member=sink,
            admit=sink.admission(_refuse_get_mutations(request.method)),
            incremental_delivery=True,
        )
        task = stream.start(sink, self._run(operation, stream, key))
        stream.tasks[key] = task
        # Shielded: the client that posted it may leave, the operation goes on.
        if await asyncio.shield(sink.wait_until_open(task)):
            return _empty(202)
        if sink.early_errors is not None:
            # Before execution (syntax, validation, on_subscribe): graphql-sse answers
            # the request with them, 400, in this mode.
            return HTTPResponse(
                400,
                [("content-type", f"{APPLICATION_JSON}; charset=utf-8")],
                orjson.dumps({"errors": sink.early_errors}),
            )
        failure = sink.early_failure
        if isinstance(failure, _MutationOverGet):
            return error_response(
                405, "Mutations cannot be sent with GET: use POST", [("allow", "POST")]
            )
        if failure is not None:
            return failure_response(failure, "SSE operation", self.options.debug)
        # Stopped, or its stream ended, before it executed (the reference's 204).
        return _empty(204)

    async def _run(self, operation: Operation, stream: ReservedStream, key: str) -> None:
        try:
            await operation.run()
        finally:
            if stream.tasks.get(key) is asyncio.current_task():
                del stream.tasks[key]
            self.table.operation_ended(stream.reservation, key)

    # -- ends ------------------------------------------------------------------------------

    def _expire(self, stream: ReservedStream) -> None:
        """A reservation's time to open ran out: it names nothing any more, and what
        was posted to it is cancelled."""
        stream.expiry = None
        if stream.reservation.phase is Phase.RESERVED:
            task = asyncio.get_running_loop().create_task(stream.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def forget(self, stream: ReservedStream) -> None:
        """``stream`` ends: its token names nothing any more."""
        if stream.expiry is not None:
            stream.expiry.cancel()
            stream.expiry = None
        self.table.close(stream.reservation)
        if self._streams.get(stream.reservation.token) is stream:
            del self._streams[stream.reservation.token]

    def stats(self) -> dict[str, int]:
        return {"sse_streams": self.table.streams, "sse_operations": self.table.operations}


__all__ = [
    "ReservedStream",
    "SingleConnectionFraming",
    "SingleConnectionMode",
    "accepts",
    "token_of",
    "wants_event_stream",
]
