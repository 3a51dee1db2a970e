"""The resume guarantee, end to end: every event, in order, exactly once per subscriber,
across a dropped connection, a server process killed mid-stream, and a broker restart;
and when the broker lost its history, a gap the subscriber is told about.

Each scenario runs on RedisStreamBroker and on NatsBroker (the machine's Redis at
``REDIS_URL`` and NATS at ``NATS_URL``, or a private ``redis-server`` / ``nats-server
-js`` for the restarts; skipped when missing, a failure under ``CI=true``). Servers are
``gqlwire serve`` processes of ``tests/apps/history_broker_app.py`` on aiohttp: what is
tested here is the broker, the cursor's round trip and the client, not the server
library, which tests/server/test_resume.py covers on every server.

The test publishes numbers 1, 2, ... through a broker of its own while subscribers
count what they receive. Every subscription first resumes after event 0 (published
before any subscriber), so that none depends on how soon its server registered it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gqlwire import Client
from gqlwire.client import ClientError
from gqlwire.fanout import BrokerUnavailable, HistoryBroker
from tests.apps.history_broker_app import history_broker
from tests.harness.nats_server import (
    NatsProcess,
    delete_stream,
    nats_server_binary_or_skip,
    nats_url_or_skip,
)
from tests.harness.redis_server import (
    RedisProcess,
    delete_keys,
    redis_server_binary_or_skip,
    redis_url_or_skip,
)
from tests.harness.servers import ServerProcess, assert_clean_log, start_server
from tests.harness.tcp_proxy import TCPProxy
from tests.harness.waiting import wait_until

APP = "tests.apps.history_broker_app:schema"
SERVER = "aiohttp"
TOPIC = "numbers"
QUERY = "subscription ($topic: String!) { numbers(topic: $topic) }"
KINDS = ["redis-streams", "nats"]

EVENTS = 40  # published in all, one every PUBLISH_INTERVAL seconds
PUBLISH_INTERVAL = 0.02
HOLD_AT = 15  # the publisher waits there until the test disrupted something
# How long a server gets to stop gracefully before it is killed: its exit is not what
# these tests check, and the suite's time matters.
STOP_TIMEOUT = 3.0
WITHIN = 30.0  # the bound on any one wait; none is expected to come near it

# A broker's outage is logged at WARNING by the server (never ERROR): its log stays clean.


@dataclass(frozen=True)
class Backend:
    """A broker that the test and its servers share: its kind, URL and a private name."""

    kind: str
    url: str
    name: str = field(default_factory=lambda: f"gqlwire-e2e-{uuid.uuid4().hex[:12]}")

    def env(self) -> dict[str, str]:
        return {
            "GQLWIRE_TEST_BROKER": self.kind,
            "GQLWIRE_TEST_BROKER_URL": self.url,
            "GQLWIRE_TEST_BROKER_NAME": self.name,
        }

    def broker(self) -> HistoryBroker:
        return history_broker(self.kind, self.url, self.name)

    def serve(self) -> ServerProcess:
        return start_server(APP, SERVER, env=self.env())

    async def clean_up(self) -> None:
        if self.kind == "nats":
            with contextlib.suppress(Exception):  # a private NATS may be gone already
                await delete_stream(self.url, self.name)
        else:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(delete_keys, self.url, self.name + ":")


@pytest.fixture(params=KINDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The machine's Redis or NATS, under a name of this test's own."""
    url = redis_url_or_skip() if request.param == "redis-streams" else nats_url_or_skip()
    built = Backend(request.param, url)
    try:
        yield built
    finally:
        await built.clean_up()


@dataclass
class Subscriber:
    """What one subscriber received, in order."""

    name: str
    numbers: list[int] = field(default_factory=list)
    gaps: list[tuple[int, Any]] = field(default_factory=list)  # (number, extensions.gap)
    cursor: str | None = None
    task: asyncio.Task[None] | None = None

    def take(self, result: dict[str, Any]) -> None:
        assert not result.get("errors"), result
        number = result["data"]["numbers"]
        extensions = result.get("extensions") or {}
        assert isinstance(extensions.get("cursor"), str), result  # every result has one
        if "gap" in extensions:
            self.gaps.append((number, extensions["gap"]))
        self.numbers.append(number)
        self.cursor = extensions["cursor"]

    def has(self, count: int) -> bool:
        return len(self.numbers) >= count


def quick_client(url: str, *, retry_attempts: int = 50) -> Client:
    """A client that retries at once: the tests wait on events, not on back-off."""
    return Client(url, retry_attempts=retry_attempts, retry_wait=lambda _retries: 0.05)


async def subscribe_through(client: Client, subscriber: Subscriber, after: str) -> None:
    """Subscribe after event ``after``, then let the client's own retries resume it."""
    async with client:
        results = client.subscribe(QUERY, {"topic": TOPIC}, extensions={"cursor": after})
        async with contextlib.aclosing(results):
            async for result in results:
                subscriber.take(result)


