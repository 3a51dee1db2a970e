"""The asyncio runtime of one WebSocket connection.

This is the only place that owns a socket's lifecycle. It accepts first and only then
arms timers; keeps one receive loop running for the whole connection; runs every
operation and the ``on_connect`` hook in tasks of their own so that reading never
waits for them (a shared subscription parks once in its group, and starts inline when
its first steps are synchronous: see ``_ConnectionOperation``); sends through one gate
that refuses everything once closing; and on the way out cancels every operation,
waits for their cleanup, then calls ``on_disconnect`` (only if acknowledged) and
``on_close``, in that order.

What to send and when to close is decided by the protocol machine; this module only
carries out its actions. The few closes that come from outside the protocol (a full
server, no common subprotocol, a slow consumer, shutdown, a failure of this runtime)
are named once, below, as ``Close`` actions like the machine's.

Where a connection is in its life is one value, :class:`ConnectionState`, changed only
by ``Connection._enter``, which refuses a transition the lifecycle does not allow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from collections.abc import Callable, Collection, Coroutine, Generator, Iterable
from contextvars import Context, copy_context
from enum import Enum
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from .adapters.base import AGAIN, Again, SplitReceive, Transport
from .context import ConnectionContext, Headers, RawHeaders
from .errors import ServerError
from .hooks import call_hook
from .operation import Operation
from .outbox import Outbox, flush_transport
from .protocol import (
    Action,
    Authenticate,
    CancelOperation,
    CancelTimer,
    Close,
    CloseCode,
    ErrorStage,
    OperationId,
    ProtocolMachine,
    Send,
    StartOperation,
    StartTimer,
    Timer,
    choose_among,
    limit_close_reason,
    machine_for,
)
from .protocol.codes import INTERNAL_SERVER_ERROR_REASON, REASONS
from .protocol.messages import JSONObject
from .sharing import GroupEnd
from .timers import TimerSlot, start_timer

if TYPE_CHECKING:
    from .options import ServerOptions
    from .runtime import ServerRuntime

logger = logging.getLogger("gqlwire")


# -- the closes this runtime decides ------------------------------------------------------
# The protocol machine decides every other close. These come from outside the protocol:
# before a machine exists, from the server, or about the runtime itself.

TOO_MANY_CONNECTIONS: Final = Close(CloseCode.TRY_AGAIN_LATER, "Too many connections")
"""``max_connections`` reached: accepted, then closed with a code every graphql-ws client
retries later (a refused handshake is a 403 on most ASGI servers, or a 1006)."""

NO_COMMON_SUBPROTOCOL: Final = Close(
    CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE, REASONS[CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE]
)
"""As graphql-ws does: accepted without a subprotocol, then closed."""

SLOW_CONSUMER: Final = Close(CloseCode.TRY_AGAIN_LATER, "Slow consumer")
"""The outbox overflowed under the close policy (through the machine, which then sends
nothing more): the client reconnects and resubscribes."""

SHUTDOWN: Final = Close(CloseCode.GOING_AWAY, REASONS[CloseCode.GOING_AWAY])
"""``close_all()``'s default, on server shutdown."""

RUNTIME_FAILURE: Final = Close(CloseCode.INTERNAL_ERROR, "")
"""The connection ended by an error in this runtime, not by a close: the socket is still
closed rather than left to the server's defaults."""

PEER_GONE_CODE: Final = CloseCode.ABNORMAL_CLOSURE
"""What the hooks are told when the peer went away without a close code we know of."""


# -- timers ----------------------------------------------------------------------------------
# Each timer of the machine is a kind on the shared timer wheel (gqlwire.timers), and the
# connection keeps the slot it is due in, to cancel it, in an attribute of its own: no
# object per timer. Within one slot, kinds fire in this order (a ping before the close
# for the pong it awaited, as when both fall together).

_TIMERS: Final = (Timer.INIT, Timer.KEEP_ALIVE, Timer.PONG)
_TIMER_KIND: Final = {timer: kind for kind, timer in enumerate(_TIMERS)}
_TIMER_SLOT: Final = ("_init_timer", "_keep_alive_timer", "_pong_timer")


# -- the lifecycle --------------------------------------------------------------------------


