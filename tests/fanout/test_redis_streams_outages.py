"""RedisStreamBroker through outages, on a redis-server of the tests' own: its reader's
connection killed (nothing is lost), and Redis killed and restarted empty (subscribers go
on and are told that the history was lost).

The brokers use short timeouts and back-off so that an outage is noticed and repaired
within a couple of seconds; every wait is bounded.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio

from gqlwire.fanout import (
    BrokerGap,
    BrokerUnavailable,
    GapReason,
    RedisStreamBroker,
    ResumeGap,
    ResumePoint,
    current_resume,
)
from tests.harness.redis_server import RedisProcess
from tests.harness.waiting import next_within, wait_until


def quick_broker(url: str, prefix: str, **options: Any) -> RedisStreamBroker:
    settings: dict[str, Any] = {
        "timeout": 1.0,
        "block": 0.5,
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.5,
        "subscribe_timeout": 5.0,
    }
    settings.update(options)
    return RedisStreamBroker(url, stream_prefix=prefix, **settings)


async def kill_the_reader(url: str) -> None:
    """CLIENT KILL the connection that last read with XREAD (only one broker reads here)."""
    client = redis.asyncio.Redis.from_url(url, socket_timeout=5)
    readers: list[str] = []

    async def found() -> bool:
        clients: list[dict[str, Any]] = await client.client_list()
        readers[:] = [str(row["id"]) for row in clients if row.get("cmd") == "xread"]
        return len(readers) == 1

    try:
        await wait_until(found, "one connection reads with XREAD")
        await client.client_kill_filter(_id=readers[0])
    finally:
        await client.aclose()


def subscription_resuming(broker: RedisStreamBroker, topic: str, point: ResumePoint) -> Any:
    token = current_resume.set(point)
    try:
        return broker.subscription(topic)
    finally:
        current_resume.reset(token)


async def test_a_killed_reader_connection_loses_nothing(
    private_redis: RedisProcess, prefix: str
) -> None:
    total = 400
    kill_after = (100, 250)
    point = ResumePoint()
    subscriber = quick_broker(private_redis.url, prefix)
    publisher = quick_broker(private_redis.url, prefix)
    async with subscriber, publisher, subscription_resuming(subscriber, "t", point) as events:
        killed = 0
        for number in range(total):
            await publisher.publish("t", number)
            if number in kill_after:
                # The next events are published while the reader reconnects.
                await kill_the_reader(private_redis.url)
                killed += 1
        received = [await next_within(events) for _ in range(total)]
        await publisher.publish("t", "end")
        assert await next_within(events) == "end"  # nothing came twice
        stats = subscriber.stats()
    assert received == list(range(total))
    assert killed == 2
    assert stats["reconnects"] >= 2
    assert (stats["gaps"], events.gaps) == (0, 0)
    assert point.take_gaps() == []


async def test_redis_restarted_empty_subscribers_go_on_and_are_told_it_was_lost(
    private_redis: RedisProcess, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    gaps: list[BrokerGap] = []
    first, second = ResumePoint(), ResumePoint()
    subscriber = quick_broker(private_redis.url, prefix, on_gap=gaps.append)
    publisher = quick_broker(private_redis.url, prefix)
    async with (
        subscriber,
        publisher,
        subscription_resuming(subscriber, "a", first) as a_events,
        subscription_resuming(subscriber, "b", second) as b_events,
    ):
        a_ids = [await publisher.publish("a", number) for number in range(5)]
        b_id = await publisher.publish("b", "before")
        assert [await next_within(a_events) for _ in range(5)] == list(range(5))
        assert await next_within(b_events) == "before"

        private_redis.kill()
        await wait_until(lambda: not subscriber.stats()["connected"], "the loss is noticed")
        async with asyncio.timeout(10):
            with pytest.raises(BrokerUnavailable):
                await publisher.publish("a", "during")
        assert publisher.stats()["dropped_while_disconnected"] == 1

        private_redis.start()  # empty: this Redis keeps nothing on disk
        # The reader finds the streams gone as it reconnects, before anything is
        # published again.
        await wait_until(lambda: bool(gaps), "on_gap was called", 15)
        assert subscriber.stats()["reconnects"] == 1
        after_restart = [await publisher.publish("a", number) for number in range(5, 10)]
        assert [await next_within(a_events) for _ in range(5)] == list(range(5, 10))
        await publisher.publish("b", "after")
        assert await next_within(b_events) == "after"

        assert first.take_gaps() == [ResumeGap("a", a_ids[-1], GapReason.LOST)]
        assert second.take_gaps() == [ResumeGap("b", b_id, GapReason.LOST)]
        assert first.cursor == after_restart[-1]
        assert (a_events.gaps, b_events.gaps) == (1, 1)
        assert [gap.topics for gap in gaps] == [frozenset({"a", "b"})]
        assert subscriber.stats()["gaps"] == 1

        # A client that resumes with a cursor from before the restart is told too, and
        # gets what the new stream has.
        resumed = ResumePoint(after=a_ids[2])
        async with subscription_resuming(subscriber, "a", resumed) as late:
            assert [await next_within(late) for _ in range(5)] == list(range(5, 10))
        assert resumed.take_gaps() == [ResumeGap("a", a_ids[2], GapReason.LOST)]
    assert "lost the stream(s) of 2 subscribed topic(s)" in caplog.text
