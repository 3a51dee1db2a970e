"""Fixtures of the fan-out tests.

- ``redis_url``: the Redis at ``REDIS_URL``; tests needing it skip when none answers (they
  fail under ``CI=true``).
- ``private_redis``: a redis-server of this module's own, running at the start of each test;
  tests may kill, freeze and restart it. Stopped when the module ends.
- ``case``: a broker of each kind (memory, redis, redis-streams) for the tests of the common
  contract.
- every test checks that it leaves no asyncio task behind.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gqlwire.fanout import Broker, MemoryBroker, RedisBroker, RedisStreamBroker
from tests.harness.redis_server import (
    RedisProcess,
    delete_keys,
    numsub,
    redis_server_binary_or_skip,
    redis_url_or_skip,
)
from tests.harness.waiting import leaked_tasks, wait_until


@pytest.fixture(scope="session")
def redis_url() -> str:
    return redis_url_or_skip()


@pytest.fixture(scope="module")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    process = RedisProcess(redis_server_binary_or_skip(), tmp_path_factory.mktemp("redis"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def private_redis(redis_process: RedisProcess) -> RedisProcess:
    redis_process.ensure_running()
    return redis_process


@pytest.fixture
def prefix() -> str:
    """A channel prefix no other test (or test run) shares."""
    return f"gqlwire-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(autouse=True)
async def no_task_leaks() -> AsyncIterator[None]:
    """Every test leaves no task behind, and no task failure nobody looked at."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    before = asyncio.all_tasks()
    try:
        yield
        # Async generators left by a `break` are closed by tasks the event loop schedules.
        await wait_until(lambda: not leaked_tasks(before), "the test's tasks have ended", 5)
        gc.collect()  # a task whose exception was never retrieved reports it when collected
        assert not reported, f"the event loop reported: {reported}"
    finally:
        loop.set_exception_handler(previous_handler)


@dataclass
class BrokerCase:
    kind: str
    broker: Broker
    prefix: str
    url: str | None = None

    async def subscribed(self, topic: str, count: int = 1) -> None:
        """``count`` local subscribers are registered and the backend delivers ``topic``."""
        await wait_until(
            lambda: self.broker.stats()["topics"].get(topic, 0) >= count,
            f"{count} local subscriber(s) of {topic!r}",
        )
        if isinstance(self.broker, RedisStreamBroker):
            streams = self.broker
            await wait_until(
                lambda: (
                    topic in streams._positions
                    and topic not in streams._fixing
                    and streams.stats()["connected"]
                ),
                f"the stream reader's position in {topic!r} is fixed and its reader is up",
            )
            # Subscribers woken by that were scheduled before us: let them finish opening.
            await asyncio.sleep(0)
        if self.url is not None:
            url, channel = self.url, self.prefix + topic

            async def on_server() -> bool:
                return await numsub(url, channel) == 1

            await wait_until(on_server, f"Redis has a subscriber of {channel!r}")

    async def unsubscribed(self, topic: str) -> None:
        await wait_until(
            lambda: topic not in self.broker.stats()["topics"], f"no subscriber of {topic!r}"
        )
        if self.url is not None:
            url, channel = self.url, self.prefix + topic

            async def gone() -> bool:
                return await numsub(url, channel) == 0

            await wait_until(gone, f"Redis has no subscriber of {channel!r}")


@pytest.fixture(params=["memory", "redis", "redis-streams"])
async def case(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[BrokerCase]:
    broker: Any
    if request.param == "memory":
        broker = MemoryBroker()
        built = BrokerCase("memory", broker, prefix)
    elif request.param == "redis-streams":
        url = request.getfixturevalue("redis_url")
        broker = RedisStreamBroker(url, stream_prefix=prefix)
        built = BrokerCase("redis-streams", broker, prefix)
        request.addfinalizer(lambda: delete_keys(url, prefix))
    else:
        url = request.getfixturevalue("redis_url")
        broker = RedisBroker(url, channel_prefix=prefix)
        built = BrokerCase("redis", broker, prefix, url)
    try:
        yield built
    finally:
        await broker.close()
