"""NatsBroker on real NATS JetStream: history, resuming after a cursor, gaps, outages.

Most tests use the NATS at ``NATS_URL`` with a stream and subject prefix of their own,
deleted afterwards. The outage tests run a nats-server of their own that they kill
(SIGKILL) and restart on the same port, on its store (nothing lost) or on an empty one
(the stream lost). Every wait is bounded; events are counted per subscriber, and none
may be missing or repeated.
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

import pytest

from gqlwire.fanout import (
    BrokerGap,
    BrokerUnavailable,
    GapReason,
    HistorySubscription,
    NatsBroker,
    ResumeGap,
    ResumePoint,
    current_resume,
)
from gqlwire.fanout.nats import topic_subject
from tests.harness.nats_server import (
    NatsProcess,
    delete_stream,
    nats_server_binary_or_skip,
    nats_url_or_skip,
)
from tests.harness.servers import assert_clean_log, free_port, start_server
from tests.harness.waiting import leaked_tasks, next_within, wait_until
from tests.harness.wsclient import WSClient, ws_client

pytestmark = pytest.mark.timeout(60)

TOPIC = "room:lobby"


@pytest.fixture(scope="session")
def nats_url() -> str:
    return nats_url_or_skip()


@pytest.fixture
def names() -> tuple[str, str]:
    """A stream name and subject prefix no other test (or test run) shares."""
    tag = uuid.uuid4().hex[:12]
    return f"GQLWIRE_TEST_{tag}", f"gqlwire-test.{tag}."


class Brokers:
    """Brokers of one test on one stream; closed, and the stream deleted, afterwards."""

    def __init__(self, url: str, stream: str, prefix: str) -> None:
        self.url, self.stream, self.prefix = url, stream, prefix
        self.made: list[NatsBroker] = []

    def __call__(self, **options: Any) -> NatsBroker:
        settings: dict[str, Any] = {
            "stream": self.stream,
            "subject_prefix": self.prefix,
            "timeout": 2.0,
            "heartbeat": 1.0,
            "reconnect_min_delay": 0.05,
            "reconnect_max_delay": 0.5,
            **options,
        }
        broker = NatsBroker(self.url, **settings)
        self.made.append(broker)
        return broker

    async def close(self) -> None:
        for broker in self.made:
            await broker.close()


@pytest.fixture
async def brokers(nats_url: str, names: tuple[str, str]) -> AsyncIterator[Brokers]:
    made = Brokers(nats_url, *names)
    try:
        yield made
    finally:
        await made.close()
        await delete_stream(nats_url, made.stream)


@pytest.fixture(scope="module")
def nats_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsProcess]:
    process = NatsProcess(nats_server_binary_or_skip(), tmp_path_factory.mktemp("nats"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def private_brokers(
    nats_process: NatsProcess, names: tuple[str, str]
) -> AsyncIterator[Brokers]:
    nats_process.ensure_running()
    made = Brokers(nats_process.url, *names)
    try:
        yield made
    finally:
        await made.close()


async def publish_numbers(broker: NatsBroker, numbers: range, topic: str = TOPIC) -> list[str]:
    return [await broker.publish(topic, {"n": n}) for n in numbers]


async def publish_through_outage(broker: NatsBroker, number: int) -> str:
    """Publish, retrying while NATS is away (each failure raised, nothing sent)."""
    async with asyncio.timeout(20):
        while True:
            try:
                return await broker.publish(TOPIC, {"n": number})
            except BrokerUnavailable:
                await asyncio.sleep(0.05)


async def take(events: Any, count: int, within: float = 10.0) -> list[int]:
    return [(await next_within(events, within))["n"] for _ in range(count)]


def in_resume_context(point: ResumePoint) -> contextvars.Context:
    """A context in which ``current_resume`` is ``point``, as the operation core sets it."""
    context = contextvars.copy_context()
    context.run(current_resume.set, point)
    return context


# -- topics and subjects -------------------------------------------------------------------


def test_a_topic_is_one_escaped_subject_token() -> None:
    assert topic_subject("p.", "room:lobby") == "p.room:lobby"
    assert topic_subject("p.", "a.b") == "p.a%2Eb"
    assert topic_subject("p.", "*") == "p.%2A"
    assert topic_subject("p.", ">") == "p.%3E"
    assert topic_subject("p.", "a b\tc") == "p.a%20b%09c"
    assert topic_subject("p.", "100%") == "p.100%25"
    assert topic_subject("p.", "") == "p.%"
    assert topic_subject("p.", "zürich") == "p.z%C3%BCrich"
    # Distinct topics never share a subject.
    topics = ["a.b", "a%2Eb", "a", "", "%", "*", ">", "a b", "a%20b"]
    assert len({topic_subject("p.", topic) for topic in topics}) == len(topics)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="subject_prefix"):
        NatsBroker(subject_prefix="no-dot")
    with pytest.raises(ValueError, match="subject_prefix"):
        NatsBroker(subject_prefix="a.*.")
    with pytest.raises(ValueError, match="stream name"):
        NatsBroker(stream="a.b")
    with pytest.raises(ValueError, match="max_messages_per_subject"):
        NatsBroker(max_messages_per_subject=0)
    with pytest.raises(ValueError, match="max_age"):
        NatsBroker(max_age=0)


# -- publish and subscribe -------------------------------------------------------------------


async def test_subscribers_get_every_event_in_order_with_the_published_ids(
    brokers: Brokers,
) -> None:
    broker = brokers()
    async with broker.subscription(TOPIC) as events:
        assert isinstance(events, HistorySubscription)
        ids = await publish_numbers(broker, range(50))
        assert await take(events, 50) == list(range(50))
        assert events.last_id == ids[-1]
    assert len(set(ids)) == 50
    assert [broker._event_order(i) for i in ids] == sorted(broker._event_order(i) for i in ids)
    stats = broker.stats()
    assert stats["published"] == 50 and stats["delivered"] == 50 and stats["connected"]


async def test_topics_with_wildcards_and_dots_do_not_see_each_other(brokers: Brokers) -> None:
    broker = brokers()
    async with (
        broker.subscription("a.*") as wildcard,
        broker.subscription("a.b") as dotted,
        broker.subscription(">") as everything,
    ):
        await broker.publish("a.b", {"n": 1})
        await broker.publish("a.*", {"n": 2})
        await broker.publish(">", {"n": 3})
        assert await take(dotted, 1) == [1]
        assert await take(wildcard, 1) == [2]
        assert await take(everything, 1) == [3]
        await broker.publish("a.b", {"n": 4})
        assert await take(dotted, 1) == [4]
        assert broker.stats()["delivered"] == 4  # nothing crossed over


async def test_a_second_process_shares_the_history(brokers: Brokers) -> None:
    """Another broker on the same stream (another worker) resumes after this one's ids."""
    publisher, other = brokers(), brokers()
    ids = await publish_numbers(publisher, range(10))
    async with other.subscription(TOPIC, after=ids[3]) as events:
        assert await take(events, 6) == list(range(4, 10))
        await publish_numbers(publisher, range(10, 13))
        assert await take(events, 3) == [10, 11, 12]


