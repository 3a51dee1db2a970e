"""Timers for many connections at once: one event-loop handle per moment, not per timer.

Every WebSocket connection keeps a keep-alive timer running for its whole life (and an
init timer at first, a pong timer after each ping). One ``loop.call_later`` handle per
timer per connection costs a handle object per connection and a heap operation per
start and per cancel, every ``keep_alive`` seconds, for every connection. Here the
timers of every connection of one event loop are gathered into slots: moments on a grid,
each with one loop handle, holding the timers due by then. Starting a timer adds an
entry to a slot (made, with its handle, if none is armed for that moment yet);
cancelling removes it (the slot's handle is cancelled once its last entry is gone, so
nothing is left on the loop for timers that will never fire); when the slot's moment
comes, each of its timers fires.

**When a timer fires.** Never before its delay; late by at most the grid step of its
delay: the largest power of two of seconds not above ``delay / 16``, but at least
1/256 s and at most 1 s (12 s fire within 0.5 s after; 3 s within 1/8 s; 0 s within
1/256 s), plus whatever the loop is behind by, as for any callback. The step grows with
the delay so that the error stays a small share of it, while the timers started within
one step share a slot, whatever their number: a slot per step, not per connection.
Powers of two keep the grid points exact in floating point, so that equal moments are
equal keys.

**What an owner holds.** A timer is an entry in a slot: its owner (a connection) and a
kind, a small integer; a slot keeps one integer per owner, the bits of its kinds due
there. :func:`start_timer` returns the slot, which the owner keeps to cancel the timer
later (:meth:`TimerSlot.cancel`): no object is made per timer. A slot holds its owners
strongly until they fire or cancel, so an owner cancels its timers when it ends.

One :class:`TimerWheel` per event loop, found by :func:`start_timer` from the running
loop; it holds no reference to the loop, which it is kept by (through the slots'
handles) only while a timer is pending.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from typing import Final, Protocol

FINEST_STEP: Final = 1 / 256
"""Seconds: the grid step of short delays (0 included)."""

COARSEST_STEP: Final = 1.0
"""Seconds: the grid step of delays of 16 s and more."""


class TimerOwner(Protocol):
    """What has timers: told of each one that is due."""

    def timer_due(self, kind: int) -> None:
        """The timer of ``kind`` (as passed to :func:`start_timer`) is due."""


def step_for(delay: float) -> float:
    """The grid step of a timer of ``delay`` seconds: how late it may fire at most."""
    if delay >= 16 * COARSEST_STEP:
        return COARSEST_STEP
    if delay <= 16 * FINEST_STEP:
        return FINEST_STEP
    # The largest power of two not above delay / 16 (frexp: delay / 16 = m * 2**e,
    # with 0.5 <= m < 1).
    return math.ldexp(0.5, math.frexp(delay / 16)[1])


# The steps of the delays seen: a connection's delays are the server's few settings.
_steps: dict[float, float] = {}
_MAX_STEPS_REMEMBERED: Final = 64


def _step_remembered(delay: float) -> float:
    if len(_steps) >= _MAX_STEPS_REMEMBERED:
        _steps.clear()  # many distinct delays: remembering them would only grow
    step = _steps[delay] = step_for(delay)
    return step


class TimerSlot:
    """One moment of the grid: the timers due by then, and the loop handle that fires
    them."""

    __slots__ = ("_entries", "_handle", "_wheel", "when")

    def __init__(self, wheel: TimerWheel, when: float) -> None:
        self._wheel = wheel
        self.when = when
        """The loop time at which its timers fire."""
        # Each owner's kinds due here, as bits: a small int, no object per timer.
        self._entries: dict[TimerOwner, int] = {}
        # None once it fires (or is given up): then it is no longer the wheel's.
        self._handle: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        """The timers still due in this slot."""
        return sum(mask.bit_count() for mask in self._entries.values())

    def cancel(self, owner: TimerOwner, kind: int) -> None:
        """The timer of ``owner`` and ``kind`` in this slot will not fire (nothing if it
        already did, or was cancelled)."""
        entries = self._entries
        mask = entries.get(owner, 0) & ~(1 << kind)
        if mask:
            entries[owner] = mask
        else:
            entries.pop(owner, None)
        handle = self._handle
        if not entries and handle is not None:
            # Nothing left to fire: neither the loop nor the wheel keeps it.
            handle.cancel()
            self._handle = None
            del self._wheel._slots[self.when]

    def _fire(self) -> None:
        self._handle = None
        del self._wheel._slots[self.when]
        entries = self._entries
        # A timer may cancel another of this slot (of its owner or another): each entry
        # is looked up again just before it fires. A timer started meanwhile goes to a
        # later slot, the loop's time being past this one's.
        for owner, mask in list(entries.items()):
            for kind in range(mask.bit_length()):
                bit = 1 << kind
                current = entries.get(owner, 0)
                if not current & bit:
                    continue
                if current == bit:
                    del entries[owner]
                else:
                    entries[owner] = current & ~bit
                self._run(owner, kind)

    @staticmethod
    def _run(owner: TimerOwner, kind: int) -> None:
        # One owner's failure must not keep the others' timers from firing: reported as
        # the loop reports a failing callback.
        try:
            owner.timer_due(kind)
        except Exception as error:
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"timer {kind} of {owner!r} failed", "exception": error}
            )

    def __repr__(self) -> str:
        return f"<TimerSlot when={self.when} timers={len(self)}>"


class TimerWheel:
    """The armed slots of one event loop, by moment."""

    __slots__ = ("__weakref__", "_monotonic", "_slots")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """``loop``: the loop it serves, only to learn its clock (it is not kept)."""
        self._slots: dict[float, TimerSlot] = {}
        # asyncio's own loops tell the time with time.monotonic(), which is called here
        # directly: their time() is one more Python call per timer started.
        self._monotonic = loop is not None and type(loop).time is asyncio.BaseEventLoop.time

    def start(
        self, loop: asyncio.AbstractEventLoop, owner: TimerOwner, kind: int, delay: float
    ) -> TimerSlot:
        """Call ``owner.timer_due(kind)`` in ``delay`` seconds (at most
        :func:`step_for` ``(delay)`` late); the slot to cancel it with."""
        if delay < 0:
            delay = 0.0
        step = _steps.get(delay)
        if step is None:
            step = _step_remembered(delay)
        # The first grid point after the due time: never early, at most one step late.
        now = time.monotonic() if self._monotonic else loop.time()
        when = (math.floor((now + delay) / step) + 1) * step
        slot = self._slots.get(when)
        if slot is None:
            slot = self._slots[when] = TimerSlot(self, when)
            slot._handle = loop.call_at(when, slot._fire)
        entries = slot._entries
        entries[owner] = entries.get(owner, 0) | (1 << kind)
        return slot

    def armed(self) -> int:
        """The slots waiting for their moment, each with one loop handle."""
        return len(self._slots)

    def pending(self) -> int:
        """The timers waiting to fire."""
        return sum(len(slot) for slot in self._slots.values())


_wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TimerWheel] = (
    weakref.WeakKeyDictionary()
)


# The last loop asked for and its wheel, both weakly: a process has one running loop
# (per thread) most of the time, and the weak dictionary's look-up costs more.
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], weakref.ref[TimerWheel]] | None = None


def wheel_for(loop: asyncio.AbstractEventLoop) -> TimerWheel:
    """The timer wheel of ``loop``, made on first use."""
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        wheel = last[1]()
        if wheel is not None:
            return wheel
    wheel = _wheels.get(loop)
    if wheel is None:
        wheel = _wheels[loop] = TimerWheel(loop)
    _last = (weakref.ref(loop), weakref.ref(wheel))
    return wheel


def start_timer(owner: TimerOwner, kind: int, delay: float) -> TimerSlot:
    """On the running loop's wheel: call ``owner.timer_due(kind)`` in ``delay`` seconds
    (see the module's docstring for how late at most). ``kind``: a small integer,
    distinct for each timer an owner may have at once."""
    loop = asyncio.get_running_loop()
    # wheel_for's first look-up, in this frame: every connection starts a timer or two.
    last = _last
    wheel = last[1]() if last is not None and last[0]() is loop else None
    if wheel is None:
        wheel = wheel_for(loop)
    return wheel.start(loop, owner, kind, delay)


__all__ = [
    "COARSEST_STEP",
    "FINEST_STEP",
    "TimerOwner",
    "TimerSlot",
    "TimerWheel",
    "start_timer",
    "step_for",
    "wheel_for",
]
