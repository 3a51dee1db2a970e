"""Streamed HTTP responses: one response body that carries an operation's results as
they come (Server-Sent Events, multipart HTTP).

:func:`gqlwire.http.handle_http_request` answers a streamed operation with an
:class:`HTTPStreamResponse`: a status, headers and an async iterator of body chunks,
which the adapter writes one by one, telling the response when the client went away.
The response owns its operations' tasks; whatever ends it (the last operation, the
client leaving, a stalled client, server shutdown), :meth:`HTTPStreamResponse.aclose`
cancels what still runs and waits for its cleanup, as a WebSocket's end does.

Each operation reports to a :class:`StreamedOperation` (its
:class:`~gqlwire.operation.ResultSink`, and the :class:`~gqlwire.sharing.Member`
through which a shared subscription offers it events); a :class:`Framing` turns what
it reports into bytes, one implementation per wire format (:mod:`gqlwire.sse`,
:mod:`gqlwire.multipart`). Nothing here knows a format or a server. The rules:
docs/streams.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any, Final, Protocol

import orjson
from graphql import OperationType

from .connection import SHUTDOWN, ConnectionRegistry
from .errors import ServerError
from .fanout.resume import CURSOR_EXTENSION
from .operation import Admission
from .protocol import ErrorStage
from .protocol.codes import INTERNAL_SERVER_ERROR_REASON
from .protocol.messages import JSONObject

logger = logging.getLogger("gqlwire")

MAX_QUEUED_CHUNKS: Final = 16
"""Result chunks one stream holds for a client that does not read. An operation's own
results then wait for room (back-pressure reaches its resolvers); a client that takes
nothing for ``slow_consumer_timeout`` while the queue is full is dropped, as a slow
WebSocket consumer is. Keep-alives and the end of the stream are not counted."""

RETRY_AFTER_SECONDS: Final = 5
"""The ``Retry-After`` of a 503 when the server runs as many streams or operations as
its limits allow."""


class Framing(Protocol):
    """How one wire format writes what a stream carries. One instance per response (a
    format may number its events)."""

    @property
    def content_type(self) -> str:
        """The response's ``Content-Type``."""

    @property
    def keep_alive_interval(self) -> float | None:
        """Seconds of silence after which :meth:`keep_alive` is sent (``None``: never)."""

    def opening(self) -> bytes:
        """The first bytes of the body, written at once (flushes the headers)."""

    def result(
        self, payload_json: bytes, operation_id: str | None, cursor: str | None = None
    ) -> bytes:
        """One result, already serialized (shared events are serialized once);
        ``cursor``: its event's place in a history broker, if it came from one."""

    def complete(self, operation_id: str | None) -> bytes:
        """The operation ended normally (or was ended by the server)."""

    def errors(self, errors: list[JSONObject], operation_id: str | None) -> bytes:
        """Errors that end the operation (a failed source, an exception): the
        format's fatal error, including what ends the operation."""

    def keep_alive(self) -> bytes:
        """Something the client ignores, to keep proxies and the client from timing out."""

    def close(self) -> bytes:
        """The last bytes of the body."""