# -- resuming --------------------------------------------------------------------------------


async def test_resuming_gets_exactly_what_was_published_meanwhile(brokers: Brokers) -> None:
    """A subscriber drops mid-stream while events keep coming, and resumes on its cursor."""
    publisher, subscriber = brokers(), brokers()
    total = 300
    async with subscriber.subscription(TOPIC, after=None) as first:
        assert isinstance(first, HistorySubscription)
        producing = asyncio.create_task(publish_numbers(publisher, range(total)))
        received = await take(first, 40)
        cursor = first.last_id
    assert cursor is not None
    # Dropped: events keep coming while nobody listens, and while it resubscribes.
    await asyncio.sleep(0.05)
    async with subscriber.subscription(TOPIC, after=cursor) as second:
        received += await take(second, total - 40)
        await producing
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await anext(second)  # nothing more, in particular no duplicate
    assert received == list(range(total))


async def test_a_long_history_is_replayed_page_by_page(brokers: Brokers) -> None:
    broker = brokers()
    count = 2 * broker.page_size + 10
    ids = await publish_numbers(broker, range(count // 2))
    await broker.publish("another topic", {"n": -1})  # interleaved in the stream
    ids += await publish_numbers(broker, range(count // 2, count))
    async with broker.subscription(TOPIC, after=ids[0]) as events:
        assert await take(events, count - 1) == list(range(1, count))
        assert isinstance(events, HistorySubscription) and events.last_id == ids[-1]


async def test_a_resolver_resumes_through_the_operations_resume_point(brokers: Brokers) -> None:
    """``async for event in broker.subscribe(topic)`` resumes with no code of its own."""
    broker = brokers()
    ids = await publish_numbers(broker, range(5))

    async def resolver() -> AsyncGenerator[Any, None]:  # what a schema's subscribe function is
        async for event in broker.subscribe(TOPIC):
            yield event

    point = ResumePoint(after=ids[1])
    source = resolver()
    context = in_resume_context(point)

    async def step() -> Any:
        return await next_within(source)

    async def next_event() -> Any:
        # Each result is taken in the operation's context, as the operation core does.
        return await asyncio.get_running_loop().create_task(step(), context=context)

    cursors = []
    for expected in (2, 3, 4):
        assert await next_event() == {"n": expected}
        cursors.append(point.cursor)
    assert cursors == ids[2:5]
    assert point.extensions() == {"cursor": ids[4]}  # no gap
    await broker.publish(TOPIC, {"n": 5})
    assert await next_event() == {"n": 5}
    assert point.cursor != ids[4]
    await source.aclose()


async def test_an_expired_cursor_is_a_gap_then_the_oldest_retained(brokers: Brokers) -> None:
    broker = brokers(max_messages_per_subject=5)
    ids = await publish_numbers(broker, range(20))
    point = ResumePoint(after=ids[2])
    context = in_resume_context(point)
    subscription = context.run(broker.subscription, TOPIC)
    async with subscription as events:
        first = await next_within(events)
        # The stream keeps one event more per topic than promised (see _cursor_gap).
        assert first == {"n": 14}
        assert point.take_gaps() == [ResumeGap(TOPIC, ids[2], GapReason.EXPIRED)]
        assert await take(events, 5) == [15, 16, 17, 18, 19]
        await broker.publish(TOPIC, {"n": 20})
        assert await take(events, 1) == [20]


async def test_a_cursor_within_retention_resumes_without_a_gap(brokers: Brokers) -> None:
    """Missing exactly max_messages_per_subject events is still within retention."""
    broker = brokers(max_messages_per_subject=5)
    ids = await publish_numbers(broker, range(20))
    point = ResumePoint(after=ids[14])
    async with in_resume_context(point).run(broker.subscription, TOPIC) as events:
        assert await take(events, 5) == [15, 16, 17, 18, 19]
    assert point.take_gaps() == []


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("not-a-cursor", GapReason.INVALID),
        ("5", GapReason.INVALID),
        ("1-5", GapReason.LOST),  # an id of another stream (an older epoch)
        ("{epoch}-999999", GapReason.LOST),  # beyond anything this stream numbered
        ("{epoch}-0", GapReason.INVALID),
        ("{other_topic}", GapReason.INVALID),  # an id of another topic's event
    ],
)
async def test_cursors_this_stream_cannot_resume_from_are_gaps(
    brokers: Brokers, cursor: str, reason: GapReason
) -> None:
    broker = brokers()
    other = await broker.publish("another topic", {"n": -1})
    ids = await publish_numbers(broker, range(3))
    epoch = ids[0].partition("-")[0]
    cursor = cursor.format(epoch=epoch, other_topic=other)
    point = ResumePoint(after=cursor)
    async with in_resume_context(point).run(broker.subscription, TOPIC) as events:
        assert await take(events, 3) == [0, 1, 2]  # from the oldest retained
    assert point.take_gaps() == [ResumeGap(TOPIC, cursor, reason)]


async def test_a_slow_subscriber_replays_instead_of_losing_events(brokers: Brokers) -> None:
    broker = brokers()
    async with broker.subscription(TOPIC, max_queued=3) as events:
        await broker.publish(TOPIC, {"n": 0})
        assert await take(events, 1) == [0]
        # Then it stalls while 59 more come: its queue keeps only the newest 3.
        await publish_numbers(broker, range(1, 60))
        await wait_until(lambda: events.dropped > 0, "the small queue overflowed")
        assert await take(events, 59) == list(range(1, 60))
        assert events.dropped > 0
        await broker.publish(TOPIC, {"n": 60})
        assert await take(events, 1) == [60]


# -- without NATS ----------------------------------------------------------------------------


async def test_publish_without_nats_raises_and_counts() -> None:
    broker = NatsBroker(f"nats://127.0.0.1:{free_port()}", timeout=0.3, subscribe_timeout=0.3)
    try:
        with pytest.raises(BrokerUnavailable):
            await broker.publish(TOPIC, {"n": 1})
        with pytest.raises(BrokerUnavailable):
            async with broker.subscription(TOPIC, after=None):
                pass
        stats = broker.stats()
        assert stats["dropped_while_disconnected"] == 1 and not stats["connected"]
    finally:
        await broker.close()


async def test_closing_ends_subscribers_and_leaves_no_task(brokers: Brokers) -> None:
    before = asyncio.all_tasks()
    broker = brokers()
    subscription = broker.subscription(TOPIC)
    await subscription.__aenter__()
    waiting = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0.05)
    await broker.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 5)
    await wait_until(lambda: not leaked_tasks(before), "the broker's tasks have ended", 5)


