"""The one task that owns a client's sockets: connect, acknowledge, read, keep alive,
close, and reconnect.

The run task opens sockets one after the other and the reader task reads each one;
operations never own a task, and every task is awaited by its owner. Which task owns
what is in docs/client.md ("Tasks and who owns them").
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from ..protocol.codes import REASONS, CloseCode, limit_close_reason
from ..protocol.messages import InvalidMessage
from .connection import CLOSE_TIMEOUT, Closed, Connection
from .errors import (
    BadResponse,
    ClientClosed,
    ConnectionAckTimeout,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionRejected,
    copy_error,
)
from .operations import Operation, OperationRegistry
from .options import ClientOptions
from .protocol import (
    Acknowledged,
    Completed,
    Errors,
    InitRefused,
    KeepAlive,
    Ping,
    Pong,
    Result,
    ServerEvent,
)
from .resume import result_cursor, warn_if_gap
from .retry import ConnectionEnd, Decision, decide

__all__ = ["ConnectionSupervisor"]

logger = logging.getLogger("gqlwire.client")

NORMAL_CLOSURE_REASON = REASONS[CloseCode.NORMAL_CLOSURE]


class _InvalidResponse(Exception):
    """A frame that breaks the protocol at this point of the connection."""


class ConnectionSupervisor:
    """Keeps the connection that the client's operations need."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.operations = OperationRegistry(self.wake)
        self.connection: Connection | None = None
        """The current socket (acknowledged or not), while one is open."""
        self._run_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # the current run and any finishing
        self._wakeup: asyncio.Future[None] | None = None
        self._connect_waiters: list[asyncio.Future[None]] = []
        self._closed = False

    # -- what the client calls -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def wake(self) -> None:
        """Something the run task waits on changed (operations, a pong, the ack)."""
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def ensure_running(self) -> None:
        if self._closed:
            raise ClientClosed()
        if self._run_task is None:
            task = asyncio.get_running_loop().create_task(self._run(), name="gqlwire-client")
            self._run_task = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def connect(self) -> None:
        """Until the current socket is acknowledged; raises what ended the attempt."""
        self.ensure_running()
        connection = self.connection
        if connection is not None and connection.acknowledged and connection.open:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._connect_waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._connect_waiters:
                self._connect_waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # read, so asyncio never reports it as unretrieved

    def register(self, payload: dict[str, Any]) -> Operation:
        """A new active operation (synchronous: see :mod:`.operations`)."""
        if self._closed:
            raise ClientClosed()
        operation = self.operations.add(payload)
        self.ensure_running()
        return operation

    async def start(self, operation: Operation) -> None:
        """Send ``subscribe`` now if the socket is acknowledged; otherwise the run task
        sends it at the acknowledgement."""
        connection = self.connection
        if (
            connection is not None
            and connection.acknowledged
            and operation.id not in connection.subscribed
            and self.operations.get(operation.id) is operation
        ):
            connection.subscribed.add(operation.id)
            payload = operation.subscribe_payload(self.options.resume)
            await connection.send(connection.codec.subscribe(operation.id, payload))

    async def release(self, operation: Operation) -> None:
        """The consumer is done with `operation` (it ended, broke out, was cancelled):
        forget it, and tell the server unless the server ended it first."""
        if self.operations.get(operation.id) is not operation:
            return  # the server completed or errored it, or the connection failed
        self.operations.remove(operation.id)  # wakes the run task: maybe a lazy close
        connection = self.connection
        if connection is not None and operation.id in connection.subscribed:
            connection.subscribed.discard(operation.id)
            await connection.send(connection.codec.complete(operation.id))

    async def close(self) -> None:
        """Close the socket with 1000 and end every task; operations still active end
        (``subscribe()`` stops, ``execute()`` raises :class:`ClientClosed`)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # Not gather(): if close() itself is cancelled, the tasks still finish
            # their (already requested) cleanup instead of being interrupted again.
            await asyncio.wait(tasks)
        self.operations.close_all()
        self._fail_waiters(ClientClosed())

    # -- the run task ----------------------------------------------------------------------

    def _wanted(self) -> bool:
        return not self._closed and (bool(self.operations) or not self.options.lazy)

    def _detach(self, task: asyncio.Task[None] | None) -> bool:
        """Stop being the current run (synchronously, so a new operation arriving while
        this one cleans up starts a new run); False if it already was not."""
        if task is None or self._run_task is not task:
            return False
        self._run_task = None
        return True

    async def _run(self) -> None:
        task = asyncio.current_task()
        session: aiohttp.ClientSession | None = None
        try:
            session = self.options.session or aiohttp.ClientSession()
            retries = 0
            retrying = False
            while True:
                if retrying:
                    await self._retry_wait(retries)
                    retries += 1
                if not self._wanted():
                    self._detach(task)
                    return
                end = await self._serve(session, retrying)
                if end.acknowledged:
                    retries = 0
                    retrying = False
                decision = decide(
                    end,
                    wanted=self._wanted(),
                    retries=retries,
                    retry_attempts=self.options.retry_attempts,
                )
                logger.debug("connection ended: %s -> %s", end, decision.value)
                if decision is Decision.STOP:
                    self._detach(task)
                    return
                if decision is Decision.RECONNECT:
                    retrying = False
                elif decision is Decision.RETRY:
                    retrying = True
                else:
                    self._detach(task)
                    self._fail(end.exception())
                    return
        except asyncio.CancelledError:
            if self._detach(task):
                self.operations.close_all()
                self._fail_waiters(ClientClosed())
            raise
        except Exception as error:  # a bug: surface it where the user looks
            logger.exception("the gqlwire client's connection task failed")
            if self._detach(task):
                self._fail(error)
        finally:
            if session is not None and self.options.session is None:
                await session.close()

    def _fail(self, error: BaseException) -> None:
        if not self.operations and not self._connect_waiters:
            logger.warning("gqlwire client: connection failed: %s", error)
        self.operations.fail_all(error)
        self._fail_waiters(error)

    def _fail_waiters(self, error: BaseException) -> None:
        waiters, self._connect_waiters = self._connect_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(copy_error(error))

    async def _retry_wait(self, retries: int) -> None:
        delay = self.options.retry_wait(retries)
        if inspect.isawaitable(delay):
            await delay
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(delay)
        # Wait, but stop waiting as soon as nothing needs the connection any more.
        while self._wanted():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await self._sleep(remaining)

    async def _sleep(self, seconds: float | None, *also: asyncio.Future[Any]) -> None:
        """Until `seconds` passed, a wake(), or one of `also` is done."""
        wakeup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wakeup = wakeup
        try:
            await asyncio.wait(
                {wakeup, *also}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if self._wakeup is wakeup:
                self._wakeup = None

    # -- one socket --------------------------------------------------------------------------

    async def _serve(self, session: aiohttp.ClientSession, retrying: bool) -> ConnectionEnd:
        """Open one socket, run it until it ends, and say how it ended."""
        options = self.options
        codec = options.codec
        try:
            async with asyncio.timeout(options.connection_ack_timeout or None):
                ws = await session.ws_connect(
                    options.url,
                    protocols=(codec.name,),
                    headers=options.headers,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
                    autoclose=True,
                    autoping=True,
                    compress=0,
                )
        except aiohttp.WSServerHandshakeError as error:
            status = error.status
            return ConnectionEnd(
                None,
                error=ConnectionFailed(
                    f"the WebSocket handshake with {options.url} failed: "
                    f"HTTP {status} {error.message}".rstrip(),
                    status,
                ),
                retryable=retrying and (status >= 500 or status == 429),
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            detail = str(error) or type(error).__name__
            return ConnectionEnd(
                None,
                error=ConnectionFailed(f"cannot connect to {options.url}: {detail}"),
                retryable=retrying,
            )

        connection = Connection(ws, codec)
        self.connection = connection
        reader: asyncio.Task[ConnectionEnd] | None = None
        try:
            if ws.protocol != codec.name:
                await connection.close(CloseCode.PROTOCOL_ERROR, "")
                return ConnectionEnd(
                    CloseCode.PROTOCOL_ERROR,
                    error=ConnectionFailed(
                        f"the server at {options.url} did not accept the {codec.name!r} subprotocol"
                    ),
                    fatal=True,
                )
            try:
                params = await self._connection_params()
            except Exception as error:
                code = CloseCode.INTERNAL_CLIENT_ERROR
                reason = limit_close_reason(str(error), REASONS[code])
                await connection.close(code, reason)
                failure = ConnectionClosed(code, reason)
                failure.__cause__ = error
                return ConnectionEnd(code, reason, error=failure, fatal=True)
            reader = asyncio.get_running_loop().create_task(
                self._read(connection), name="gqlwire-client-reader"
            )
            await connection.send(codec.connection_init(params))
            return await self._supervise(connection, reader)
        finally:
            if self.connection is connection:
                self.connection = None
            await self._shutdown(connection, reader)

    async def _connection_params(self) -> dict[str, Any] | None:
        params: Any = self.options.connection_params
        if callable(params):
            params = params()
            if inspect.isawaitable(params):
                params = await params
        if params is None:
            return None
        if not isinstance(params, Mapping):
            raise TypeError(f"connection_params must be a dict, got {type(params).__name__}")
        return dict(params)

    async def _shutdown(
        self, connection: Connection, reader: asyncio.Task[ConnectionEnd] | None
    ) -> None:
        """Close the socket (1000, if nobody closed it yet) and reap the reader.

        Cancellation-proof: if the graceful close is interrupted, the reader is still
        reaped and the socket still closed (aiohttp then drops the TCP connection right
        after the close frame instead of waiting for the server's).
        """
        try:
            await connection.close(CloseCode.NORMAL_CLOSURE, NORMAL_CLOSURE_REASON)
        finally:
            try:
                if reader is not None:
                    reader.cancel()
                    await asyncio.wait({reader})
                    if not reader.cancelled():
                        reader.exception()  # read: it was turned into a ConnectionEnd already
            finally:
                await connection.close(CloseCode.NORMAL_CLOSURE, NORMAL_CLOSURE_REASON)

    async def _supervise(
        self, connection: Connection, reader: asyncio.Task[ConnectionEnd]
    ) -> ConnectionEnd:
        """Wait for the acknowledgement, send keep-alive pings, and close lazily: the
        timers of one socket. Returns when the socket ended."""
        options = self.options
        loop = asyncio.get_running_loop()
        opened = loop.time()
        ack_deadline = (
            opened + options.connection_ack_timeout if options.connection_ack_timeout else None
        )
        ping_every = options.keep_alive if connection.codec.supports_ping else 0.0
        next_ping = opened + ping_every
        ping_sent_at: float | None = None
        pongs_seen = 0
        idle_since: float | None = None

        while not reader.done():
            now = loop.time()
            deadlines: list[float] = []
            if not connection.acknowledged:
                if ack_deadline is not None:
                    if now >= ack_deadline:
                        return await self._close_for(connection, reader, ConnectionAckTimeout())
                    deadlines.append(ack_deadline)
            elif options.lazy and not self.operations:
                idle_since = now if idle_since is None else idle_since
                close_at = idle_since + options.lazy_close_timeout
                if now >= close_at:
                    return await self._close_for(
                        connection,
                        reader,
                        ConnectionClosed(CloseCode.NORMAL_CLOSURE, NORMAL_CLOSURE_REASON),
                        acknowledged=True,
                    )
                deadlines.append(close_at)
            else:
                idle_since = None
            if ping_every:
                if connection.pongs != pongs_seen:  # any pong restarts the ping timer
                    pongs_seen = connection.pongs
                    ping_sent_at = None
                    next_ping = connection.last_pong + ping_every
                if ping_sent_at is not None:
                    if now >= ping_sent_at + ping_every:
                        return await self._close_for(
                            connection,
                            reader,
                            ConnectionClosed(CloseCode.TERMINATED, REASONS[CloseCode.TERMINATED]),
                            acknowledged=connection.acknowledged,
                        )
                    deadlines.append(ping_sent_at + ping_every)
                elif now >= next_ping:
                    ping_sent_at = now
                    await connection.send(connection.codec.ping())
                    continue
                else:
                    deadlines.append(next_ping)
            await self._sleep(min(deadlines) - now if deadlines else None, reader)
        return reader.result()

    async def _close_for(
        self,
        connection: Connection,
        reader: asyncio.Task[ConnectionEnd],
        error: ConnectionClosed,
        *,
        acknowledged: bool = False,
    ) -> ConnectionEnd:
        """Close the socket ourselves with `error`'s code; if it was already closing, the
        reader's account of the end wins."""
        if connection.closing:
            await asyncio.wait({reader})
            return reader.result()
        await connection.close(error.code, error.reason)
        await asyncio.wait({reader})
        return ConnectionEnd(error.code, error.reason, acknowledged=acknowledged, error=error)

    # -- the reader task -------------------------------------------------------------------

    async def _read(self, connection: Connection) -> ConnectionEnd:
        """Read until the socket ends; returns how it ended."""
        while True:
            frame = await connection.receive()
            if isinstance(frame, Closed):
                return ConnectionEnd(frame.code, frame.reason, acknowledged=connection.acknowledged)
            try:
                event = connection.codec.parse(frame)
                end = await self._handle(connection, event)
            except (InvalidMessage, _InvalidResponse) as problem:
                detail = str(problem)
                code = CloseCode.BAD_RESPONSE
                reason = limit_close_reason(detail, REASONS[code])
                await connection.close(code, reason)
                return ConnectionEnd(
                    code,
                    reason,
                    acknowledged=connection.acknowledged,
                    error=BadResponse(code, reason, detail),
                )
            if end is not None:
                return end

    async def _handle(self, connection: Connection, event: ServerEvent) -> ConnectionEnd | None:
        codec = connection.codec
        if isinstance(event, Ping):
            await connection.send(codec.pong(event.payload))
        elif isinstance(event, Pong):
            connection.pongs += 1
            connection.last_pong = asyncio.get_running_loop().time()
            self.wake()
        elif isinstance(event, KeepAlive):
            pass
        elif isinstance(event, Acknowledged):
            if not connection.acknowledged:  # a repeated ack is ignored, as the reference does
                await self._acknowledged(connection, event)
        elif isinstance(event, InitRefused):
            await connection.close(CloseCode.NORMAL_CLOSURE, NORMAL_CLOSURE_REASON)
            return ConnectionEnd(
                CloseCode.NORMAL_CLOSURE,
                NORMAL_CLOSURE_REASON,
                acknowledged=connection.acknowledged,
                error=ConnectionRejected(event.payload),
                fatal=True,
            )
        elif not connection.acknowledged:
            raise _InvalidResponse(f"First message cannot be of type {codec.type_of(event)}")
        elif isinstance(event, Result):
            operation = self.operations.get(event.id)
            if operation is not None and event.id in connection.subscribed:
                cursor = result_cursor(event.payload)
                if cursor is not None:
                    operation.cursor = cursor
                warn_if_gap(logger, event.payload, operation.id, operation.payload)
                operation.events.put_nowait(event)
        elif isinstance(event, Errors | Completed) and event.id in connection.subscribed:
            connection.subscribed.discard(event.id)
            self.operations.finish(event.id, event)
        # Unexpected (a client-only message) after the ack is ignored, as the reference does.
        return None

    async def _acknowledged(self, connection: Connection, ack: Acknowledged) -> None:
        connection.acknowledged = True
        connection.ack_payload = ack.payload
        waiters, self._connect_waiters = self._connect_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.wake()
        # (Re)subscribe every operation that is not on this socket yet: new ones queued
        # while connecting, and the active ones of a lost socket.
        for operation in self.operations:
            if operation.id in connection.subscribed:
                continue
            if self.operations.get(operation.id) is not operation:
                continue  # released while an earlier subscribe was being sent
            connection.subscribed.add(operation.id)
            # After a lost socket, from the last cursor: the server starts after it.
            payload = operation.subscribe_payload(self.options.resume)
            message = connection.codec.subscribe(operation.id, payload)
            if not await connection.send(message):
                return
