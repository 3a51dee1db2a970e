"""RedisBroker against the Redis at REDIS_URL: one server subscription per topic per
process, several processes sharing events, refusals that do not hang."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap

import pytest
import redis.asyncio

from gqlwire.fanout import BrokerUnavailable, RedisBroker
from tests.harness.redis_server import numsub
from tests.harness.servers import free_port
from tests.harness.waiting import next_within, wait_until


async def test_one_redis_subscription_per_topic_whatever_the_local_count(
    redis_url: str, prefix: str
) -> None:
    async with RedisBroker(redis_url, channel_prefix=prefix) as broker:
        many = [broker.subscription("a") for _ in range(5)]
        for subscription in many:
            await subscription.__aenter__()
        async with broker.subscription("b") as only_b:
            assert await numsub(redis_url, prefix + "a") == 1
            assert await numsub(redis_url, prefix + "b") == 1
            # A second broker stands for a second process: one more server subscription.
            async with (
                RedisBroker(redis_url, channel_prefix=prefix) as other_process,
                other_process.subscription("a"),
                other_process.subscription("a"),
            ):
                assert await numsub(redis_url, prefix + "a") == 2

            async def one_left() -> bool:
                return await numsub(redis_url, prefix + "a") == 1

            await wait_until(one_left, "the other process's subscription left")

            await broker.publish("a", "to all five")
            for subscription in many:
                assert await next_within(subscription) == "to all five"

            for subscription in many[:4]:
                subscription.close()
            await broker.publish("b", "sync point")  # the writer ran meanwhile
            assert await next_within(only_b) == "sync point"
            assert await numsub(redis_url, prefix + "a") == 1

            many[4].close()

            async def a_unsubscribed() -> bool:
                return await numsub(redis_url, prefix + "a") == 0

            await wait_until(a_unsubscribed, "the last local subscriber's UNSUBSCRIBE")
            assert await numsub(redis_url, prefix + "b") == 1
        assert broker.stats()["topics"] == {}


async def test_events_published_by_another_process_arrive_in_order(
    redis_url: str, prefix: str
) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from gqlwire.fanout import RedisBroker

        async def main():
            async with RedisBroker({redis_url!r}, channel_prefix={prefix!r}) as broker:
                for number in range(100):
                    await broker.publish("room:1", {{"n": number}})

        asyncio.run(main())
        """
    )
    async with (
        RedisBroker(redis_url, channel_prefix=prefix) as broker,
        broker.subscription("room:1") as subscription,
    ):
        publisher = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
        try:
            async with asyncio.timeout(30):
                assert await publisher.wait() == 0
        finally:
            if publisher.returncode is None:
                publisher.kill()
                await publisher.wait()
        received = [(await next_within(subscription))["n"] for _ in range(100)]
        assert received == list(range(100))


async def test_a_message_that_is_not_json_is_skipped(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        RedisBroker(redis_url, channel_prefix=prefix) as broker,
        broker.subscription("t") as subscription,
    ):
        foreign = redis.asyncio.Redis.from_url(redis_url)
        try:
            await foreign.publish(prefix + "t", b"\xff not json")
        finally:
            await foreign.aclose()
        await broker.publish("t", {"ok": True})
        with caplog.at_level(logging.WARNING, logger="gqlwire.fanout"):
            assert await next_within(subscription) == {"ok": True}
        assert "not JSON" in caplog.text


async def test_unreachable_redis_is_reported_and_nothing_hangs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with RedisBroker(url, timeout=1, subscribe_timeout=0.5) as broker:
        async with asyncio.timeout(10):
            with pytest.raises(BrokerUnavailable, match="did not take the publish"):
                await broker.publish("t", 1)
            with pytest.raises(BrokerUnavailable, match="did not confirm"):
                async with broker.subscription("t"):
                    pytest.fail("Redis is not there")
        stats = broker.stats()
        assert stats["dropped_while_disconnected"] == 1
        assert stats["published"] == 0
        assert stats["topics"] == {}
        assert stats["connected"] is False
    assert "cannot publish to Redis" in caplog.text
    assert "cannot connect to Redis" in caplog.text


async def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="timeout"):
        RedisBroker(timeout=0)
    with pytest.raises(ValueError, match="reconnect_max_delay"):
        RedisBroker(reconnect_min_delay=2, reconnect_max_delay=1)
    with pytest.raises(ValueError, match="max_queued"):
        RedisBroker(max_queued=0)


def test_the_password_never_shows_in_the_broker_description() -> None:
    broker = RedisBroker("redis://user:s3cret@127.0.0.1:6390/2")
    assert "s3cret" not in repr(broker)
    assert "127.0.0.1:6390/2" in repr(broker)


def test_redis_is_imported_only_for_the_redis_broker() -> None:
    """MemoryBroker works without the optional redis package."""
    code = textwrap.dedent(
        """
        import sys
        import gqlwire.fanout
        assert "redis" not in sys.modules, "imported too early"
        from gqlwire.fanout import RedisBroker
        assert "redis" in sys.modules
        print(RedisBroker.__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "RedisBroker"