# -- NATS restarted --------------------------------------------------------------------------


async def test_subscribers_continue_after_a_nats_restart(
    nats_process: NatsProcess, private_brokers: Brokers
) -> None:
    gaps: list[BrokerGap] = []
    publisher = private_brokers()
    # The subscriber reconnects a second or so after the restart; a new process publishes
    # at once: what it publishes reaches the subscriber only if its consumer continues
    # after its last event rather than from "now".
    subscriber = private_brokers(
        on_gap=gaps.append, reconnect_min_delay=1.0, reconnect_max_delay=1.5
    )
    async with subscriber.subscription(TOPIC, after=None) as events:
        await publish_numbers(publisher, range(10))
        received = await take(events, 5)
        nats_process.kill()
        nats_process.start()
        await publish_numbers(private_brokers(), range(10, 15))
        for n in range(15, 20):
            await publish_through_outage(publisher, n)
        assert subscriber.stats()["reconnects"] == 0  # the new one published before
        received += await take(events, 15, within=20)
    assert received == list(range(20))
    assert subscriber.stats()["reconnects"] >= 1
    assert subscriber.stats()["gaps"] == 0 and gaps == []


async def test_subscribers_are_told_when_nats_lost_the_stream(
    nats_process: NatsProcess, private_brokers: Brokers
) -> None:
    gaps: list[BrokerGap] = []
    publisher, subscriber = private_brokers(), private_brokers(on_gap=gaps.append)
    point = ResumePoint(after=None)
    async with in_resume_context(point).run(subscriber.subscription, TOPIC) as events:
        ids = await publish_numbers(publisher, range(3))
        assert await take(events, 3) == [0, 1, 2]
        nats_process.kill()
        nats_process.start(fresh_store=True)  # every stream gone
        after_restart = await publish_through_outage(publisher, 100)
        assert await take(events, 1, within=20) == [100]
    assert point.take_gaps() == [ResumeGap(TOPIC, ids[2], GapReason.LOST)]
    assert subscriber._event_order(after_restart) > subscriber._event_order(ids[2])
    await wait_until(lambda: bool(gaps), "on_gap was called")
    assert gaps[0].topics == frozenset({TOPIC})
    assert subscriber.stats()["gaps"] == 1
    # A client resuming on an old cursor is told too, then gets the new stream's events.
    resumed = ResumePoint(after=ids[1])
    async with in_resume_context(resumed).run(subscriber.subscription, TOPIC) as events:
        assert await take(events, 1) == [100]
    assert resumed.take_gaps() == [ResumeGap(TOPIC, ids[1], GapReason.LOST)]


