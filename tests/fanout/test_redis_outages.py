"""RedisBroker through Redis outages, on a redis-server of the tests' own that they kill
(SIGKILL), freeze (SIGSTOP) and restart on the same port.

Every wait is bounded; the broker uses short health-check and back-off settings so that
an outage is noticed and repaired within a couple of seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import redis.asyncio

from gqlwire.fanout import BrokerGap, BrokerUnavailable, RedisBroker
from tests.harness.redis_server import RedisProcess, numsub
from tests.harness.waiting import leaked_tasks, next_within, wait_until


class GapRecorder:
    def __init__(self) -> None:
        self.gaps: list[BrokerGap] = []
        self.seen = asyncio.Event()

    def __call__(self, gap: BrokerGap) -> None:
        self.gaps.append(gap)
        self.seen.set()

    async def next(self) -> BrokerGap:
        async with asyncio.timeout(15):
            await self.seen.wait()
        self.seen.clear()
        return self.gaps[-1]


def quick_broker(url: str, prefix: str, **options: Any) -> RedisBroker:
    settings: dict[str, Any] = {
        "timeout": 1.0,
        "health_check_interval": 0.5,
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.5,
        "subscribe_timeout": 5.0,
    }
    settings.update(options)
    return RedisBroker(url, channel_prefix=prefix, **settings)


async def disconnected(broker: RedisBroker) -> None:
    await wait_until(lambda: not broker.stats()["connected"], "the broker noticed the loss")


async def test_subscribers_resume_after_redis_is_killed_and_restarted(
    private_redis: RedisProcess, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = asyncio.all_tasks()
    recorder = GapRecorder()
    broker = quick_broker(private_redis.url, prefix, on_gap=recorder)
    async with (
        broker,
        broker.subscription("a") as first,
        broker.subscription("a") as second,
        broker.subscription("b") as other,
    ):
        await broker.publish("a", "before")
        await broker.publish("b", "before")
        for subscription in (first, second, other):
            assert await next_within(subscription) == "before"

        private_redis.kill()
        await disconnected(broker)
        # A publish during the outage neither hangs nor pretends to succeed.
        async with asyncio.timeout(10):
            with pytest.raises(BrokerUnavailable):
                await broker.publish("a", "during")
        assert broker.stats()["dropped_while_disconnected"] == 1
        # Subscribers keep waiting through the outage.
        waiting = asyncio.ensure_future(anext(first))
        await asyncio.sleep(0)
        assert not waiting.done()
        assert first.active and other.active

        private_redis.start()
        gap = await recorder.next()
        assert gap.topics == {"a", "b"}
        assert gap.resumed_at >= gap.lost_at
        assert gap.error
        assert await numsub(private_redis.url, prefix + "a") == 1
        assert await numsub(private_redis.url, prefix + "b") == 1

        await broker.publish("a", "after")
        await broker.publish("b", "after")
        async with asyncio.timeout(10):
            assert await waiting == "after"
        assert await next_within(second) == "after"
        assert await next_within(other) == "after"
        assert (first.gaps, second.gaps, other.gaps) == (1, 1, 1)
        stats = broker.stats()
        assert (stats["reconnects"], stats["gaps"], stats["connected"]) == (1, 1, True)
        assert stats["published"] == 4  # the one during the outage is not among them
    assert "lost the Redis connection" in caplog.text
    assert "cannot publish to Redis" in caplog.text
    await wait_until(lambda: not leaked_tasks(before), "the broker's tasks have ended")


async def test_a_frozen_redis_is_detected_by_the_health_check(
    private_redis: RedisProcess, prefix: str
) -> None:
    """SIGSTOP keeps every socket open and silent: only the health check can tell."""
    recorder = GapRecorder()
    broker = quick_broker(private_redis.url, prefix, on_gap=recorder)
    async with broker, broker.subscription("a") as kept, broker.subscription("b") as left:
        await broker.publish("a", "before")
        assert await next_within(kept) == "before"

        private_redis.freeze()
        try:
            await disconnected(broker)
            async with asyncio.timeout(10):
                with pytest.raises(BrokerUnavailable):
                    await broker.publish("a", "during")
            left.close()  # a subscriber that leaves during the outage is not re-subscribed
        finally:
            private_redis.thaw()

        gap = await recorder.next()
        assert gap.topics == {"a"}
        assert await numsub(private_redis.url, prefix + "a") == 1
        assert await numsub(private_redis.url, prefix + "b") == 0
        await broker.publish("a", "after")
        assert await next_within(kept) == "after"
        assert broker.stats()["reconnects"] >= 1


async def test_a_connection_closed_by_the_server_is_reopened_at_once(
    private_redis: RedisProcess, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_callback(gap: BrokerGap) -> None:
        recorder(gap)
        raise RuntimeError("a bug in the application's callback")

    recorder = GapRecorder()
    broker = quick_broker(private_redis.url, prefix, on_gap=failing_callback)
    async with broker, broker.subscription("a") as subscription:
        admin = redis.asyncio.Redis.from_url(private_redis.url)
        try:
            assert await admin.client_kill_filter(_type="pubsub") == 1
        finally:
            await admin.aclose()
        gap = await recorder.next()
        assert gap.topics == {"a"}
        await broker.publish("a", "after")
        assert await next_within(subscription) == "after"
        assert broker.stats()["reconnects"] == 1
    assert "on_gap callback raised" in caplog.text


async def test_a_subscription_opened_during_an_outage_waits_for_redis(
    private_redis: RedisProcess, prefix: str
) -> None:
    broker = quick_broker(private_redis.url, prefix)
    async with broker, broker.subscription("warm-up"):
        private_redis.kill()
        await disconnected(broker)
        opening = asyncio.ensure_future(broker.subscription("late").__aenter__())
        await wait_until(lambda: "late" in broker.stats()["topics"], "registered")
        assert not opening.done()
        private_redis.start()
        async with asyncio.timeout(10):
            late = await opening
        try:
            await broker.publish("late", "hello")
            assert await next_within(late) == "hello"
        finally:
            late.close()


async def test_a_subscription_is_refused_when_redis_stays_down(
    private_redis: RedisProcess, prefix: str
) -> None:
    broker = quick_broker(private_redis.url, prefix, subscribe_timeout=0.5)
    async with broker, broker.subscription("warm-up"):
        private_redis.kill()
        await disconnected(broker)
        async with asyncio.timeout(10):
            with pytest.raises(BrokerUnavailable, match="did not confirm"):
                async with broker.subscription("late"):
                    pytest.fail("Redis is down")
        assert broker.stats()["topics"] == {"warm-up": 1}


async def test_redis_down_when_the_broker_starts(private_redis: RedisProcess, prefix: str) -> None:
    private_redis.kill()
    broker = quick_broker(private_redis.url, prefix)
    async with broker:
        opening = asyncio.ensure_future(broker.subscription("a").__aenter__())
        await wait_until(lambda: "a" in broker.stats()["topics"], "registered")
        private_redis.start()
        async with asyncio.timeout(10):
            subscription = await opening
        try:
            await broker.publish("a", 1)
            assert await next_within(subscription) == 1
            stats = broker.stats()
            # A first connection that took a while is neither a reconnect nor a gap.
            assert (stats["reconnects"], stats["gaps"], subscription.gaps) == (0, 0, 0)
        finally:
            subscription.close()


async def test_closing_during_an_outage_ends_everything(
    private_redis: RedisProcess, prefix: str
) -> None:
    before = asyncio.all_tasks()
    broker = quick_broker(private_redis.url, prefix)
    received: list[Any] = []

    async def consume() -> None:
        async for payload in broker.subscribe("a"):
            received.append(payload)

    consumer = asyncio.create_task(consume())
    await wait_until(lambda: broker.stats()["connected"], "connected")

    async def on_server() -> bool:
        return await numsub(private_redis.url, prefix + "a") == 1

    await wait_until(on_server, "subscribed")
    private_redis.kill()
    await disconnected(broker)
    async with asyncio.timeout(10):
        await broker.close()
        await consumer
    assert received == []
    await wait_until(lambda: not leaked_tasks(before), "the broker's tasks have ended")


async def test_loss_is_logged_once_per_outage(
    private_redis: RedisProcess, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = GapRecorder()
    broker = quick_broker(private_redis.url, prefix, on_gap=recorder, reconnect_max_delay=0.1)
    async with broker, broker.subscription("a"):
        with caplog.at_level(logging.DEBUG, logger="gqlwire.fanout"):
            private_redis.kill()
            await disconnected(broker)
            # Several failed attempts happen while the server is away...
            await wait_until(
                lambda: caplog.text.count("still unreachable") >= 3, "repeated attempts"
            )
            private_redis.start()
            await recorder.next()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        # ...but the warnings are one for the loss and one for the first failed attempt.
        assert len(warnings) == 2, [r.getMessage() for r in warnings]
