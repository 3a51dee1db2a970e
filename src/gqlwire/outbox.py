"""The frames waiting to go out on one socket, and the one task that writes them.

Every frame of a connection passes through its outbox, in order, once it has one: a
connection makes its outbox when a frame first cannot be written at once, and until then
writes each frame straight to the transport (nothing is queued, so the order holds). The
outbox is bounded in results (``max_pending_messages``) and in bytes (``max_pending_bytes``, every
frame counted, control frames included), and never lets a slow client hold anyone else:

* an operation that produces its own results *waits* for room, so it is slowed to
  its client's pace and nothing is lost (the reference's back-pressure), as long as the
  client makes progress: once it wrote nothing for ``slow_consumer_timeout`` seconds
  while the outbox is full, it is given up on (closed with 1013), so a client that
  stopped reading holds no memory for long;
* a shared subscription's publisher *offers* frames: when an outbox is full, the
  overflow policy decides. ``drop_oldest`` drops that client's oldest undelivered result
  at once. ``close`` holds the publisher while the client's writer still makes progress
  (a slow transport is not a stalled client) and closes the client once it wrote
  nothing for ``slow_consumer_timeout`` seconds;
* control frames (pong, ack, protocol errors) are never dropped and never wait: the
  receive loop that sends them must not be held by an operation. They count against
  the byte budget, and the receive loop stops reading while the budget is spent
  (:meth:`Outbox.over_budget`), so a client that sends pings and reads nothing fills
  its own TCP buffers, not the server's memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from .adapters.base import Frame, Transport


class OverflowPolicy(StrEnum):
    """What happens to a connection whose outbox is full when a shared event arrives."""

    CLOSE = "close"
    """Close it with 1013 ``Slow consumer``: the client reconnects and resubscribes."""
    DROP_OLDEST = "drop_oldest"
    """Drop its oldest undelivered result (never a control frame) and count it."""


class OutboxOwner(Protocol):
    """Who is told when an outbox gives up (the connection whose frames it holds)."""

    def outbox_gone(self) -> None:
        """A write failed: the peer is gone."""

    def outbox_overflowed(self) -> None:
        """The client stopped reading (the close policy gave up on it)."""


class Outbox:
    """A bounded queue of text frames, written directly when the transport can take
    them at once and by a writer task otherwise."""

    __slots__ = (
        "_bytes",
        "_closed",
        "_frames",
        "_grace",
        "_limit",
        "_max_bytes",
        "_owner",
        "_policy",
        "_results",
        "_room",
        "_transport",
        "_writer",
        "dropped",
        "overflowed",
        "written",
    )

    def __init__(
        self,
        transport: Transport,
        limit: int | None,
        policy: OverflowPolicy,
        *,
        owner: OutboxOwner,
        max_bytes: int | None = None,
        grace: float | None = None,
    ) -> None:
        """``limit``: results queued at most; ``max_bytes``: bytes queued at most (the
        frame that crosses it is still taken); ``grace``: seconds an operation waits for
        room without any frame being written before the client counts as stalled
        (``None``: it waits as long as it takes)."""
        self._transport = transport
        self._limit = limit
        self._max_bytes = max_bytes
        self._grace = grace
        self._bytes = 0  # length of every queued frame (characters of a str, bytes)
        self._policy = policy
        # The owner itself rather than two of its bound methods: two objects less per
        # connection, and idle connections are many.
        self._owner: OutboxOwner | None = owner
        # (frame, droppable): results may be dropped by the policy, control frames never.
        # Created on first use, like the writer and the event below: most connections
        # never queue anything, and thousands of idle ones should cost little.
        self._frames: deque[tuple[Frame, bool]] | None = None
        self._results = 0  # droppable frames queued: only they count against the limit
        self._room: asyncio.Event | None = None  # set when a queued result was written
        self._writer: asyncio.Task[None] | None = None  # runs only while frames are queued
        self._closed = False
        self.dropped = 0
        self.written = 0
        self.overflowed = False

    # -- putting frames in --------------------------------------------------------------

    def put_control(self, frame: str) -> None:
        """Queue a control frame: never waits, never dropped."""
        self._append(frame, droppable=False)

    async def put_result(self, frame: str) -> None:
        """Queue an operation's own result, waiting while the outbox is full. A client
        that wrote nothing for ``grace`` seconds meanwhile is given up on
        (:meth:`overflow`) and the result is not queued."""
        while self._full() and not self._closed:
            grace = self._grace
            if grace is None:
                await self._room_event().wait()
            elif not await self.wait_for_room(grace):
                self.overflow()
                return
        self._append(frame, droppable=True)

    def offer_result(self, frame: Frame) -> bool:
        """Queue a shared result without waiting. ``False`` means the outbox is full
        under the close policy: the publisher may :meth:`wait_for_room`, then offer
        again or give up with :meth:`overflow`."""
        if self._closed:
            return True  # a closing connection takes nothing more; nothing to wait for
        if self._writer is None:
            # Nothing queued, so there is room: the common case of a fan-out, inlined.
            if self._transport.send_nowait(frame):
                self.written += 1
                return True
        elif self._full():
            if self._policy is OverflowPolicy.CLOSE:
                return False
            while self._full() and self._drop_oldest_result():
                pass
        self._queue(frame, droppable=True)
        return True

    async def wait_for_room(self, grace: float) -> bool:
        """Wait for room as long as the writer makes progress; ``False`` once it wrote
        nothing for ``grace`` seconds (the client stopped reading).

        A slow transport (granian hands every frame to another thread) is not a stalled
        client: the publisher is held to its pace instead of cutting it off.
        """
        return await self._wait_while_progressing(self._full, grace)

    async def wait_for_budget(self, grace: float) -> bool:
        """Wait until the queued bytes are under the budget again, as long as the
        writer makes progress; ``False`` once it wrote nothing for ``grace`` seconds."""
        return await self._wait_while_progressing(self.over_budget, grace)

    async def _wait_while_progressing(self, blocked: Callable[[], bool], grace: float) -> bool:
        while blocked() and not self._closed:
            written = self.written
            try:
                async with asyncio.timeout(grace):
                    await self._room_event().wait()
            except TimeoutError:
                if self.written == written:
                    return False
        return True

    def overflow(self) -> None:
        """Give up on this client (close policy): reported once."""
        if not self.overflowed:
            self.overflowed = True
            if self._owner is not None:
                self._owner.outbox_overflowed()

    def over_budget(self) -> bool:
        """Whether the queued frames hold the whole byte budget (or more)."""
        return self._max_bytes is not None and self._bytes >= self._max_bytes

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def _full(self) -> bool:
        return (self._limit is not None and self._results >= self._limit) or (
            self._max_bytes is not None and self._bytes >= self._max_bytes
        )

    def _room_event(self) -> asyncio.Event:
        """The event the writer sets when a queued result leaves, cleared for a wait."""
        room = self._room
        if room is None:
            room = self._room = asyncio.Event()
        room.clear()
        return room

    def _append(self, frame: Frame, *, droppable: bool) -> None:
        if self._closed:
            return
        if self._writer is None and self._transport.send_nowait(frame):
            # Nothing queued and the transport took it at once. This skips a task
            # switch per frame, which is most of the cost of a delivery when one event
            # goes to thousands of sockets.
            self.written += 1
            return
        self._queue(frame, droppable=droppable)

    def _queue(self, frame: Frame, *, droppable: bool) -> None:
        """Queue behind what is queued, starting the writer if none runs."""
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        frames = self._frames
        if frames is None:
            frames = self._frames = deque()
        frames.append((frame, droppable))
        self._bytes += len(frame)
        if droppable:
            self._results += 1

    def _drop_oldest_result(self) -> bool:
        """Drop the oldest queued result; ``False`` if only control frames are queued."""
        frames = self._frames
        if frames is None:
            return False
        for index, (frame, droppable) in enumerate(frames):
            if droppable:
                del frames[index]
                self._results -= 1
                self._bytes -= len(frame)
                self.dropped += 1
                return True
        return False

    # -- writing them out ---------------------------------------------------------------

    async def _write(self) -> None:
        """Drain the queue, then end: the next frame finds the transport ready again
        or starts a new writer."""
        frames = self._frames
        assert frames is not None
        try:
            while frames:
                frame, droppable = frames.popleft()
                self._bytes -= len(frame)
                if droppable:
                    self._results -= 1
                room = self._room
                if room is not None and not room.is_set():
                    room.set()  # whoever waits checks again what it waits for
                if not await self._transport.send(frame):
                    self._closed = True
                    frames.clear()
                    self._bytes = 0
                    self._release()
                    if self._owner is not None:
                        self._owner.outbox_gone()
                    return
                del frame  # not held while the next send waits
                self.written += 1
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None

    async def flush(self) -> None:
        """Wait until everything queued has been handed to the transport."""
        while (writer := self._writer) is not None and writer is not asyncio.current_task():
            await asyncio.wait([writer])
        await flush_transport(self._transport)

    def close_now(self) -> None:
        """Take nothing from now on and report nothing: :meth:`stop` for an outbox that
        never queued a frame (so has no writer to wait for)."""
        self._closed = True
        self._owner = None

    async def stop(self) -> None:
        """Drop what is still queued and stop the writer (before our close frame)."""
        self._closed = True
        if self._frames is not None:
            self._frames.clear()
        self._frames = None
        self._results = 0
        self._bytes = 0
        self._release()
        # The owner holds this outbox: dropped, so that a stopped outbox and its
        # connection are freed by reference counting. Nothing is reported once stopped.
        self._owner = None
        writer = self._writer
        if writer is not None and not writer.done() and writer is not asyncio.current_task():
            writer.cancel()
            await asyncio.wait([writer])
        # Once ended by a cancellation, the task keeps a traceback that holds this outbox.
        self._writer = None

    def _release(self) -> None:
        if self._room is not None:
            self._room.set()  # operations waiting for room must not wait forever

    def __len__(self) -> int:
        return len(self._frames) if self._frames is not None else 0


async def flush_transport(transport: Transport) -> None:
    """Wait until ``transport`` has finished the frames it took at once: an ASGI
    transport may still be writing one (its server suspended the send), and that frame
    goes before a close too."""
    wait_sent = getattr(transport, "wait_sent", None)
    if wait_sent is not None:
        await wait_sent()