async def test_a_stream_deleted_and_made_again_is_told_as_lost(
    nats_url: str, brokers: Brokers
) -> None:
    """Someone deletes the stream while everyone is connected; a publish makes it again."""
    publisher, subscriber = brokers(), brokers(timeout=1.0)
    point = ResumePoint(after=None)
    async with in_resume_context(point).run(subscriber.subscription, TOPIC) as events:
        ids = await publish_numbers(publisher, range(3))
        assert await take(events, 3) == [0, 1, 2]
        await delete_stream(nats_url, brokers.stream)
        after = await publish_through_outage(publisher, 100)  # makes the stream again
        assert after.partition("-")[0] != ids[0].partition("-")[0]  # a new epoch
        await publisher.publish(TOPIC, {"n": 101})
        # A client resumes on the subscriber's process with a cursor of the new stream,
        # before that process noticed the change: it is resumed, not told it lost events.
        resumed = ResumePoint(after=after)
        async with in_resume_context(resumed).run(subscriber.subscription, TOPIC) as again:
            assert await take(again, 1) == [101]
            # The subscriber's consumer went with the old stream: its heartbeats stop.
            assert await take(events, 2, within=20) == [100, 101]
            await publisher.publish(TOPIC, {"n": 102})
            assert await take(again, 1) == [102]
            assert await take(events, 1) == [102]
    assert resumed.take_gaps() == []
    assert point.take_gaps() == [ResumeGap(TOPIC, ids[2], GapReason.LOST)]
    assert subscriber.stats()["gaps"] == 1


