"""RedisStreamBroker on the Redis at REDIS_URL: order, resuming after a cursor, retention,
lost and invalid cursors, slow subscribers, and resuming through ``current_resume``.

Each test uses a stream prefix of its own and deletes its streams when it ends. Outages
(Redis killed and restarted, connections killed) are in test_redis_streams_outages.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis.asyncio

from gqlwire.fanout import (
    BrokerGap,
    GapReason,
    RedisStreamBroker,
    ResumeGap,
    ResumePoint,
    current_resume,
)
from gqlwire.fanout.history import HistorySubscription
from tests.harness.redis_server import delete_keys
from tests.harness.waiting import next_within, wait_until


@pytest.fixture(autouse=True)
def delete_streams(redis_url: str, prefix: str) -> Iterator[None]:
    """Every test's streams are deleted when it ends, passed or failed."""
    try:
        yield
    finally:
        delete_keys(redis_url, prefix)


@pytest.fixture
async def broker(redis_url: str, prefix: str) -> AsyncIterator[RedisStreamBroker]:
    async with RedisStreamBroker(redis_url, stream_prefix=prefix) as built:
        yield built


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


@contextmanager
def resuming(point: ResumePoint) -> Iterator[ResumePoint]:
    """Run the block as an operation whose resume point is ``point``."""
    token = current_resume.set(point)
    try:
        yield point
    finally:
        current_resume.reset(token)


async def take(subscription: Any, count: int) -> list[Any]:
    return [await next_within(subscription) for _ in range(count)]


async def publish_all(broker: RedisStreamBroker, topic: str, payloads: range) -> list[str]:
    return [await broker.publish(topic, payload) for payload in payloads]


async def test_every_subscriber_gets_every_event_in_order_with_increasing_ids(
    broker: RedisStreamBroker,
) -> None:
    async with (
        broker.subscription("a") as first,
        broker.subscription("a") as second,
        broker.subscription("b") as other,
    ):
        ids = await publish_all(broker, "a", range(200))
        await broker.publish("b", "b only")
        for subscription in (first, second):
            assert await take(subscription, 200) == list(range(200))
            assert isinstance(subscription, HistorySubscription)
            assert subscription.last_id == ids[-1]
        assert await next_within(other) == "b only"
    orders = [broker._event_order(event_id) for event_id in ids]
    assert orders == sorted(orders) and len(set(orders)) == 200
    assert len({event_id.partition(":")[0] for event_id in ids}) == 1  # one epoch
    stats = broker.stats()
    assert (stats["published"], stats["delivered"], stats["gaps"]) == (201, 401, 0)


async def test_many_subscribers_each_get_every_event_once(broker: RedisStreamBroker) -> None:
    async def consume(count: int) -> list[int]:
        async with broker.subscription("t") as subscription:
            ready.release()
            return await take(subscription, count)

    ready = asyncio.Semaphore(0)
    consumers = [asyncio.create_task(consume(300)) for _ in range(25)]
    for _ in consumers:
        async with asyncio.timeout(10):
            await ready.acquire()
    publishing = asyncio.create_task(publish_all(broker, "t", range(300)))
    async with asyncio.timeout(30):
        received = await asyncio.gather(*consumers)
        await publishing
    assert all(events == list(range(300)) for events in received)


async def test_a_resumed_subscription_gets_exactly_what_was_published_meanwhile(
    broker: RedisStreamBroker, redis_url: str, prefix: str
) -> None:
    """A client leaves mid-stream while events keep coming, and resumes on another broker
    (another process): every event after its cursor, in order, once."""
    total = 600
    first_part = 150
    halfway = asyncio.Event()

    async def keep_publishing() -> None:
        for number in range(total):
            await broker.publish("t", number)
            if number == first_part + 100:
                halfway.set()
            await asyncio.sleep(0)

    async with broker.subscription("t") as before:
        publisher = asyncio.create_task(keep_publishing())
        assert await take(before, first_part) == list(range(first_part))
        assert isinstance(before, HistorySubscription)
        cursor = before.last_id
    assert cursor is not None
    async with asyncio.timeout(10):
        await halfway.wait()  # the client is away while a hundred more are published

    async with RedisStreamBroker(redis_url, stream_prefix=prefix) as elsewhere:
        with resuming(ResumePoint(after=cursor)) as point:
            subscription = elsewhere.subscription("t")
        async with subscription:
            received = await take(subscription, total - first_part)
            async with asyncio.timeout(30):
                await publisher
            # Nothing more: no event was delivered twice.
            await elsewhere.publish("t", "end")
            assert await next_within(subscription) == "end"
    assert received == list(range(first_part, total))
    assert point.take_gaps() == []
    assert point.cursor is not None and point.cursor != cursor


