"""The timer wheel (gqlwire.timers): when timers fire, how they are cancelled, and what
is left on the loop.

Most tests drive a wheel with a loop of their own whose clock only moves when told, so
that which slot a timer lands in and when it fires are exact, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import gc
import random
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from gqlwire.timers import (
    COARSEST_STEP,
    FINEST_STEP,
    TimerSlot,
    TimerWheel,
    start_timer,
    step_for,
    wheel_for,
)


class ManualHandle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualLoop:
    """The two methods of a loop the wheel uses, on a clock moved by :meth:`advance`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.handles: list[ManualHandle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> ManualHandle:
        handle = ManualHandle(when, callback)
        self.handles.append(handle)
        return handle

    def pending(self) -> list[ManualHandle]:
        return [h for h in self.handles if not h.cancelled]

    def advance(self, seconds: float) -> None:
        """Move the clock, running each handle due by then at its moment, in order."""
        end = self.now + seconds
        while due := sorted((h for h in self.pending() if h.when <= end), key=lambda h: h.when):
            self.now = max(self.now, due[0].when)
            due[0].cancelled = True  # run once, as the loop does
            due[0].callback()
        self.now = end


class Owner:
    """Records the kinds of its timers that came due, and the clock when they did."""

    def __init__(self, loop: ManualLoop, on_due: Callable[[int], None] | None = None) -> None:
        self.loop = loop
        self.due: list[tuple[int, float]] = []
        self.on_due = on_due

    def timer_due(self, kind: int) -> None:
        self.due.append((kind, self.loop.time()))
        if self.on_due is not None:
            self.on_due(kind)


def start(wheel: TimerWheel, loop: ManualLoop, owner: Owner, kind: int, delay: float) -> TimerSlot:
    return wheel.start(loop, owner, kind, delay)  # type: ignore[arg-type]


# -- the grid -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "step"),
    [(0, FINEST_STEP), (0.01, FINEST_STEP), (1, 1 / 16), (3, 1 / 8), (12, 0.5), (16, 1), (600, 1)],
)
def test_the_step_is_the_power_of_two_under_a_sixteenth_of_the_delay(
    delay: float, step: float
) -> None:
    assert step_for(delay) == step
    assert FINEST_STEP <= step <= COARSEST_STEP


def test_a_timer_is_due_after_its_delay_and_at_most_one_step_later() -> None:
    chance = random.Random(7)
    for _ in range(2000):
        loop = ManualLoop(now=chance.uniform(0, 1e6))
        delay = chance.choice([0.0, chance.uniform(0, 0.1), chance.uniform(0, 30)])
        slot = start(TimerWheel(), loop, Owner(loop), 0, delay)
        due = loop.now + delay
        assert due < slot.when <= due + step_for(delay)
        assert loop.handles[0].when == slot.when


def test_it_fires_at_its_slot_never_before() -> None:
    loop = ManualLoop()
    wheel = TimerWheel()
    owner = Owner(loop)
    slot = start(wheel, loop, owner, 1, 0.3)
    loop.advance(0.3)  # the delay, but not yet the slot's moment
    assert slot.when > loop.now
    assert owner.due == []
    loop.advance(step_for(0.3))
    assert owner.due == [(1, slot.when)]
    assert wheel.armed() == 0 and loop.pending() == []


def test_a_delay_of_0_fires_within_the_finest_step() -> None:
    loop = ManualLoop()
    owner = Owner(loop)
    start(TimerWheel(), loop, owner, 0, 0)
    loop.advance(FINEST_STEP)
    assert [kind for kind, _ in owner.due] == [0]


def test_a_negative_delay_is_a_delay_of_0() -> None:
    loop = ManualLoop()
    slot = start(TimerWheel(), loop, Owner(loop), 0, -5)
    assert loop.now < slot.when <= loop.now + FINEST_STEP


class SlowClockLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose clock is its own (an hour behind time.monotonic())."""

    def time(self) -> float:
        return super().time() - 3600


@pytest.mark.parametrize("loop_class", [asyncio.SelectorEventLoop, SlowClockLoop])
def test_a_wheel_tells_the_time_by_its_loops_clock(loop_class: type[Any]) -> None:
    """asyncio's own loops keep time with time.monotonic(), which the wheel calls
    directly; a loop with a clock of its own is asked for the time."""
    loop = loop_class()
    try:
        wheel, owner = TimerWheel(loop), Owner(loop)
        before = loop.time()
        slot = wheel.start(loop, owner, 0, 3)
        after = loop.time()
        assert before + 3 < slot.when <= after + 3 + step_for(3)
        slot.cancel(owner, 0)
        assert wheel.armed() == 0
    finally:
        loop.close()


# -- cancelling and starting again -----------------------------------------------------------


def test_a_cancelled_timer_does_not_fire_and_leaves_nothing_on_the_loop() -> None:
    loop = ManualLoop()
    wheel = TimerWheel()
    owner = Owner(loop)
    slot = start(wheel, loop, owner, 0, 1)
    slot.cancel(owner, 0)
    assert wheel.armed() == 0 and wheel.pending() == 0
    assert loop.pending() == []
    loop.advance(5)
    assert owner.due == []
    slot.cancel(owner, 0)  # again: nothing


def test_cancelling_one_timer_keeps_the_others_of_its_slot() -> None:
    loop = ManualLoop()
    wheel = TimerWheel()
    a, b = Owner(loop), Owner(loop)
    slot = start(wheel, loop, a, 0, 1)
    assert start(wheel, loop, a, 2, 1) is slot
    assert start(wheel, loop, b, 0, 1) is slot
    slot.cancel(a, 0)
    assert len(slot) == 2 and wheel.armed() == 1
    loop.advance(2)
    assert [kind for kind, _ in a.due] == [2]
    assert [kind for kind, _ in b.due] == [0]


def test_a_timer_started_again_fires_once_at_its_new_time() -> None:
    loop = ManualLoop()
    wheel = TimerWheel()
    owner = Owner(loop)
    first = start(wheel, loop, owner, 0, 0.2)
    first.cancel(owner, 0)
    second = start(wheel, loop, owner, 0, 1.0)
    loop.advance(0.5)
    assert owner.due == []
    loop.advance(1.0)
    assert owner.due == [(0, second.when)]
    assert wheel.armed() == 0


def test_a_timer_started_from_a_firing_one_goes_to_a_later_slot() -> None:
    loop = ManualLoop()
    wheel = TimerWheel()

    def start_again(kind: int) -> None:
        start(wheel, loop, owner, kind, 0)

    owner = Owner(loop, on_due=start_again)
    start(wheel, loop, owner, 0, 0)
    loop.advance(FINEST_STEP)
    assert len(owner.due) == 1  # not again within the slot that fired
    assert wheel.armed() == 1
    loop.advance(FINEST_STEP)
    assert len(owner.due) == 2


# -- many in one slot ----------------------------------------------------------------------


def test_many_timers_share_one_slot_and_one_handle() -> None:
    loop = ManualLoop()
    wheel = TimerWheel()
    owners = [Owner(loop) for _ in range(1000)]
    slots = {id(start(wheel, loop, owner, 1, 12)) for owner in owners}
    assert len(slots) == 1 and wheel.armed() == 1 and len(loop.pending()) == 1
    assert wheel.pending() == 1000
    loop.advance(13)
    assert all([kind for kind, _ in owner.due] == [1] for owner in owners)
    assert wheel.armed() == 0


def test_the_kinds_of_one_owner_fire_in_their_order() -> None:
    loop = ManualLoop()
    owner = Owner(loop)
    wheel = TimerWheel()
    for kind in (2, 0, 1):
        start(wheel, loop, owner, kind, 1)
    loop.advance(2)
    assert [kind for kind, _ in owner.due] == [0, 1, 2]


def test_timers_cancelled_while_their_slot_fires_do_not_fire() -> None:
    loop = ManualLoop()
    wheel = TimerWheel()
    slots: dict[tuple[int, int], TimerSlot] = {}
    owners: list[Owner] = []

    def cancel_the_rest(kind: int) -> None:
        # The first timer to fire cancels its owner's next kind and every later owner's.
        slots[(0, 1)].cancel(owners[0], 1)
        for index in range(1, len(owners)):
            slots[(index, 0)].cancel(owners[index], 0)

    owners.append(Owner(loop, on_due=cancel_the_rest))
    owners += [Owner(loop) for _ in range(3)]
    slots[(0, 0)] = start(wheel, loop, owners[0], 0, 1)
    slots[(0, 1)] = start(wheel, loop, owners[0], 1, 1)
    for index in range(1, len(owners)):
        slots[(index, 0)] = start(wheel, loop, owners[index], 0, 1)
    assert len({id(slot) for slot in slots.values()}) == 1
    loop.advance(2)
    assert [kind for kind, _ in owners[0].due] == [0]
    assert all(owner.due == [] for owner in owners[1:])
    assert wheel.armed() == 0 and loop.pending() == []


# -- on a real loop -------------------------------------------------------------------------


class LoopOwner:
    def __init__(self) -> None:
        self.fired = asyncio.get_running_loop().create_future()

    def timer_due(self, kind: int) -> None:
        self.fired.set_result(asyncio.get_running_loop().time())


async def test_on_the_running_loop_it_fires_after_its_delay() -> None:
    loop = asyncio.get_running_loop()
    owner = LoopOwner()
    before = loop.time()
    slot = start_timer(owner, 0, 0.02)
    assert slot.when >= before + 0.02
    assert await asyncio.wait_for(owner.fired, 5) >= before + 0.02
    assert wheel_for(loop).armed() == 0


async def test_a_failing_owner_is_reported_and_the_others_still_fire() -> None:
    reported: list[dict[str, Any]] = []
    running = asyncio.get_running_loop()
    running.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        loop = ManualLoop()
        wheel = TimerWheel()

        def fail(kind: int) -> None:
            raise RuntimeError("this owner fails")

        failing, other = Owner(loop, on_due=fail), Owner(loop)
        start(wheel, loop, failing, 0, 1)
        start(wheel, loop, other, 0, 1)
        loop.advance(2)
        assert len(failing.due) == 1 and len(other.due) == 1
        assert [type(context["exception"]) for context in reported] == [RuntimeError]
    finally:
        running.set_exception_handler(None)


async def test_each_loop_has_its_own_wheel() -> None:
    loop = asyncio.get_running_loop()
    other = asyncio.new_event_loop()
    try:
        assert wheel_for(loop) is wheel_for(loop)
        assert wheel_for(other) is not wheel_for(loop)
    finally:
        other.close()


def test_a_wheel_goes_with_its_loop() -> None:
    loop = asyncio.new_event_loop()
    wheel = weakref.ref(wheel_for(loop))
    loop.close()
    del loop
    gc.collect()
    assert wheel() is None