class ConnectionState(Enum):
    """Where a connection is in its life; what each state allows:

    ``OPEN``
        From the start (the handshake included) until the first close. Frames are read
        and sent, operations, timers and hooks start. Next: ``CLOSING`` or ``GONE``.
    ``CLOSING``
        We decided to close. The frames queued before the close are flushed, then the
        close frame goes out; nothing else is sent, no frame is read any more, no
        operation or timer starts. The serving task waits here for the close frame to be
        out before it returns. Next: ``CLOSED``. The peer leaving meanwhile changes
        nothing: the close carries on (and fails quietly).
    ``GONE``
        The peer went away first (a disconnect, a failed send). Nothing is sent or read.
        Terminal.
    ``CLOSED``
        Our close frame is out, or was given up on. Nothing is sent or read. Terminal.

    In every state but ``OPEN`` the connection is ending: ``Connection._finish`` cancels
    the operations and runs the last hooks, whichever way it ended.
    """

    OPEN = "open"
    CLOSING = "closing"
    GONE = "gone"
    CLOSED = "closed"

    def to(self, new: ConnectionState) -> ConnectionState:
        """``new``, if the lifecycle goes from this state to it; else raise
        :class:`ConnectionStateError` (a bug in the runtime, never the peer's doing)."""
        if new not in _TRANSITIONS[self]:
            raise ConnectionStateError(f"a connection cannot go from {self.name} to {new.name}")
        return new


_TRANSITIONS: Final[dict[ConnectionState, frozenset[ConnectionState]]] = {
    ConnectionState.OPEN: frozenset({ConnectionState.CLOSING, ConnectionState.GONE}),
    ConnectionState.CLOSING: frozenset({ConnectionState.CLOSED}),
    ConnectionState.GONE: frozenset(),
    ConnectionState.CLOSED: frozenset(),
}


# The state looked at on every message: a module constant, read as a global, where an
# enum member read through its class costs several times more (on Python 3.11).
_OPEN: Final = ConnectionState.OPEN


class ConnectionStateError(RuntimeError):
    """A lifecycle transition that :class:`ConnectionState` does not allow."""


# A close waits this long for the frames queued before it (to a client that stopped
# reading) before it is sent anyway, and as long again for the server to take the close
# frame itself.
_CLOSE_SEND_WAIT = 5.0


class OpenStream(Protocol):
    """A streamed HTTP response (:mod:`gqlwire.http_stream`), as the registry sees it."""

    def operation_count(self) -> int:
        """The operations running on it."""

    async def close(self, code: int, reason: str) -> None:
        """End it (server shutdown): its operations are cancelled and the stream ends
        with what its wire format has for an end."""