async def test_a_resolver_resumes_through_current_resume(broker: RedisStreamBroker) -> None:
    """``async for event in broker.subscribe(topic)`` resumes with no code of its own."""

    async def resolver() -> AsyncGenerator[Any, None]:
        async for event in broker.subscribe("t"):
            yield {"n": event}

    ids = await publish_all(broker, "t", range(10))
    with resuming(ResumePoint(after=ids[3])) as point:
        source = resolver()
        received = [(await next_within(source))["n"] for _ in range(6)]
        assert point.cursor == ids[9]
        assert point.extensions() == {"cursor": ids[9]}
        later = await broker.publish("t", 10)
        assert (await next_within(source))["n"] == 10
        assert point.cursor == later
        await source.aclose()
    assert received == [4, 5, 6, 7, 8, 9]


async def test_a_cursor_past_retention_is_reported_expired_and_continues_from_the_oldest(
    redis_url: str, prefix: str, raw: redis.asyncio.Redis
) -> None:
    # MAXLEN ~ trims whole stream nodes (about 100 entries each), so publish enough.
    async with RedisStreamBroker(redis_url, stream_prefix=prefix, max_length=10) as broker:
        ids = await publish_all(broker, "t", range(600))
        first_entries: Any = await raw.xrange(prefix + "t", "-", "+", count=1)
        oldest_id = first_entries[0][0].decode()
        [oldest] = [n for n, event_id in enumerate(ids) if event_id.endswith(oldest_id)]
        assert 0 < oldest < 590  # trimmed, approximately
        with resuming(ResumePoint(after=ids[0])) as point:
            subscription = broker.subscription("t")
        async with subscription:
            assert await take(subscription, 600 - oldest) == list(range(oldest, 600))
            assert point.extensions() == {
                "cursor": ids[-1],
                "gap": {"topic": "t", "after": ids[0], "reason": "expired"},
            }
        # A cursor whose successor is still retained is no gap, even when the cursor's
        # own event was trimmed.
        for resumed_after in (oldest, oldest - 1):
            with resuming(ResumePoint(after=ids[resumed_after])) as point:
                subscription = broker.subscription("t")
            async with subscription:
                assert await next_within(subscription) == resumed_after + 1
                assert point.take_gaps() == []


async def test_max_age_trims_events_older_than_it_when_publishing(
    redis_url: str, prefix: str
) -> None:
    async with RedisStreamBroker(
        redis_url, stream_prefix=prefix, max_length=None, max_age=0.2
    ) as broker:
        ids = await publish_all(broker, "t", range(300))
        await asyncio.sleep(0.3)  # older than max_age now; trimmed by the next publish
        newest = await broker.publish("t", "new")
        with resuming(ResumePoint(after=ids[0])) as point:
            subscription = broker.subscription("t")
        async with subscription:
            received: list[Any] = []
            while not received or received[-1] != "new":
                received.append(await next_within(subscription))
        assert point.cursor == newest
        assert point.take_gaps() == [ResumeGap("t", ids[0], GapReason.EXPIRED)]
        assert received[0] != 1  # the events right after the cursor were trimmed


async def test_a_cursor_into_a_deleted_stream_is_reported_lost(
    broker: RedisStreamBroker, raw: redis.asyncio.Redis, prefix: str
) -> None:
    ids = await publish_all(broker, "t", range(5))
    await raw.delete(prefix + "t")
    with resuming(ResumePoint(after=ids[2])) as point:
        subscription = broker.subscription("t")
    async with subscription:
        after_deletion = await broker.publish("t", "new")
        assert await next_within(subscription) == "new"
        assert point.cursor == after_deletion
    assert point.take_gaps() == [ResumeGap("t", ids[2], GapReason.LOST)]
    # The recreated stream has an epoch of its own: the old cursor is lost, not misread.
    assert after_deletion.partition(":")[0] != ids[0].partition(":")[0]
    await publish_all(broker, "t", range(3))
    with resuming(ResumePoint(after=ids[4])) as point:
        subscription = broker.subscription("t")
    async with subscription:
        assert await take(subscription, 4) == ["new", 0, 1, 2]
    assert point.take_gaps() == [ResumeGap("t", ids[4], GapReason.LOST)]


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor", "abc:1:12-x", "abc:", "x" * 2000, "FUTURE"],
)
async def test_a_cursor_that_is_not_ours_is_reported_invalid(
    broker: RedisStreamBroker, cursor: str
) -> None:
    ids = await publish_all(broker, "t", range(3))
    if cursor == "FUTURE":  # our epoch, but an id the stream never gave out
        cursor = ids[0].partition(":")[0] + ":4:99999999999999-0"
    with resuming(ResumePoint(after=cursor)) as point:
        subscription = broker.subscription("t")
    async with subscription:
        # It starts from the oldest event retained.
        assert await take(subscription, 3) == [0, 1, 2]
    [gap] = point.take_gaps()
    assert (gap.topic, gap.reason) == ("t", GapReason.INVALID)
    assert gap.after == cursor[: len(gap.after)]