# -- across server processes -----------------------------------------------------------------


QUERY = "subscription($t: String!) { tick(topic: $t) { seq } }"


async def next_results(client: WSClient, count: int) -> list[dict[str, Any]]:
    received = []
    for _ in range(count):
        message = await client.receive(timeout=10)
        assert message["type"] == "next", message
        received.append(message["payload"])
    return received


@pytest.mark.timeout(90)
async def test_clients_of_a_killed_server_resume_on_another_losing_nothing(
    brokers: Brokers,
) -> None:
    """A server process is killed (SIGKILL) mid-stream while events keep coming; its
    client resubscribes on another process with its last cursor and gets every event
    once, in order. One server kind: the wire part is every server's (tests/server)."""
    env = {
        "GQLWIRE_TEST_NATS_URL": brokers.url,
        "GQLWIRE_TEST_NATS_STREAM": brokers.stream,
        "GQLWIRE_TEST_NATS_PREFIX": brokers.prefix,
    }
    publisher = brokers()
    topic, total = "ticks", 150
    start = await publisher.publish(topic, {"seq": 0})  # the client starts after it
    servers = await asyncio.gather(
        *(
            asyncio.to_thread(start_server, "tests.fanout.nats_app:schema", "aiohttp", env=env)
            for _ in "ab"
        )
    )
    killed, other = servers
    try:

        async def produce() -> None:
            for seq in range(1, total):
                await publisher.publish(topic, {"seq": seq})
                await asyncio.sleep(0.005)

        payload = {"query": QUERY, "variables": {"t": topic}, "extensions": {"cursor": start}}
        received: list[dict[str, Any]] = []
        async with ws_client(killed.ws_url()) as client:
            await client.send({"type": "connection_init"})
            assert (await client.receive())["type"] == "connection_ack"
            await client.send({"id": "1", "type": "subscribe", "payload": payload})
            producing = asyncio.create_task(produce())
            received += await next_results(client, 20)
            killed.stop(signum=signal.SIGKILL)
        cursor = received[-1]["extensions"]["cursor"]
        async with ws_client(other.ws_url()) as client:
            await client.send({"type": "connection_init"})
            assert (await client.receive())["type"] == "connection_ack"
            payload["extensions"] = {"cursor": cursor}
            await client.send({"id": "1", "type": "subscribe", "payload": payload})
            received += await next_results(client, total - 1 - 20)
            await producing
            await client.expect_nothing(0.3)  # in particular no duplicate
    finally:
        for server in servers:
            server.stop()
    assert [result["data"]["tick"]["seq"] for result in received] == list(range(1, total))
    assert all("gap" not in result.get("extensions", {}) for result in received)
    assert len({result["extensions"]["cursor"] for result in received}) == total - 1
    assert_clean_log(other)
