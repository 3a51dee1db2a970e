"""The history half every history broker shares (gqlwire.fanout.history), on
``MemoryBroker(history=N)``: resuming after an event, the hand-over from replay to live
events, slow subscribers, gaps, and the resume point the operation core reads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gqlwire.fanout import GapReason, MemoryBroker, ResumePoint, current_resume
from gqlwire.fanout.resume import MAX_CURSOR_LENGTH
from tests.harness.waiting import wait_until


async def take(subscription: Any, count: int) -> list[Any]:
    async with asyncio.timeout(5):
        return [await anext(subscription) for _ in range(count)]


async def test_a_subscription_after_an_event_replays_what_followed_then_goes_live() -> None:
    broker = MemoryBroker(history=100)
    ids = [await broker.publish("t", n) for n in range(5)]
    broker.page_size = 2  # several pages of replay
    async with broker.subscription("t", after=ids[1]) as events:
        await broker.publish("t", 5)  # live, while the replay has not started
        assert await take(events, 4) == [2, 3, 4, 5]
        await broker.publish("t", 6)
        assert await take(events, 1) == [6]
        epoch = str(ids[0]).rpartition("-")[0]
        assert events.last_id == f"{epoch}-7"  # type: ignore[attr-defined]
    await broker.close()


async def test_events_published_during_the_replay_arrive_once_in_order() -> None:
    broker = MemoryBroker(history=1000)
    ids = [await broker.publish("t", n) for n in range(50)]
    broker.page_size = 7
    received: list[int] = []
    async with broker.subscription("t", after=ids[9]) as events:
        for n in range(50, 100):
            await broker.publish("t", n)
            received.append(await anext(events))  # one read per publish: replay and live mix
        received += await take(events, 100 - 10 - len(received))
    assert received == list(range(10, 100))
    await broker.close()


async def test_a_subscriber_too_slow_for_its_queue_loses_nothing_within_the_history() -> None:
    broker = MemoryBroker(history=1000, max_queued=3)
    async with broker.subscription("t", after=None) as events:
        await broker.publish("t", 0)
        assert await take(events, 1) == [0]
        for n in range(1, 40):  # the queue holds 3: 36 are dropped from it
            await broker.publish("t", n)
        assert events.dropped == 36
        assert await take(events, 39) == list(range(1, 40))
    await broker.close()


async def test_a_queue_full_before_the_first_event_was_taken_loses_nothing() -> None:
    broker = MemoryBroker(history=1000, max_queued=3)
    async with broker.subscription("t", after=None) as events:
        for n in range(20):  # nothing taken yet: the queue keeps the first three
            await broker.publish("t", n)
        assert events.dropped == 17
        assert await take(events, 20) == list(range(20))
    await broker.close()


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("0badc0de-3", GapReason.LOST),  # another broker instance
        ("not a cursor", GapReason.INVALID),
        ("x" * (MAX_CURSOR_LENGTH + 1), GapReason.INVALID),
    ],
)
async def test_a_cursor_it_cannot_resume_after_is_reported_then_the_oldest_events_come(
    cursor: str, reason: GapReason
) -> None:
    broker = MemoryBroker(history=3)
    for n in range(5):
        await broker.publish("t", n)
    point = ResumePoint(cursor)
    current_resume.set(point)
    async with broker.subscription("t") as events:
        assert await take(events, 3) == [2, 3, 4]  # the oldest kept first
    extensions = point.extensions()
    assert extensions is not None
    assert extensions["gap"] == {
        "topic": "t",
        "after": cursor[:MAX_CURSOR_LENGTH],
        "reason": reason.value,
    }
    assert point.extensions() == {"cursor": extensions["cursor"]}  # told once
    await broker.close()


async def test_an_expired_cursor_is_reported_expired() -> None:
    broker = MemoryBroker(history=3)
    ids = [await broker.publish("t", n) for n in range(6)]
    point = ResumePoint(ids[0])
    current_resume.set(point)
    async with broker.subscription("t") as events:
        assert await take(events, 3) == [3, 4, 5]
    gaps = point.take_gaps()
    assert [gap.reason for gap in gaps] == [GapReason.EXPIRED]
    # The oldest kept is the one right after the cursor: nothing was missed.
    point = ResumePoint(ids[2])
    current_resume.set(point)
    async with broker.subscription("t") as events:
        assert await take(events, 3) == [3, 4, 5]
    assert point.take_gaps() == []
    await broker.close()


async def test_the_documented_resolver_resumes_through_the_resume_point() -> None:
    broker = MemoryBroker(history=10)
    ids = [await broker.publish("room", {"n": n}) for n in range(3)]

    async def resolver() -> Any:
        async for event in broker.subscribe("room"):  # nothing about resuming here
            yield event

    async def run(point: ResumePoint) -> list[tuple[Any, str | None]]:
        current_resume.set(point)  # what the operation core does in the operation's task
        stream = resolver()
        try:
            return [(await anext(stream), point.cursor) for _ in range(2)]
        finally:
            await stream.aclose()

    got = await asyncio.create_task(run(ResumePoint(ids[0])))
    assert got == [({"n": 1}, ids[1]), ({"n": 2}, ids[2])]
    # The inner generator is closed by the event loop's finalizer (docs/brokers.md).
    await wait_until(lambda: broker.stats()["subscribers"] == 0, "unsubscribed", 5)
    await broker.close()


async def test_several_topics_make_a_cursor_that_resumes_each() -> None:
    broker = MemoryBroker(history=10)
    for n in range(3):
        await broker.publish("a", n)
        await broker.publish("b", n)
    point = ResumePoint()
    current_resume.set(point)
    async with broker.subscription("a") as first, broker.subscription("b") as second:
        await broker.publish("a", 3)
        await broker.publish("b", 3)
        assert await take(first, 1) == [3]
        assert await take(second, 1) == [3]
    cursor = point.cursor
    assert cursor is not None and cursor.startswith("{")
    await broker.publish("a", 4)
    await broker.publish("b", 4)
    resumed = ResumePoint(cursor)
    current_resume.set(resumed)
    async with broker.subscription("a") as first, broker.subscription("b") as second:
        assert await take(first, 1) == [4]
        assert await take(second, 1) == [4]
    assert resumed.take_gaps() == []
    await broker.close()


async def test_without_history_subscriptions_start_now_and_publish_gives_no_id() -> None:
    broker = MemoryBroker()
    assert await broker.publish("t", 1) is None
    point = ResumePoint("anything")
    current_resume.set(point)
    async with broker.subscription("t") as events:
        await broker.publish("t", 2)
        assert await take(events, 1) == [2]
    assert point.extensions() is None  # results carry no cursor
    await broker.close()


def test_history_must_be_a_count() -> None:
    with pytest.raises(ValueError, match="history"):
        MemoryBroker(history=-1)


async def test_an_event_turned_away_behind_stale_queued_events_is_replayed() -> None:
    """The queue filled during the replay with events the replay then yielded; an event
    turned away after them is read from the history once the stale ones are skipped."""
    broker = MemoryBroker(history=100)
    ids = [await broker.publish("t", n) for n in range(3)]
    async with broker.subscription("t", after=ids[0], max_queued=2) as events:
        for n in range(3, 6):  # the queue holds 3 and 4; 5 is turned away
            await broker.publish("t", n)
        assert await take(events, 5) == [1, 2, 3, 4, 5]  # all from the history
        await broker.publish("t", 6)  # turned away too: the queue still holds 3 and 4
        assert await take(events, 1) == [6]
    await broker.close()


@pytest.mark.parametrize("sequence", ["²", "٣", "1_0", " 1"])
async def test_a_cursor_of_this_broker_with_a_sequence_that_is_not_ascii_digits_is_invalid(
    sequence: str,
) -> None:
    # str.isdigit() accepts "²" and "٣", which int() refuses (or reads as 3): a client that
    # knows the broker's epoch from an earlier cursor must get a gap notice, not a failure.
    broker = MemoryBroker(history=3)
    first = await broker.publish("t", 0)
    epoch = str(first).rpartition("-")[0]
    point = ResumePoint(f"{epoch}-{sequence}")
    current_resume.set(point)
    async with broker.subscription("t") as events:
        assert await take(events, 1) == [0]
    assert [gap.reason for gap in point.take_gaps()] == [GapReason.INVALID]
    await broker.close()


async def test_closing_the_broker_during_a_replay_ends_the_subscription() -> None:
    broker = MemoryBroker(history=100)
    ids = [await broker.publish("t", n) for n in range(6)]
    broker.page_size = 3
    async with broker.subscription("t", after=ids[0]) as events:
        assert await take(events, 1) == [1]  # two more of this page are read already
        await broker.close()
        with pytest.raises(StopAsyncIteration):
            await anext(events)