async def subscribe_failing_over(urls: Sequence[str], subscriber: Subscriber, after: str) -> None:
    """A client that knows several servers: when its server is gone for good, it opens a
    new ``Client`` to the next one and resumes after the last cursor it saw, explicitly.

    ``Client`` takes one URL; moving to another server is the application's step (or a
    load balancer's, as ``subscribe_through`` behind a proxy shows).
    """
    for url in urls:
        try:
            cursor = subscriber.cursor or after
            await subscribe_through(quick_client(url, retry_attempts=0), subscriber, cursor)
        except ClientError:
            continue
        return


def start(subscriber: Subscriber, work: Coroutine[Any, Any, None]) -> None:
    subscriber.task = asyncio.get_running_loop().create_task(work, name=subscriber.name)


async def stop_all(subscribers: Sequence[Subscriber]) -> None:
    tasks = [s.task for s in subscribers if s.task is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Publisher:
    """Publishes 1, 2, ... ``EVENTS`` to the topic, one every ``PUBLISH_INTERVAL``.

    It holds before event ``HOLD_AT`` until :meth:`release`: the disruption a test
    stages then surely happens mid-stream, however slowly the subscribers started.
    """

    def __init__(self, broker: HistoryBroker) -> None:
        self.broker = broker
        self.published = 0
        self.released = asyncio.Event()

    async def first(self) -> str:
        """Event 0, before any subscriber: the cursor every subscription starts after."""
        return await publish_until_accepted(self.broker, 0)

    async def run(self) -> None:
        while self.published < EVENTS:
            if self.published + 1 == HOLD_AT:
                await self.released.wait()
            await publish_until_accepted(self.broker, self.published + 1)
            self.published += 1
            await asyncio.sleep(PUBLISH_INTERVAL)

    def release(self) -> None:
        self.released.set()

    async def advanced(self, count: int) -> None:
        """Until ``count`` more events are published from now."""
        self.release()
        target = self.published + count
        await wait_until(lambda: self.published >= target, f"{target} events published", WITHIN)


async def publish_until_accepted(broker: HistoryBroker, number: int) -> str:
    """Publish ``number``, retrying while the broker is unreachable (a restart).

    The broker is only ever killed while the publisher holds (before ``HOLD_AT``), so
    no publish is in flight then: one that raised was not stored, and a retry cannot
    publish an event twice.
    """
    deadline = asyncio.get_running_loop().time() + WITHIN
    while True:
        try:
            event_id = await broker.publish(TOPIC, number)
        except BrokerUnavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        assert event_id is not None  # a history broker names every event
        return event_id


async def everyone_has(subscribers: Sequence[Subscriber], count: int) -> None:
    def done() -> bool:
        for subscriber in subscribers:
            task = subscriber.task
            if task is not None and task.done():
                task.result()  # a subscriber that failed fails the test with its error
        return all(subscriber.has(count) for subscriber in subscribers)

    try:
        await wait_until(done, f"every subscriber received {count} events", WITHIN)
    except BaseException:
        for subscriber in subscribers:
            print(f"{subscriber.name} received {subscriber.numbers}, gaps {subscriber.gaps}")
        raise


def assert_every_event_once(subscribers: Sequence[Subscriber], count: int = EVENTS) -> None:
    expected = list(range(1, count + 1))
    for subscriber in subscribers:
        assert subscriber.numbers == expected, subscriber.name
        assert subscriber.gaps == [], subscriber.name


async def test_a_client_dropped_mid_stream_resumes_with_every_event_once(
    backend: Backend,
) -> None:
    """Its socket is reset while events keep coming, and new connections are refused
    for a while; the client's retry reconnects and resumes after its last cursor."""
    server = backend.serve()
    broker = backend.broker()
    publisher = Publisher(broker)
    subscribers: list[Subscriber] = []
    try:
        after = await publisher.first()
        async with TCPProxy(server.host, server.port) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}/graphql"
            dropped, steady = Subscriber("dropped"), Subscriber("steady")
            start(dropped, subscribe_through(quick_client(url), dropped, after))
            start(steady, subscribe_through(quick_client(server.ws_url()), steady, after))
            subscribers = [dropped, steady]
            publishing = asyncio.get_running_loop().create_task(publisher.run())
            try:
                await everyone_has(subscribers, 5)
                proxy.cut(refuse=True)
                await publisher.advanced(5)  # published while the client has no connection
                proxy.restore()
                await publishing
                await everyone_has(subscribers, EVENTS)
            finally:
                publishing.cancel()
                await stop_all(subscribers)
            assert proxy.accepted >= 2  # the client did reconnect
        assert_every_event_once(subscribers)
    finally:
        await broker.close()
        server.stop(timeout=STOP_TIMEOUT)
    assert_clean_log(server)