async def test_a_stream_deleted_under_live_subscribers_is_told_and_they_go_on(
    redis_url: str, prefix: str, raw: redis.asyncio.Redis
) -> None:
    gaps: list[BrokerGap] = []
    async with RedisStreamBroker(redis_url, stream_prefix=prefix, on_gap=gaps.append) as broker:
        with resuming(ResumePoint()) as point:
            subscription = broker.subscription("t")
        async with subscription:
            ids = await publish_all(broker, "t", range(3))
            assert await take(subscription, 3) == [0, 1, 2]
            await raw.delete(prefix + "t")
            await publish_all(broker, "t", range(3, 6))
            assert await take(subscription, 3) == [3, 4, 5]
            assert point.take_gaps() == [ResumeGap("t", ids[2], GapReason.LOST)]
            assert subscription.gaps == 1
        assert [gap.topics for gap in gaps] == [frozenset({"t"})]
        assert broker.stats()["gaps"] == 1


def entry_of(event_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = event_id.rpartition(":")[2].partition("-")
    return int(milliseconds), int(sequence)


async def test_a_stream_created_again_at_once_numbers_its_entries_after_the_deleted_ones(
    broker: RedisStreamBroker, raw: redis.asyncio.Redis, prefix: str
) -> None:
    # Redis numbers a new stream's entries from its clock: within the millisecond of the
    # deleted stream's last entry, at or below it, where readers would skip them. Each
    # round here fits in a millisecond more often than not.
    for _ in range(200):
        [before] = await publish_all(broker, "t", range(1))
        await raw.delete(prefix + "t")
        [after] = await publish_all(broker, "t", range(1))
        assert entry_of(after) > entry_of(before)
        await raw.delete(prefix + "t")


async def test_streams_deleted_again_and_again_under_a_live_subscriber_lose_nothing_new(
    redis_url: str, prefix: str, raw: redis.asyncio.Redis
) -> None:
    gaps: list[BrokerGap] = []
    async with (
        RedisStreamBroker(redis_url, stream_prefix=prefix, on_gap=gaps.append) as broker,
        broker.subscription("t") as subscription,
    ):
        for round_ in range(30):
            values = range(round_ * 3, round_ * 3 + 3)
            await publish_all(broker, "t", values)
            assert await take(subscription, 3) == list(values)
            await raw.delete(prefix + "t")
        await publish_all(broker, "t", range(1000, 1001))
        assert await next_within(subscription) == 1000
    # Each deletion was seen (by the next round's entries) and told once.
    assert len(gaps) == 30


async def test_a_slow_subscriber_falls_back_to_the_stream_and_loses_nothing(
    broker: RedisStreamBroker,
) -> None:
    ids = await publish_all(broker, "t", range(5))
    with resuming(ResumePoint(after=ids[1])) as point:
        slow = broker.subscription("t", max_queued=3)
    async with slow, broker.subscription("t", max_queued=3) as from_now:
        # Both queues overflow long before anyone reads.
        await publish_all(broker, "t", range(5, 800))
        await wait_until(lambda: slow.dropped > 0 and from_now.dropped > 0, "queues overflowed")
        assert await take(slow, 798) == list(range(2, 800))
        assert await take(from_now, 795) == list(range(5, 800))
        await broker.publish("t", "live again")
        assert await next_within(slow) == "live again"
        assert await next_within(from_now) == "live again"
    assert point.take_gaps() == []
    assert broker.stats()["dropped_oldest"] == slow.dropped + from_now.dropped


async def test_a_topic_added_while_the_reader_blocks_is_read_at_once(
    redis_url: str, prefix: str
) -> None:
    """The reader's XREAD blocks for ``block`` seconds; a new topic must not wait for it."""
    async with (
        RedisStreamBroker(redis_url, stream_prefix=prefix, block=60) as broker,
        broker.subscription("a") as first,
    ):
        await wait_until(lambda: broker._reading is not None, "the reader blocks")
        for number in range(10):
            async with broker.subscription(f"t{number}") as later:
                await broker.publish(f"t{number}", number)
                # Far sooner than the XREAD's 60 s block would return by itself.
                assert await next_within(later, 10) == number
        await broker.publish("a", "a")
        assert await next_within(first) == "a"


async def test_closing_ends_subscriptions_and_leaves_no_task(broker: RedisStreamBroker) -> None:
    ended: list[list[Any]] = []

    async def consume(topic: str) -> None:
        ended.append([event async for event in broker.subscribe(topic)])

    consumers = [asyncio.create_task(consume(topic)) for topic in ("a", "a", "b")]
    await wait_until(
        lambda: (
            broker.stats()["subscribers"] == 3
            and all(topic in broker._positions for topic in ("a", "b"))
            and not broker._fixing
            and broker.stats()["connected"]
        ),
        "three subscribers opened",
    )
    await asyncio.sleep(0)  # the subscribers woken by that finish opening first
    await broker.close()
    async with asyncio.timeout(10):
        await asyncio.gather(*consumers)
    assert ended == [[], [], []]
    assert broker._reader is None
    assert not broker.stats()["connected"]


async def test_options_are_checked() -> None:
    for options in (
        {"max_length": 0},
        {"max_age": 0},
        {"block": 0},
        {"timeout": -1},
        {"read_count": 0},
        {"page_size": 0},
        {"reconnect_min_delay": 1, "reconnect_max_delay": 0.5},
    ):
        with pytest.raises(ValueError):
            RedisStreamBroker(**options)
