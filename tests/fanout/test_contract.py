"""The broker contract, checked on every broker (memory, and Redis pub/sub and streams at
REDIS_URL)."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from gqlwire.fanout import BrokerClosed, HistoryBroker, MemoryBroker
from tests.harness.waiting import next_within

from .conftest import BrokerCase


async def test_every_subscriber_gets_every_payload_in_publish_order(case: BrokerCase) -> None:
    broker = case.broker
    async with (
        broker.subscription("a") as first,
        broker.subscription("a") as second,
        broker.subscription("b") as other_topic,
    ):
        for number in range(300):
            await broker.publish("a", {"n": number})
        await broker.publish("b", "b only")
        for subscription in (first, second):
            received = [(await next_within(subscription))["n"] for _ in range(300)]
            assert received == list(range(300))
        assert await next_within(other_topic) == "b only"
    stats = broker.stats()
    assert stats["published"] == 301
    assert stats["delivered"] == 601
    assert stats["dropped_oldest"] == 0


async def test_payloads_arrive_as_json_and_unserializable_ones_are_refused(
    case: BrokerCase,
) -> None:
    broker = case.broker
    published: dict[str, Any] = {
        "tuple": (1, 2),
        "when": datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC),
        "nested": {"x": [None, True, 1.5]},
    }
    async with broker.subscription("t") as subscription:
        await broker.publish("t", published)
        received = await next_within(subscription)
        assert received == {
            "tuple": [1, 2],
            "when": "2024-05-01T12:00:00+00:00",
            "nested": {"x": [None, True, 1.5]},
        }
        assert received is not published
        with pytest.raises(TypeError):
            await broker.publish("t", {"not json": object()})
        await broker.publish("t", "after")
        assert await next_within(subscription) == "after"
    assert broker.stats()["published"] == 2


async def test_a_slow_subscriber_loses_its_oldest_payloads_and_delays_nobody(
    case: BrokerCase,
) -> None:
    broker = case.broker
    async with broker.subscription("t", max_queued=5) as slow, broker.subscription("t") as fast:
        fast_received: list[int] = []

        async def read_fast() -> None:
            async for payload in fast:
                fast_received.append(payload)
                if payload == 49:
                    return

        reader = asyncio.create_task(read_fast())
        for number in range(50):
            await broker.publish("t", number)  # the slow subscriber never makes this wait
        async with asyncio.timeout(10):
            await reader
        assert fast_received == list(range(50))
        assert fast.dropped == 0
        if isinstance(broker, HistoryBroker) and broker.keeps_history:
            # It dropped from its queue, then caught up from the history: nothing lost.
            assert [await next_within(slow) for _ in range(50)] == list(range(50))
            assert slow.dropped > 0
            assert broker.stats()["dropped_oldest"] == slow.dropped
            return
        # The slow one kept the newest five, in order.
        assert [await next_within(slow) for _ in range(5)] == [45, 46, 47, 48, 49]
        assert slow.dropped == 45
        assert broker.stats()["dropped_oldest"] == 45


async def test_break_unsubscribes(case: BrokerCase) -> None:
    broker = case.broker
    received: list[Any] = []

    async def consume() -> None:
        async for payload in broker.subscribe("t"):
            received.append(payload)
            break

    consumer = asyncio.create_task(consume())
    await case.subscribed("t")
    await broker.publish("t", 1)
    async with asyncio.timeout(10):
        await consumer
    assert received == [1]
    await case.unsubscribed("t")


async def test_aclose_unsubscribes_at_once(case: BrokerCase) -> None:
    broker = case.broker
    stream = broker.subscribe("t")
    first = asyncio.ensure_future(anext(stream))
    await case.subscribed("t")
    await broker.publish("t", "x")
    async with asyncio.timeout(10):
        assert await first == "x"
    await stream.aclose()
    assert broker.stats()["topics"] == {}
    await case.unsubscribed("t")


async def test_cancelling_a_waiting_consumer_leaves_no_subscription(case: BrokerCase) -> None:
    broker = case.broker

    async def consume() -> None:
        async for _ in broker.subscribe("t"):
            pytest.fail("nothing was published")

    consumer = asyncio.create_task(consume())
    await case.subscribed("t")
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    # Local state is released by the cancellation itself, synchronously...
    assert broker.stats()["topics"] == {}
    # ...and the backend's subscription follows.
    await case.unsubscribed("t")
    # The topic works again for a new subscriber.
    async with broker.subscription("t") as again:
        await broker.publish("t", "back")
        assert await next_within(again) == "back"


async def test_close_ends_iterations_and_refuses_further_use(case: BrokerCase) -> None:
    broker = case.broker
    ended = asyncio.Event()

    async def consume() -> list[Any]:
        received = [payload async for payload in broker.subscribe("t")]
        ended.set()
        return received

    consumer = asyncio.create_task(consume())
    await case.subscribed("t")
    await broker.close()
    async with asyncio.timeout(10):
        await ended.wait()
        assert await consumer == []
    assert broker.closed
    with pytest.raises(BrokerClosed):
        await broker.publish("t", 1)
    with pytest.raises(BrokerClosed):
        async with broker.subscription("t"):
            pass
    await broker.close()  # idempotent


async def test_stats_count_local_subscribers_per_topic(case: BrokerCase) -> None:
    broker = case.broker
    async with (
        broker.subscription("a"),
        broker.subscription("a"),
        broker.subscription("b") as only_b,
    ):
        stats = broker.stats()
        assert stats["topics"] == {"a": 2, "b": 1}
        assert stats["subscribers"] == 3
        assert stats["connected"] is True
        only_b.close()
        assert broker.stats()["topics"] == {"a": 2}
    assert broker.stats()["topics"] == {}
    assert set(broker.stats()) == {
        "topics",
        "subscribers",
        "published",
        "delivered",
        "dropped_oldest",
        "dropped_while_disconnected",
        "reconnects",
        "gaps",
        "connected",
    }


async def test_resubscribing_right_after_leaving_works(case: BrokerCase) -> None:
    """The last subscriber leaves and a new one arrives before the backend caught up."""
    broker = case.broker
    for round_number in range(20):
        async with broker.subscription("t") as subscription:
            await broker.publish("t", round_number)
            assert await next_within(subscription) == round_number
    await case.unsubscribed("t")


async def test_misuse_of_a_subscription_is_refused(case: BrokerCase) -> None:
    broker = case.broker
    subscription = broker.subscription("t")
    with pytest.raises(RuntimeError, match="enter"):
        await anext(subscription)
    async with subscription:
        with pytest.raises(RuntimeError, match="once"):
            await subscription.__aenter__()
    assert not subscription.active
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)
    with pytest.raises(ValueError, match="max_queued"):
        broker.subscription("t", max_queued=0)
    with pytest.raises(TypeError):
        broker.subscription(b"t")  # type: ignore[arg-type]


async def test_memory_publish_without_subscribers_is_counted_and_cheap() -> None:
    async with MemoryBroker() as broker:
        await broker.publish("nobody", {"x": 1})
        stats = broker.stats()
        assert (stats["published"], stats["delivered"]) == (1, 0)


async def test_payloads_are_shared_read_only_between_local_subscribers() -> None:
    """One decode per event per process, whatever the number of subscribers."""
    async with (
        MemoryBroker() as broker,
        broker.subscription("t") as first,
        broker.subscription("t") as second,
    ):
        await broker.publish("t", {"big": list(range(100))})
        assert await next_within(first) is await next_within(second)


async def test_a_consumer_that_stops_reading_never_blocks_publish() -> None:
    async with MemoryBroker(max_queued=3) as broker, broker.subscription("t") as stalled:
        async with asyncio.timeout(10):
            for number in range(10_000):
                await broker.publish("t", number)
        assert stalled.dropped == 9_997
        assert [await next_within(stalled) for _ in range(3)] == [9_997, 9_998, 9_999]