async def test_subscribers_of_a_killed_server_move_to_another_with_every_event_once(
    backend: Backend,
) -> None:
    """Two server processes; one is SIGKILLed mid-stream. Its subscribers move to the
    other in both ways a deployment offers: behind a load balancer (here a proxy that
    sends new connections to the live server), the client's own retry reconnects and
    resumes; with a second URL of its own, the application opens a new ``Client`` there
    and passes the last cursor it saw. A subscriber of the surviving server is not
    disturbed."""
    doomed, survivor = backend.serve(), backend.serve()
    broker = backend.broker()
    publisher = Publisher(broker)
    subscribers: list[Subscriber] = []
    try:
        after = await publisher.first()
        async with TCPProxy(doomed.host, doomed.port) as balancer:
            balanced = Subscriber("behind a load balancer")
            failing_over = Subscriber("with a second URL")
            steady = Subscriber("on the surviving server")
            balanced_url = f"ws://127.0.0.1:{balancer.port}/graphql"
            start(balanced, subscribe_through(quick_client(balanced_url), balanced, after))
            urls = [doomed.ws_url(), survivor.ws_url()]
            start(failing_over, subscribe_failing_over(urls, failing_over, after))
            start(steady, subscribe_through(quick_client(survivor.ws_url()), steady, after))
            subscribers = [balanced, failing_over, steady]
            publishing = asyncio.get_running_loop().create_task(publisher.run())
            try:
                await everyone_has(subscribers, 5)
                doomed.send_signal(signal.SIGKILL)
                balancer.upstream = (survivor.host, survivor.port)
                await publisher.advanced(5)
                await publishing
                await everyone_has(subscribers, EVENTS)
            finally:
                publishing.cancel()
                await stop_all(subscribers)
            assert balancer.accepted >= 2  # it did reconnect, through the balancer
        assert doomed.wait(10) == -signal.SIGKILL
        assert_every_event_once(subscribers)
    finally:
        await broker.close()
        doomed.stop(timeout=STOP_TIMEOUT)
        survivor.stop(timeout=STOP_TIMEOUT)
    assert_clean_log(survivor)


@dataclass
class PrivateBroker:
    """A broker process of the test's own, to kill and restart."""

    kind: str
    process: RedisProcess | NatsProcess

    @property
    def url(self) -> str:
        return self.process.url

    def restart(self, *, persistent: bool) -> None:
        """SIGKILL, then start again: with its data, or (not ``persistent``) empty."""
        self.process.kill()
        if isinstance(self.process, NatsProcess):
            self.process.start(fresh_store=not persistent)
        else:
            self.process.start()  # a Redis without its append-only file starts empty


@pytest.fixture
def private_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PrivateBroker]:
    kind, persistent = request.param
    process: RedisProcess | NatsProcess
    if kind == "nats":
        process = NatsProcess(nats_server_binary_or_skip(), tmp_path)
    else:
        process = RedisProcess(redis_server_binary_or_skip(), tmp_path, persistent=persistent)
    process.start()
    try:
        yield PrivateBroker(kind, process)
    finally:
        process.stop()


@pytest.mark.parametrize(
    ("private_broker", "persistent"),
    [
        pytest.param((kind, persistent), persistent, id=f"{kind}-{label}")
        for kind in KINDS
        for persistent, label in ((True, "persistent"), (False, "without-persistence"))
    ],
    indirect=["private_broker"],
)
async def test_a_broker_restart_loses_nothing_with_persistence_and_is_told_without(
    private_broker: PrivateBroker, persistent: bool
) -> None:
    """The broker is SIGKILLed mid-stream and started again. With its data, subscribers
    get every event once and no gap. Without, the events before the restart were all
    delivered, and the first result after it carries a ``lost`` gap: never silent."""
    backend = Backend(private_broker.kind, private_broker.url)
    server = backend.serve()
    broker = backend.broker()
    publisher = Publisher(broker)
    subscribers = [Subscriber("first"), Subscriber("second")]
    try:
        after = await publisher.first()
        for subscriber in subscribers:
            client = quick_client(server.ws_url())
            start(subscriber, subscribe_through(client, subscriber, after))
        publishing = asyncio.get_running_loop().create_task(publisher.run())
        try:
            await everyone_has(subscribers, HOLD_AT - 1)  # all before the restart
            private_broker.restart(persistent=persistent)
            await publisher.advanced(5)
            await publishing
            await everyone_has(subscribers, EVENTS)
        finally:
            publishing.cancel()
            await stop_all(subscribers)
        if persistent:
            assert_every_event_once(subscribers)
        else:
            for subscriber in subscribers:
                assert subscriber.numbers == list(range(1, EVENTS + 1)), subscriber.name
                [(number, gap)] = subscriber.gaps
                assert number == HOLD_AT, subscriber.name
                assert gap["reason"] == "lost" and gap["topic"] == TOPIC, gap
    finally:
        await broker.close()
        server.stop(timeout=STOP_TIMEOUT)
    assert_clean_log(server)