class ConnectionRegistry:
    """The open connections and HTTP streams of one server, for stats, for the
    per-process limits and for closing them all."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.streams: set[OpenStream] = set()
        """Open streamed HTTP responses (SSE, multipart)."""
        self.dropped_closed = 0  # dropped messages of connections that have ended
        self.slow_consumers_closed = 0
        self.running = 0  # operations running on every connection (max_operations)
        self.refused_connections = 0
        self.refused_operations = 0
        self._closes: set[asyncio.Task[None]] = set()  # close_all()'s, while they run

    def operations(self) -> int:
        return sum(len(connection.operations) for connection in self.connections) + sum(
            stream.operation_count() for stream in self.streams
        )

    def dropped_messages(self) -> int:
        return self.dropped_closed + sum(c.dropped_messages for c in self.connections)

    async def close_all(self, code: int = SHUTDOWN.code, reason: str = SHUTDOWN.reason) -> None:
        """Close every open connection and wait for the closes to finish.

        Cancelling the caller (a timeout around this call) cancels the closes still
        running and returns at once, without waiting for them to end: a server's send
        that swallows the cancellation would otherwise hold the caller past its timeout,
        or forever.
        """
        loop = asyncio.get_running_loop()
        ending: list[Connection | OpenStream] = [*self.connections, *self.streams]
        closes = [loop.create_task(c.close(code, reason)) for c in ending]
        if not closes:
            return
        for task in closes:
            self._closes.add(task)  # a strong reference until it ends
            task.add_done_callback(self._close_done)
        try:
            await asyncio.wait(closes)
        except asyncio.CancelledError:
            for task in closes:
                task.cancel()
            raise

    def _close_done(self, task: asyncio.Task[None]) -> None:
        self._closes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("closing a connection raised %r", task.exception())


class Connection:
    """Runs one accepted WebSocket from handshake to the last hook."""

    __slots__ = (
        "__weakref__",
        "_close_code",
        "_close_reason",
        "_init_timer",
        "_keep_alive_timer",
        "_outbox",
        "_pong_timer",
        "_reader_stopped",
        "_receiver",
        "_started",
        "_state",
        "_tasks",
        "_wake",
        "context",
        "machine",
        "operations",
        "protocol",
        "registry",
        "runtime",
        "transport",
    )

    def __init__(
        self,
        runtime: ServerRuntime,
        transport: Transport,
        extra: dict[str, Any] | tuple[str, Any],
        registry: ConnectionRegistry | None = None,
        headers: Headers | RawHeaders | None = None,
    ) -> None:
        """``extra``: the context's ``extra``, or the one ``(name, value)`` pair it holds
        (see :class:`~gqlwire.context.Context`). ``headers``: the handshake's, for hooks
        (``ctx.headers``, ``ctx.cookies``), as a :class:`~gqlwire.context.Headers` or as
        the server gives them."""
        self.runtime = runtime
        self.transport = transport
        self.registry = registry
        self.protocol: str | None = None
        self.machine: ProtocolMachine | None = None
        self.context = ConnectionContext(self, extra, headers)
        self.operations: dict[OperationId, _ConnectionOperation] = {}
        # The slots of the timer wheel where each timer is due (see _TIMER_SLOT).
        self._init_timer: TimerSlot | None = None
        self._keep_alive_timer: TimerSlot | None = None
        self._pong_timer: TimerSlot | None = None
        # on_connect, and the closes of timers; created on first use (an empty set is 200 bytes,
        # and idle connections are many)
        self._tasks: set[asyncio.Task[None]] | None = None
        # Made when a frame first has to wait (see outbox): most connections write every
        # frame at once, and never need one.
        self._outbox: Outbox | None = None
        self._state = _OPEN  # changed only by _enter()
        # Not lifecycle, only how a task learns of it: set by every change of state, for
        # the serving task waiting in CLOSING for our close frame to go out; a bare
        # future made on demand, not an Event, since idle connections are many.
        self._wake: asyncio.Future[None] | None = None
        # The serving task while it is suspended in transport.receive(): the one place a
        # close from another task may cancel it (_interrupt_reader).
        self._receiver: asyncio.Task[Any] | None = None
        # Made when that receive is cancelled, so the reader knows the cancellation is
        # ours (and absorbs it); done once the reader has let go of the transport.
        self._reader_stopped: asyncio.Future[None] | None = None
        self._close_code: int = CloseCode.NORMAL_CLOSURE  # for the hooks, once it ended
        self._close_reason = ""
        self._started = False  # an operation was started by the message just read

    @property
    def options(self) -> ServerOptions:
        return self.runtime.options

    @property
    def outbox(self) -> Outbox:
        """The frames waiting to go out, made when first needed: while a connection has
        none, nothing waits, and a frame is written at once (by the transport's
        ``send_nowait``) or goes to a new outbox. Made only while the connection is open: once it is
        closing, nothing is queued any more."""
        outbox = self._outbox
        if outbox is None:
            options = self.runtime.options
            outbox = self._outbox = Outbox(
                self.transport,
                options.max_pending_messages,
                self.runtime.overflow_policy,
                owner=self,
                max_bytes=options.max_pending_bytes,
                grace=options.slow_consumer_timeout,
            )
            if self._state is not _OPEN:
                outbox.close_now()
        return outbox

    @property
    def dropped_messages(self) -> int:
        """Results dropped by the overflow policy so far."""
        return 0 if self._outbox is None else self._outbox.dropped

    # -- the whole life -------------------------------------------------------------------

    async def serve(self, offered_subprotocols: Collection[str]) -> None:
        """Accept, speak the negotiated protocol until the end, then clean up.

        ``offered_subprotocols``: the names the client offered, one per item (as
        :func:`~gqlwire.protocol.parse_protocol_header` splits the header).

        The serving task reads itself (a reader task of its own would cost every idle
        connection a task), in this one frame (every open connection keeps the frames
        of its serving task); a close sent from another task stops it first, in
        _stop_reader, with a cancellation that this method absorbs."""
        try:
            opened = await self._open(offered_subprotocols)
            del offered_subprotocols  # not kept while the connection lasts
            if not opened:
                return
            task = asyncio.current_task()
            assert task is not None
            machine = self.machine
            assert machine is not None
            # Arrival times (for the rate limit) need any monotonic clock: time.monotonic is
            # called in C, where the loop's time() is a Python call on most loops.
            loop = asyncio.get_running_loop()
            transport = self.transport
            # A transport whose receive is split is read in this frame (see SplitReceive).
            split = (
                cast(SplitReceive, transport)
                if getattr(transport, "splits_receive", False)
                else None
            )
            data: str | bytes | Again | None
            try:
                while self._state is _OPEN:
                    self._receiver = task
                    try:
                        if split is None:
                            data = await transport.receive()
                        else:
                            try:
                                message = await split.receive_message()
                            except Exception as error:
                                split.receive_failed(error)
                                data = None
                            else:
                                data = split.message_data(message)
                                del message  # not kept while waiting for the next one
                    finally:
                        self._receiver = None
                    if data is AGAIN:
                        continue
                    if data is None:
                        self._peer_gone(self.transport.close_code, self.transport.close_reason)
                        break
                    actions = machine.receive(data, monotonic())
                    # Not kept while waiting for the next message: idle connections are many.
                    del data
                    if actions:
                        # Most messages need no waiting: carried out without a coroutine,
                        # up to a Close, which waits.
                        rest = self._carry_out_until_close(actions)
                        if rest is not None:
                            await self._apply(rest)
                            del rest
                    del actions
                    if self._started:
                        # Let the operations just started run up to their first result
                        # before reading on: a burst of requests is then held by the byte
                        # budget below instead of all executing before any result was
                        # queued.
                        self._started = False
                        await asyncio.sleep(0)
                    # A client that does not read what it asked for (results, pongs) is not
                    # read either until it does, so that its requests wait in its own TCP
                    # buffers rather than in this process; it is given up on once it
                    # stalled.
                    outbox = self._outbox
                    if (
                        outbox is not None
                        and outbox.over_budget()
                        and not await outbox.wait_for_budget(self.options.slow_consumer_timeout)
                    ):
                        outbox.overflow()
            except asyncio.CancelledError:
                if self._reader_stopped is None or task.uncancel() > 0:
                    raise  # cancelled from outside as well: the server is shutting us down
            finally:
                stopped = self._reader_stopped
                if stopped is not None and not stopped.done():
                    stopped.set_result(None)
            # A close sent from another task may still be on its way: returning now would
            # let the server drop the socket before our close frame is out.
            while self._state is ConnectionState.CLOSING:
                self._wake = loop.create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
        finally:
            await self._finish()

    async def _open(self, offered_subprotocols: Collection[str]) -> bool:
        """Accept, then ``True`` once the negotiated protocol started; ``False`` when the
        connection was closed at once (too many connections, no common subprotocol)."""
        options = self.runtime.options
        # The adapters give the offered names already split (parse_protocol_header).
        self.protocol = choose_among(offered_subprotocols, options.protocols)
        registry = self.registry
        limit = options.max_connections
        over_limit = (
            registry is not None and limit is not None and len(registry.connections) >= limit
        )
        if registry is not None:
            registry.connections.add(self)
        await self.transport.accept(self.protocol)
        if over_limit:
            assert registry is not None
            registry.refused_connections += 1
            await self._close_transport(TOO_MANY_CONNECTIONS)
            return False
        if self.protocol is None:
            await self._close_transport(NO_COMMON_SUBPROTOCOL)
            return False
        self.machine = machine_for(self.protocol, self.runtime.settings)
        rest = self._carry_out_until_close(self.machine.opened())
        if rest is not None:
            await self._apply(rest)
        return True

    # -- the lifecycle's one place of change -------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """Where this connection is in its life (read-only: see :meth:`_enter`)."""
        return self._state

    def _enter(self, state: ConnectionState) -> None:
        """Move to ``state`` (raises :class:`ConnectionStateError` if the lifecycle does
        not go there from here) and wake the serving task if it waits for the end."""
        self._state = self._state.to(state)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _finish(self) -> None:
        """Cancel and await everything this connection started, then the last hooks."""
        for timer in _TIMERS:
            self._cancel_timer(timer)
        if self.machine is not None:
            self.machine.connection_lost()
        if self._outbox is not None:
            await self._outbox.stop()
        if self._state is _OPEN:
            await self._close_transport(RUNTIME_FAILURE)
        helpers = list(self._tasks or ())
        for task in helpers:
            task.cancel()
        running = list(self.operations.values())
        for operation in running:
            operation.cancel()
        operations = [operation.task for operation in running if operation.task is not None]
        await self._wait_for(helpers + operations)
        self.operations.clear()
        code, reason = self._close_code, self._close_reason
        try:
            if self.machine is not None and self.machine.acknowledged:
                await self._run_final_hook("on_disconnect", code, reason)
            await self._run_final_hook("on_close", code, reason)
        finally:
            outbox = self._outbox
            if self.registry is not None:
                self.registry.connections.discard(self)
                if outbox is not None:
                    self.registry.dropped_closed += outbox.dropped
                    self.registry.slow_consumers_closed += outbox.overflowed
            self.context.detach()

    async def _wait_for(self, tasks: list[asyncio.Task[None]]) -> None:
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.options.cleanup_timeout)
        if pending:
            logger.warning(
                "%d operation(s) did not finish their cleanup within %.1f s of the "
                "connection closing; continuing without them",
                len(pending),
                self.options.cleanup_timeout,
            )

    async def _run_final_hook(self, name: str, code: int, reason: str) -> None:
        try:
            await call_hook(getattr(self.options, name), self.context, code, reason)
        except Exception:
            logger.exception("the %s hook raised", name)

    # -- carrying out the machine's actions --------------------------------------------

    async def _apply(self, actions: Iterable[Action], *, result: bool = False) -> None:
        """Carry out actions in order. ``result``: the Sends are an operation's results,
        which wait for room in the outbox (back-pressure) instead of skipping the line."""
        for action in actions:
            if isinstance(action, Close):
                await self._close_transport(action)
            elif result and isinstance(action, Send):
                if self._state is _OPEN:
                    await self.outbox.put_result(action.text)
            else:
                self._carry_out(action)

    def _carry_out(self, action: Action) -> None:
        """One action that needs no waiting: every kind but ``Close`` (and an
        operation's results, which wait for room in the outbox). Found by the action's
        type in one look-up: a connection's start carries out half a dozen."""
        carry_out = _CARRY_OUT.get(type(action))
        if carry_out is not None:
            carry_out(self, action)

    def _send(self, action: Send) -> None:
        # Without an outbox nothing is queued: written at once if the transport takes it
        # (the outbox's own first step).
        if self._state is _OPEN and (
            self._outbox is not None or not self.transport.send_nowait(action.text)
        ):
            self.outbox.put_control(action.text)

    def _cancel_operation(self, action: CancelOperation) -> None:
        operation = self.operations.pop(action.id, None)
        if operation is not None:
            operation.cancel()

    def _answer_init(self, _action: Authenticate) -> None:
        if self.runtime.options.on_connect is None:
            # Nothing to wait for, so no task: the answer is carried out from the
            # loop's next turn, where the task's first step would have run (a
            # subscribe read before it is still answered as before the ack).
            asyncio.get_running_loop().call_soon(self._acknowledge)
        else:
            self._spawn(self._authenticate())

    async def _close_transport(self, close: Close) -> None:
        """Send our close frame: at most once, and never after the peer is gone."""
        if self._state is not _OPEN:
            return
        self._enter(ConnectionState.CLOSING)
        code, reason = close.code, close.reason
        self._close_code, self._close_reason = code, reason
        try:
            # What was queued before the close goes first (an `error`, then 4400...),
            # unless the client stopped reading: then it is dropped. A slow consumer is
            # known to have stopped, so nothing is waited for.
            outbox = self._outbox
            if outbox is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_CLOSE_SEND_WAIT):
                        await flush_transport(self.transport)
            else:
                if not outbox.overflowed:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_CLOSE_SEND_WAIT):
                            await outbox.flush()
                await outbox.stop()
            await self._stop_reader()
            try:
                async with asyncio.timeout(_CLOSE_SEND_WAIT):
                    await self.transport.close(code, reason)
            except TimeoutError:
                # An ASGI server whose write buffer is full (the client stopped
                # reading) holds our close frame until the client reads. Giving up lets
                # the application return, and the server then drops the socket.
                logger.debug("close frame not taken within %.0f s: given up", _CLOSE_SEND_WAIT)
        finally:
            self._enter(ConnectionState.CLOSED)

    async def _stop_reader(self) -> None:
        """Stop a receive in progress before closing: granian holds back our close
        frame while another task waits in ``receive()``.

        Only a task suspended in ``receive()`` is cancelled: anywhere else the
        cancellation could land in code that does not expect it.
        """
        stopped = self._interrupt_reader()
        if stopped is not None:
            await stopped

    def _interrupt_reader(self) -> asyncio.Future[None] | None:
        """Cancel the serving task's receive, if it is waiting in one (and is not us);
        the future that is done once the reader let go, or ``None`` if none was waiting.

        Called only once ``OPEN`` is left (by our close or by the peer going), so at most
        once; the check stays because a second cancellation would not be absorbed."""
        receiver = self._receiver
        if receiver is None or receiver is asyncio.current_task():
            return None
        stopped = self._reader_stopped
        if stopped is None:
            stopped = self._reader_stopped = asyncio.get_running_loop().create_future()
            receiver.cancel()
        return stopped

    def _peer_gone(self, code: int | None, reason: str) -> None:
        if self._state is not _OPEN:
            return  # our close is under way (it will fail quietly), or already done
        self._enter(ConnectionState.GONE)
        self._close_code = PEER_GONE_CODE if code is None else code
        self._close_reason = reason
        if self.machine is not None:
            self.machine.connection_lost()
        # Found by a failed send: the receive may never return (some servers report a
        # dropped client only to a send), so it is stopped rather than waited for.
        self._interrupt_reader()

    def outbox_gone(self) -> None:
        """The outbox's writer failed: the peer is gone (see :class:`OutboxOwner`)."""
        self._peer_gone(PEER_GONE_CODE, "")

    def outbox_overflowed(self) -> None:
        """The outbox overflowed under the close policy: the client is not keeping up."""
        if self.machine is not None and self._state is _OPEN:
            close = self.machine.close(SLOW_CONSUMER.code, SLOW_CONSUMER.reason)
            self._spawn(self._apply(close))

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        tasks.add(task)
        task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        tasks = self._tasks
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                self._tasks = None

    def _start_timer(self, action: StartTimer) -> None:
        """(Re)start a timer: the one of its kind already running is cancelled."""
        kind = _TIMER_KIND[action.timer]
        name = _TIMER_SLOT[kind]
        running: TimerSlot | None = getattr(self, name)
        if running is not None:
            running.cancel(self, kind)
        setattr(self, name, start_timer(self, kind, action.delay))

    def _cancel_timer_action(self, action: CancelTimer) -> None:
        self._cancel_timer(action.timer)

    def _cancel_timer(self, timer: Timer) -> None:
        kind = _TIMER_KIND[timer]
        slot: TimerSlot | None = getattr(self, _TIMER_SLOT[kind])
        if slot is not None:
            setattr(self, _TIMER_SLOT[kind], None)
            slot.cancel(self, kind)

    def timer_due(self, kind: int) -> None:
        """A timer of this connection is due (called by the timer wheel)."""
        setattr(self, _TIMER_SLOT[kind], None)
        if self.machine is None or self._state is not _OPEN:
            return
        self._carry_out_now(self.machine.timer_fired(_TIMERS[kind]))

    def _carry_out_now(self, actions: list[Action]) -> None:
        """Actions from a callback of the loop: carried out at once, without a task
        (a ping is a ``Send`` and a ``StartTimer``), unless one is a ``Close``, which
        waits for the frames queued before it."""
        rest = self._carry_out_until_close(actions)
        if rest is not None:
            self._spawn(self._apply(rest))

    def _carry_out_until_close(self, actions: list[Action]) -> list[Action] | None:
        """Carry out ``actions`` in order up to the first ``Close``, and return it with
        the actions after it (for :meth:`_apply`, which waits); ``None`` when there was
        none. One loop and one look-up per action: a connection's start carries out
        half a dozen."""
        carry_out = _CARRY_OUT
        for action in actions:
            kind = type(action)
            if kind is Close:
                return actions[actions.index(action) :]
            carry_out[kind](self, action)
        return None

    # -- hooks and operations -------------------------------------------------------------

    async def _authenticate(self) -> None:
        machine = self.machine
        assert machine is not None
        try:
            result = await call_hook(self.options.on_connect, self.context)
        except Exception as error:
            await self._apply(machine.connect_failed(self._reason_for(error, "on_connect")))
            return
        await self._apply(machine.connect_result(result))

    def _acknowledge(self) -> None:
        """``connection_init`` answered when there is no ``on_connect`` hook."""
        machine = self.machine
        assert machine is not None
        # Nothing once the connection ended.
        self._carry_out_now(machine.connect_result(None))

    def _start_operation(self, action: StartOperation) -> None:
        id = action.id
        registry = self.registry
        limit = self.runtime.options.max_operations
        inline = self.runtime.starts_operations_inline()
        operation = _ConnectionOperation(self, id, action.payload, inline=inline)
        self.operations[id] = operation
        if registry is not None:
            registry.running += 1
        if registry is not None and limit is not None and registry.running > limit:
            registry.refused_operations += 1
            operation.start(self._refuse_operation(operation, limit))
            return
        if not inline:
            operation.start(operation.run())
            self._started = True
            return
        # Its first steps here, in a context of its own as a task would have: a shared
        # subscription usually joins its group and parks without ever needing a task
        # (one task, its context and two loop turns fewer per subscription).
        coroutine = operation.run()
        context = copy_context()
        try:
            waiting_on = context.run(coroutine.send, None)
        except StopIteration:
            operation.ended_inline()
            return
        operation.start(_carry_on(coroutine, waiting_on), context)
        self._started = True

    async def _refuse_operation(self, operation: _ConnectionOperation, limit: int) -> None:
        """The server runs ``max_operations`` already: this one gets an ``error``."""
        message = f"Operation limit reached: this server runs at most {limit} operations at once"
        await self.errors(operation, [{"message": message}], ErrorStage.REQUEST)

    def _forget_operation(self, operation: _ConnectionOperation) -> None:
        """``operation`` ended (its last task, and it is not parked)."""
        if self.registry is not None:
            self.registry.running -= 1
        # A new operation may have taken this id meanwhile: only remove our own.
        if self.operations.get(operation.id) is operation:
            del self.operations[operation.id]
        operation.ended()

    def _reason_for(self, error: Exception, where: str) -> str:
        """What the client is told about an exception from application code."""
        if isinstance(error, ServerError):
            return str(error)
        logger.error("%s raised %s: %s", where, type(error).__name__, error, exc_info=error)
        if self.options.debug:
            return limit_close_reason(str(error))
        return INTERNAL_SERVER_ERROR_REASON

    # -- what operations report (see _ConnectionOperation) -------------------------------

    # Each report first checks that the operation still owns its id: a cancelled
    # operation whose code turned the cancellation into another exception must not end
    # a newer operation that reused the id.

    def _owner(self, operation: _ConnectionOperation) -> ProtocolMachine | None:
        if self.operations.get(operation.id) is not operation:
            return None
        return self.machine

    def is_active(self, operation: _ConnectionOperation) -> bool:
        machine = self._owner(operation)
        return machine is not None and self._state is _OPEN and machine.is_active(operation.id)

    async def next(self, operation: _ConnectionOperation, payload: dict[str, Any]) -> None:
        if machine := self._owner(operation):
            await self._apply(machine.operation_next(operation.id, payload), result=True)

    async def errors(
        self, operation: _ConnectionOperation, errors: list[dict[str, Any]], stage: ErrorStage
    ) -> None:
        if machine := self._owner(operation):
            await self._apply(machine.operation_errors(operation.id, errors, stage))

    async def complete(self, operation: _ConnectionOperation) -> None:
        if machine := self._owner(operation):
            await self._apply(machine.operation_complete(operation.id))

    def deliver(self, operation: _ConnectionOperation, tail: bytes) -> bool:
        if (
            self.operations.get(operation.id) is not operation
            or self._state is not _OPEN
            or self.machine is None
            or (self._outbox is not None and self._outbox.overflowed)  # the close is on its way
        ):
            return True  # not ours to send any more: nothing to wait for
        frame = self.machine.encoded_next(operation.id, tail)
        if frame is None or (self._outbox is None and self.transport.send_nowait(frame)):
            return True  # written at once, with nothing queued before it (see _send)
        return self.outbox.offer_result(frame)

    async def failed(self, operation: _ConnectionOperation, error: Exception) -> None:
        reason = self._reason_for(error, f"operation {operation.id!r}")
        if machine := self._owner(operation):
            await self._apply(machine.operation_failed(operation.id, reason))

    # -- control from outside -----------------------------------------------------------

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close from application code or on server shutdown."""
        if self.machine is not None:
            await self._apply(self.machine.close(code, reason))
        else:
            await self._close_transport(Close(code, reason))

    # -- what the context reads (see gqlwire.context.WebSocketConnection) ---------------

    @property
    def connection_init_received(self) -> bool:
        return self.machine is not None and self.machine.init_received

    @property
    def acknowledged(self) -> bool:
        return self.machine is not None and self.machine.acknowledged

    @property
    def connection_params(self) -> dict[str, Any] | None:
        return self.machine.connection_params if self.machine is not None else None

    def __repr__(self) -> str:
        return (
            f"<Connection {self._state.name} protocol={self.protocol!r} "
            f"operations={len(self.operations)}>"
        )


_CARRY_OUT: Final[dict[type[Any], Callable[[Connection, Any], None]]] = {
    Send: Connection._send,
    StartOperation: Connection._start_operation,
    CancelOperation: Connection._cancel_operation,
    Authenticate: Connection._answer_init,
    StartTimer: Connection._start_timer,
    CancelTimer: Connection._cancel_timer_action,
}
"""How :meth:`Connection._carry_out` carries out each kind of action (``Close`` waits,
and is :meth:`Connection._apply`'s)."""


async def _carry_on(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """The rest of a coroutine that was stepped outside any task and suspended, waiting
    on ``waiting_on`` (what it yielded), as the body of its task (a native coroutine,
    which every Python's tasks accept)."""
    await _pass_on(coroutine, waiting_on)


@types.coroutine
def _pass_on(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> Generator[Any, Any, None]:
    """Wait on ``waiting_on``, then pass every value and exception (a cancellation) on
    to ``coroutine``, as ``await`` would have, until it returns."""
    while True:
        try:
            value = yield waiting_on
        except BaseException as error:
            try:
                waiting_on = coroutine.throw(error)
            except StopIteration:
                return
        else:
            try:
                waiting_on = coroutine.send(value)
            except StopIteration:
                return


class _ConnectionOperation(Operation):
    """One operation of a connection, which is also where its results go (a
    :class:`~gqlwire.operation.ResultSink`), how a shared subscription offers it events
    (a :class:`~gqlwire.sharing.Member`, whose flow control is the outbox's) and how it
    waits for its group without a task (:class:`~gqlwire.operation.Parking`): one
    object per operation, and idle subscribed connections are many. The connection
    keeps it in ``operations``.

    An operation runs in a task; a shared subscription that joined its group *parks*:
    its task ends, and a new one runs the rest of the operation once the group ends for
    it (the group tells it, see
    :meth:`~gqlwire.sharing.SharedSubscriptions.enter_told`) or it is cancelled. A task
    waiting for its group kept a task, its context and two coroutines each.

    Being its own sink, member and parking, it refers to itself: the connection lets
    go of these references once the operation ended (:meth:`ended`), so that it is
    freed by reference counting, not by a garbage collection.
    """

    __slots__ = ("_connection", "_is_parked", "_parked_context", "task")

    id: OperationId

    def __init__(
        self, connection: Connection, id: OperationId, payload: JSONObject, *, inline: bool
    ) -> None:
        super().__init__(
            connection.runtime,
            connection.context,
            id,
            payload,
            self,
            member=self,
            parking=self,
            incremental_delivery=True,  # one message per result, on both subprotocols
            inline=inline,
        )
        self._connection = connection
        self.task: asyncio.Task[None] | None = None
        """The task running the operation now (``None`` while parked)."""
        self._is_parked = False
        self._parked_context: Context | None = None  # while parked, if it has variables

    def start(self, coroutine: Coroutine[Any, Any, None], context: Context | None = None) -> None:
        task = self.task = asyncio.get_running_loop().create_task(coroutine, context=context)
        task.add_done_callback(self._task_done)

    def ended_inline(self) -> None:
        """The operation's coroutine ran to its end (or parked) without a task."""
        if self.task is None and not self._is_parked:
            self._connection._forget_operation(self)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # Let go of the task: a finished task keeps its exception, whose traceback holds
        # this operation, which would form a cycle.
        if self.task is task:
            self.task = None
        if self.task is None and not self._is_parked:
            self._connection._forget_operation(self)

    def ended(self) -> None:
        """The operation ended (its last task, and it is not parked): it reports nothing
        more, and lets go of itself."""
        self.sink = _ENDED
        self.member = self.parking = None

    def park(self, operation: Operation) -> None:
        """See :class:`~gqlwire.operation.Parking` (``operation`` is this one). The rest
        runs in the context the operation had when it parked, as it would have in its
        own task; an operation whose context holds no variable keeps none (one context
        fewer per parked operation)."""
        copied = copy_context()
        self._is_parked, self._parked_context = True, (copied if len(copied) else None)

    def group_ended(self, end: GroupEnd) -> None:
        """The parked operation's group ended for it: the rest runs now."""
        self._resume(end)

    def _resume(self, end: GroupEnd | None) -> None:
        """Run the rest of the parked operation in a new task; ``end`` is ``None`` when it
        was cancelled. Once only: a group that ends for an operation cancelled meanwhile
        changes nothing."""
        if not self._is_parked:
            return
        context = self._parked_context
        self._is_parked, self._parked_context = False, None
        self.start(self.end_parked(end), Context() if context is None else context)

    def cancel(self) -> None:
        """Cancel the operation: its task, or, while parked, its wait (the rest then
        runs at once, and sees the cancellation where it waited)."""
        task = self.task
        if task is not None:
            task.cancel()
        if self._is_parked:
            self._resume(None)

    # -- ResultSink and Member: reported to the connection --------------------------------

    def is_active(self) -> bool:
        return self._connection.is_active(self)

    async def next(self, payload: JSONObject) -> None:
        await self._connection.next(self, payload)

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        await self._connection.errors(self, errors, stage)

    async def complete(self) -> None:
        await self._connection.complete(self)

    async def failed(self, error: Exception) -> None:
        await self._connection.failed(self, error)

    def deliver(self, tail: bytes, cursor: str | None = None) -> bool:
        return self._connection.deliver(self, tail)

    async def wait_for_room(self, grace: float) -> bool:
        outbox = self._connection._outbox
        return True if outbox is None else await outbox.wait_for_room(grace)

    def overflow(self) -> None:
        self._connection.outbox.overflow()


class _EndedSink:
    """Where an ended operation's outcomes go: nowhere (it reports nothing more)."""

    __slots__ = ()

    def is_active(self) -> bool:
        return False

    async def next(self, payload: JSONObject) -> None:
        pass

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        pass

    async def complete(self) -> None:
        pass

    async def failed(self, error: Exception) -> None:
        pass


_ENDED: Final = _EndedSink()


__all__ = [
    "Connection",
    "ConnectionRegistry",
    "ConnectionState",
    "ConnectionStateError",
    "OpenStream",
]