class HTTPStreamResponse:
    """A streamed answer: :attr:`status`, :attr:`headers` and :meth:`chunks`.

    The adapter sends the status and headers, writes every chunk of :meth:`chunks` as it
    comes, calls :meth:`client_gone` when the client went away (the operations are
    cancelled and their cleanup runs), and always awaits :meth:`aclose` at the end.
    While open, it is registered on the server's registry: ``stats()`` counts it as an
    ``http_stream`` and its operations among ``operations``, and ``close_all()`` ends it.
    """

    __slots__ = (
        "_cleanup_timeout",
        "_closed",
        "_ended",
        "_operations",
        "_queue",
        "_ready",
        "_registry",
        "_results",
        "_slow_consumer_timeout",
        "_taken",
        "ends_with_last_operation",
        "framing",
        "headers",
        "status",
    )

    def __init__(
        self,
        framing: Framing,
        registry: ConnectionRegistry | None,
        *,
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        slow_consumer_timeout: float = 2.0,
        cleanup_timeout: float = 5.0,
        ends_with_last_operation: bool = True,
    ) -> None:
        """``ends_with_last_operation``: the stream ends when its last operation ends
        (one operation per stream); otherwise it stays open for more, until the client
        leaves or the server closes it."""
        self.framing = framing
        self.status = status
        self.headers: list[tuple[str, str]] = [
            ("content-type", framing.content_type),
            ("cache-control", "no-cache"),
            # nginx buffers responses unless told not to: a stream would stall there.
            ("x-accel-buffering", "no"),
            ("vary", "Accept"),
            *(headers or ()),
        ]
        self.ends_with_last_operation = ends_with_last_operation
        self._registry = registry
        self._slow_consumer_timeout = slow_consumer_timeout
        self._cleanup_timeout = cleanup_timeout
        self._queue: deque[tuple[bytes, bool]] = deque()  # (chunk, counted as a result)
        self._results = 0  # result chunks in the queue (the bounded kind)
        self._ready = asyncio.Event()  # something to write, or the end
        self._taken = asyncio.Event()  # the client took a chunk (progress)
        self._operations: dict[asyncio.Task[None], StreamedOperation] = {}
        self._ended = False  # nothing more is queued (the end is queued, or dropped)
        self._closed = False  # aclose() ran: unregistered, every task ended
        if registry is not None:
            registry.streams.add(self)

    # -- what the adapter calls ------------------------------------------------------------

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body, with keep-alives in silences; ends with the stream.

        Everything queued when the writer comes round is written as one chunk, so a
        client that fell behind costs one write rather than one per result. The
        keep-alive timer fires once per interval and looks when the last write was,
        instead of being armed and cancelled around every result.
        """
        opening = self.framing.opening()
        if opening:
            yield opening
        interval = self.framing.keep_alive_interval
        loop = asyncio.get_running_loop()
        last_write = loop.time()
        keep_alive_due = False
        timer: asyncio.TimerHandle | None = None

        def tick(period: float) -> None:
            nonlocal keep_alive_due, timer
            if self._ended:
                return  # nothing more to keep alive: the timer is not armed again
            silence = loop.time() - last_write
            if silence >= period:
                keep_alive_due = True
                self._ready.set()
                silence = 0.0
            timer = loop.call_later(period - silence, tick, period)

        if interval is not None:
            timer = loop.call_later(interval, tick, interval)
        queue = self._queue
        try:
            while True:
                if queue:
                    parts: list[bytes] = []
                    while queue:
                        chunk, counted = queue.popleft()
                        if counted:
                            self._results -= 1
                        if chunk:
                            parts.append(chunk)
                    self._taken.set()
                    if parts:
                        last_write = loop.time()
                        keep_alive_due = False
                        yield parts[0] if len(parts) == 1 else b"".join(parts)
                    continue
                if self._ended:
                    return
                if keep_alive_due:
                    keep_alive_due = False
                    last_write = loop.time()
                    keep_alive = self.framing.keep_alive()
                    if keep_alive:
                        yield keep_alive
                    continue
                self._ready.clear()
                await self._ready.wait()
        finally:
            if timer is not None:
                timer.cancel()

    def client_gone(self) -> None:
        """The client went away: nothing more is written, the operations are cancelled
        (their cleanup runs in :meth:`aclose`)."""
        self._drop()

    async def aclose(self) -> None:
        """Cancel what still runs, wait for its cleanup, and unregister. Idempotent;
        the adapter awaits it whatever ended the response."""
        if self._closed:
            return
        self._closed = True
        self._drop()
        await self._cancel_operations()
        if self._registry is not None:
            self._registry.streams.discard(self)

    # -- what the registry calls -------------------------------------------------------------

    def operation_count(self) -> int:
        return len(self._operations)

    async def close(self, code: int = SHUTDOWN.code, reason: str = SHUTDOWN.reason) -> None:
        """End the stream from the server's side (shutdown): the operations are
        cancelled (their ``on_complete`` runs), each gets the format's end, and the body
        its closing bytes. ``code`` and ``reason`` are the WebSocket's and mean nothing
        here."""
        if self._ended:
            return
        # Each operation's end is queued first: cancelled, it reports nothing more.
        for operation in list(self._operations.values()):
            if operation.is_active():
                operation.ended = True
                self.put_final(self.framing.complete(operation.operation_id))
        await self._cancel_operations()
        self._finish()

    # -- operations ------------------------------------------------------------------------

    def start(
        self, operation: StreamedOperation, run: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Run ``run`` (an :class:`~gqlwire.operation.Operation`'s ``run()``, reporting
        to ``operation``) in a task this stream owns, counted against ``max_operations``."""
        task = asyncio.get_running_loop().create_task(run)
        self._operations[task] = operation
        if self._registry is not None:
            self._registry.running += 1
        task.add_done_callback(self._operation_done)
        return task

    def _operation_done(self, task: asyncio.Task[None]) -> None:
        self._operations.pop(task, None)
        if self._registry is not None:
            self._registry.running -= 1
        if not task.cancelled() and task.exception() is not None:
            # Operation.run reports every exception to its sink: this is a bug here.
            logger.error("A streamed operation raised", exc_info=task.exception())
        if self.ends_with_last_operation and not self._operations:
            self._finish()

    async def _cancel_operations(self) -> None:
        tasks = list(self._operations)
        for task in tasks:
            task.cancel()
        if tasks:
            # Their cleanup (resolvers' finally, on_complete) runs now; a cleanup that
            # hangs is left to finish on its own after cleanup_timeout.
            await asyncio.wait(tasks, timeout=self._cleanup_timeout)

    # -- the queue -------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """Whether nothing more is taken (the end is queued, or the client is gone)."""
        return self._ended

    def offer(self, chunk: bytes) -> bool:
        """Queue a result chunk without waiting; ``False`` if the queue is full (the
        chunk is not queued). ``True`` once the stream has ended: nothing to wait for."""
        if self._ended:
            return True
        if self._results >= MAX_QUEUED_CHUNKS:
            return False
        self._push(chunk)
        return True

    async def put(self, chunk: bytes) -> None:
        """Queue a result chunk, waiting while the queue is full; a client that takes
        nothing for ``slow_consumer_timeout`` meanwhile is dropped."""
        while not self._ended and self._results >= MAX_QUEUED_CHUNKS:
            if not await self.wait_for_room(self._slow_consumer_timeout):
                self.overflow()
                return
        if not self._ended:
            self._push(chunk)

    def put_final(self, chunk: bytes) -> None:
        """Queue a chunk that ends an operation (not bounded: one per operation)."""
        if not self._ended and chunk:
            self._queue.append((chunk, False))
            self._ready.set()

    async def wait_for_room(self, grace: float) -> bool:
        """Wait until the client takes a chunk; ``False`` if it took none for ``grace``
        seconds. ``True`` at once if there is room or the stream has ended."""
        while not self._ended and self._results >= MAX_QUEUED_CHUNKS:
            self._taken.clear()
            try:
                async with asyncio.timeout(grace):
                    await self._taken.wait()
            except TimeoutError:
                return False
        return True

    def overflow(self) -> None:
        """The client stalled with a full queue: drop it, as a slow WebSocket consumer
        is closed (what is queued is not written; the body ends here)."""
        if self._ended:
            return
        logger.debug("a streamed response's client stalled: dropped")
        if self._registry is not None:
            self._registry.slow_consumers_closed += 1
        for task in list(self._operations):
            task.cancel()
        self._queue.clear()
        self._results = 0
        self._ended = True
        self._ready.set()
        self._taken.set()

    def _push(self, chunk: bytes) -> None:
        self._queue.append((chunk, True))
        self._results += 1
        self._ready.set()

    def _finish(self) -> None:
        """No more chunks: the body ends after what is queued, with the format's close."""
        if self._ended:
            return
        self._queue.append((self.framing.close(), False))
        self._ended = True
        self._ready.set()
        self._taken.set()

    def _drop(self) -> None:
        """End now, without writing what is queued (the client is gone)."""
        self._queue.clear()
        self._results = 0
        self._ended = True
        self._ready.set()
        self._taken.set()
        for task in list(self._operations):
            task.cancel()

    def __repr__(self) -> str:
        return (
            f"<HTTPStreamResponse {self.framing.content_type!r} "
            f"operations={len(self._operations)} ended={self._ended}>"
        )


class StreamedOperation:
    """One operation on an :class:`HTTPStreamResponse`: its
    :class:`~gqlwire.operation.ResultSink` and its :class:`~gqlwire.sharing.Member`.

    Until the operation passes its admission (just before it executes), the stream has
    not started: what it reports then (request errors, a refusal, an exception) is kept
    in :attr:`early_errors` / :attr:`early_failure` for the caller to answer with an
    ordinary HTTP response. From then on everything goes into the stream.
    """

    __slots__ = (
        "_debug",
        "_opened",
        "early_errors",
        "early_failure",
        "early_stage",
        "ended",
        "operation_id",
        "stream",
    )

    def __init__(
        self, stream: HTTPStreamResponse, operation_id: str | None = None, *, debug: bool = False
    ) -> None:
        self.stream = stream
        self.operation_id = operation_id
        self._debug = debug
        self._opened = asyncio.Event()
        self.ended = False
        """Whether the operation's end (complete or errors) was queued."""
        self.early_errors: list[JSONObject] | None = None
        self.early_stage: ErrorStage | None = None
        self.early_failure: Exception | None = None

    @property
    def opened(self) -> bool:
        """Whether the operation was admitted (its results go into the stream)."""
        return self._opened.is_set()

    def admission(self, refuse: Admission | None = None) -> Admission:
        """The operation's :data:`~gqlwire.operation.Admission`: ``refuse`` (the
        transport's own), then the stream opens."""

        def admit(kind: OperationType) -> None:
            if refuse is not None:
                refuse(kind)
            self._opened.set()

        return admit

    async def wait_until_open(self, task: asyncio.Task[None]) -> bool:
        """Wait until the operation (running in ``task``) is admitted, or ends before;
        whether it was admitted. Cancelling the caller cancels the operation."""
        waiter = asyncio.get_running_loop().create_task(self._opened.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self.stream.aclose()
            raise
        finally:
            waiter.cancel()
        return self.opened

    # -- ResultSink ------------------------------------------------------------------------

    def is_active(self) -> bool:
        return not self.ended and not self.stream.ended

    async def next(self, payload: JSONObject) -> None:
        if self.is_active():
            chunk = self.stream.framing.result(
                orjson.dumps(payload), self.operation_id, result_cursor(payload)
            )
            await self.stream.put(chunk)

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        if not self.opened:
            if self.early_errors is None and self.early_failure is None:
                self.early_errors, self.early_stage = errors, stage
            return
        self._end(self.stream.framing.errors(errors, self.operation_id))

    async def complete(self) -> None:
        if self.opened:
            self._end(self.stream.framing.complete(self.operation_id))

    async def failed(self, error: Exception) -> None:
        if not self.opened:
            if self.early_errors is None and self.early_failure is None:
                self.early_failure = error
            return
        message = failure_message(error, "Streamed operation", self._debug)
        self._end(self.stream.framing.errors([{"message": message}], self.operation_id))

    def _end(self, chunk: bytes) -> None:
        if self.is_active():
            self.ended = True
            self.stream.put_final(chunk)

    # -- Member ----------------------------------------------------------------------------

    def deliver(self, tail: bytes, cursor: str | None = None) -> bool:
        if not self.is_active():
            return True
        # The tail is the serialized result and the closing brace of a WebSocket
        # message (gqlwire.protocol.result_tail): the result is all but its last byte.
        return self.stream.offer(self.stream.framing.result(tail[:-1], self.operation_id, cursor))

    async def wait_for_room(self, grace: float) -> bool:
        return await self.stream.wait_for_room(grace)

    def overflow(self) -> None:
        self.stream.overflow()

    def __repr__(self) -> str:
        return f"<StreamedOperation id={self.operation_id!r} opened={self.opened}>"


def result_cursor(payload: JSONObject) -> str | None:
    """The cursor a result carries (``extensions.cursor``), if it came from a history
    broker."""
    extensions = payload.get("extensions")
    if isinstance(extensions, dict):
        cursor = extensions.get(CURSOR_EXTENSION)
        if isinstance(cursor, str):
            return cursor
    return None


def failure_message(error: Exception, where: str, debug: bool) -> str:
    """What a client is told of an exception from application code: logged with its
    traceback, its message shown only with ``debug`` (a :class:`ServerError` describes
    the setup and is always shown)."""
    if isinstance(error, ServerError):
        return str(error)
    logger.error("%s raised %s: %s", where, type(error).__name__, error, exc_info=error)
    return str(error) if debug else INTERNAL_SERVER_ERROR_REASON


async def write_stream(
    response: HTTPStreamResponse,
    write: Callable[[bytes], Coroutine[Any, Any, bool]],
) -> None:
    """Write ``response``'s body with ``write`` (``False``: the client is gone), then
    close it. For adapters: the body ends normally, or at the first failed write."""
    try:
        # aclosing: a body left early stops its keep-alive timer now, not when the
        # generator is collected.
        async with contextlib.aclosing(response.chunks()) as chunks:
            async for chunk in chunks:
                if not await write(chunk):
                    response.client_gone()
                    break
    finally:
        with contextlib.suppress(Exception):
            await response.aclose()


__all__ = [
    "MAX_QUEUED_CHUNKS",
    "RETRY_AFTER_SECONDS",
    "Framing",
    "HTTPStreamResponse",
    "StreamedOperation",
    "failure_message",
    "write_stream",
]
