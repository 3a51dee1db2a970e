"""Shared subscriptions and slow consumers over real servers.

The proofs are counted inside the server process: how often the subscription's
resolver ran (one execution per event per group), the server's ``stats()`` (events
serialized, deliveries, dropped messages, slow consumers closed) and the broker's
subscribers (one source per group, none left once the last member is gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.harness.control import new_token
from tests.harness.protocols import TRANSPORT_WS
from tests.harness.rawws import raw_websocket
from tests.harness.servers import ServerProcess, assert_clean_log
from tests.harness.wsclient import WSClient, http_get, http_post_json, ws_client

TARGET = "tests.apps.sharing_app:app"
QUERY = "subscription($t: String!) { tick(topic: $t) { seq payload } }"


@pytest.fixture(scope="module")
def server(server_name: str, server_pool: Any) -> ServerProcess:
    proc: ServerProcess = server_pool.get(TARGET, server_name)
    return proc


NEVER_PUSHES_BACK: dict[str, str] = {}
"""Servers whose send never waits for a client that stopped reading: none under
``gqlwire serve``. aiohttp, uvicorn (both WebSocket implementations), hypercorn and
granian hold a send once the socket's buffers are full, which is what fills an outbox;
daphne (Twisted) would buffer without bound, and ``serve`` makes its sends wait for
Twisted's write buffer to drain."""


def skip_unless_pushes_back(server: ServerProcess) -> None:
    reason = NEVER_PUSHES_BACK.get(server.server)
    if reason is not None:
        pytest.skip(reason)


async def get_json(server: ServerProcess, path: str, query: str = "") -> Any:
    response = await http_get(server.http_url(path, query))
    response.raise_for_status()
    return response.json()


async def publish(
    server: ServerProcess, topic: str, count: int, size: int = 10, text: str = "x"
) -> None:
    query = urlencode({"topic": topic, "count": count, "size": size, "text": text})
    response = await http_post_json(server.http_url("/_publish", query), {})
    response.raise_for_status()


async def wait_for(check: Any, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def subscribers_of(server: ServerProcess, topic: str) -> int:
    topics = await get_json(server, "/_broker")
    return int(topics.get(topic, 0))


async def connect(
    server: ServerProcess, path: str, user: str | None = None
) -> AsyncGenerator[WSClient, None]:
    params = {"user": user} if user is not None else {}
    async with ws_client(server.ws_url(path), subprotocols=[TRANSPORT_WS]) as client:
        await client.send({"type": "connection_init", "payload": params})
        assert (await client.receive())["type"] == "connection_ack"
        yield client


async def subscribe(client: WSClient, id: str, topic: str) -> None:
    await client.send(
        {"id": id, "type": "subscribe", "payload": {"query": QUERY, "variables": {"t": topic}}}
    )


async def receive_ticks(client: WSClient, count: int) -> list[dict[str, Any]]:
    return [await client.receive(timeout=10) for _ in range(count)]


async def test_each_event_is_executed_once_for_every_identical_subscription(
    server: ServerProcess,
) -> None:
    topic = new_token()
    before = await get_json(server, "/_stats", "route=/shared")
    clients = [connect(server, "/shared") for _ in range(3)]
    opened = [await anext(c) for c in clients]
    try:
        for client in opened:
            await subscribe(client, "a", topic)
            await subscribe(client, "b", topic)
        await wait_for(lambda: _equals(subscribers_of(server, topic), 1))
        await publish(server, topic, 10)
        for client in opened:
            received = await receive_ticks(client, 20)
            for id in ("a", "b"):
                mine = [m for m in received if m["id"] == id]
                assert [m["payload"]["data"]["tick"]["seq"] for m in mine] == list(range(10))
                assert all(m["type"] == "next" for m in mine)
        counts = await get_json(server, "/_counts")
        assert counts[topic] == 10  # not 60: one execution per event for the group
        after = await get_json(server, "/_stats", "route=/shared")
        assert after["shared_events"] - before["shared_events"] == 10  # serialized once each
        assert after["shared_deliveries"] - before["shared_deliveries"] == 60
    finally:
        for c in clients:
            await c.aclose()
    await wait_for(lambda: _equals(subscribers_of(server, topic), 0))


@pytest.mark.parametrize("repeat", [5, 2_000, 20_000])
async def test_both_subprotocols_share_frames_of_every_length_intact(
    server: ServerProcess, repeat: int
) -> None:
    """One group, one member per subprotocol, each with a non-ASCII id: every frame
    (7-bit, 16-bit and 64-bit WebSocket lengths) carries the member's own id and type
    and the whole non-ASCII payload, spliced from the same serialized bytes."""
    topic, text = new_token(), "é€😀"
    members_before = await shared_members(server)
    async with (
        ws_client(server.ws_url("/shared"), subprotocols=[TRANSPORT_WS]) as modern,
        ws_client(server.ws_url("/shared"), subprotocols=["graphql-ws"]) as legacy,
    ):
        for client in (modern, legacy):
            await client.send({"type": "connection_init", "payload": {}})
            assert (await client.receive())["type"] == "connection_ack"
        await subscribe(modern, "né-1", topic)
        start = {"query": QUERY, "variables": {"t": topic}}
        await legacy.send({"id": "ü-2", "type": "start", "payload": start})
        await wait_for(lambda: _equals(subscribers_of(server, topic), 1))
        await wait_for(lambda: _at_least(shared_members(server), members_before + 2))
        await publish(server, topic, 3, size=repeat, text=text)
        for client, id, kind in ((modern, "né-1", "next"), (legacy, "ü-2", "data")):
            for seq in range(3):
                message = await client.receive(timeout=10)
                assert (message["id"], message["type"]) == (id, kind)
                tick = {"seq": seq, "payload": text * repeat}
                assert message["payload"] == {"data": {"tick": tick}}
    assert (await get_json(server, "/_counts"))[topic] == 3


@pytest.mark.per_adapter  # grouping is gqlwire's own: one server per adapter
async def test_different_share_keys_never_share(server: ServerProcess) -> None:
    topic = new_token()
    ada = connect(server, "/shared", user="ada")
    bob = connect(server, "/shared", user="bob")
    a, b = await anext(ada), await anext(bob)
    try:
        await subscribe(a, "1", topic)
        await subscribe(b, "1", topic)
        await wait_for(lambda: _equals(subscribers_of(server, topic), 2))  # one source each
        await publish(server, topic, 5)
        for client in (a, b):
            received = await receive_ticks(client, 5)
            assert [m["payload"]["data"]["tick"]["seq"] for m in received] == list(range(5))
        assert (await get_json(server, "/_counts"))[topic] == 10  # 5 per group
    finally:
        await ada.aclose()
        await bob.aclose()


@pytest.mark.per_adapter  # grouping is gqlwire's own: one server per adapter
async def test_without_share_key_every_subscription_executes(server: ServerProcess) -> None:
    topic = new_token()
    gen = connect(server, "/unshared")
    client = await anext(gen)
    try:
        for id in ("1", "2", "3"):
            await subscribe(client, id, topic)
        await wait_for(lambda: _equals(subscribers_of(server, topic), 3))
        await publish(server, topic, 4)
        received = await receive_ticks(client, 12)
        assert sorted(m["id"] for m in received) == sorted(["1", "2", "3"] * 4)
        assert (await get_json(server, "/_counts"))[topic] == 12
    finally:
        await gen.aclose()


@pytest.mark.per_adapter  # grouping is gqlwire's own: one server per adapter
async def test_different_variables_make_different_groups(server: ServerProcess) -> None:
    first, second = new_token(), new_token()
    gen = connect(server, "/shared")
    client = await anext(gen)
    try:
        await subscribe(client, "1", first)
        await subscribe(client, "2", second)
        await wait_for(lambda: _equals(subscribers_of(server, first), 1))
        await wait_for(lambda: _equals(subscribers_of(server, second), 1))
        await publish(server, first, 2)
        received = await receive_ticks(client, 2)
        assert {m["id"] for m in received} == {"1"}
        await client.expect_nothing(0.2)
    finally:
        await gen.aclose()


async def test_members_leave_one_by_one_and_the_last_stops_the_source(
    server: ServerProcess,
) -> None:
    topic = new_token()
    gen = connect(server, "/shared")
    client = await anext(gen)
    try:
        await subscribe(client, "1", topic)
        await subscribe(client, "2", topic)
        await wait_for(lambda: _equals(subscribers_of(server, topic), 1))
        await client.send({"id": "1", "type": "complete"})
        await publish(server, topic, 3)
        received = await receive_ticks(client, 3)
        assert {m["id"] for m in received} == {"2"}  # nothing more for the completed one
        assert await subscribers_of(server, topic) == 1
        await client.send({"id": "2", "type": "complete"})
        await wait_for(lambda: _equals(subscribers_of(server, topic), 0))
        await client.expect_nothing(0.2)  # the client completed: no complete back
    finally:
        await gen.aclose()


@pytest.mark.parametrize("route", ["/slow-close", "/slow-drop"])
async def test_a_client_that_stops_reading_never_holds_the_others(
    server: ServerProcess, route: str
) -> None:
    """One subscriber never reads; the other gets every event, and the stalled one's
    outbox stays bounded: it is closed (policy close) or its oldest results dropped."""
    skip_unless_pushes_back(server)
    topic = new_token()
    before = await get_json(server, "/_stats", f"route={route}")
    async with reader_beside_a_stalled_client(server, route, topic) as reader:
        # 300 events of 64 KiB: far more than the socket buffers hold, so the stalled
        # connection's outbox fills while the reader keeps up.
        count = 300
        publishing = asyncio.create_task(publish(server, topic, count, size=64 * 1024))
        if route == "/slow-close":
            # The close policy holds the publisher while a client makes progress:
            # the reading client loses nothing.
            received = await receive_ticks(reader, count)
            seqs = [m["payload"]["data"]["tick"]["seq"] for m in received]
            assert seqs == list(range(count))
        else:
            # drop_oldest never waits: a reader that falls behind a burst may lose its
            # own oldest results too, but it is never held, gets the newest event,
            # and what it gets is in order.
            seqs = []
            while not seqs or seqs[-1] != count - 1:
                message = await reader.receive(timeout=10)
                seqs.append(message["payload"]["data"]["tick"]["seq"])
            assert seqs == sorted(set(seqs))
        await publishing
        after = await get_json(server, "/_stats", f"route={route}")
        if route == "/slow-close":

            async def closed() -> bool:
                now = await get_json(server, "/_stats", f"route={route}")
                return bool(now["slow_consumers_closed"] > before["slow_consumers_closed"])

            await wait_for(closed)
        else:
            assert after["dropped_messages"] > before["dropped_messages"]


async def test_a_stalled_member_falls_behind_without_holding_the_publisher(
    server: ServerProcess,
) -> None:
    """Close policy: a client that stops reading falls behind into a bounded backlog while
    the others get every event at once; it is closed by its own catch-up, not by the
    publisher waiting for it."""
    skip_unless_pushes_back(server)
    route = "/slow-close"
    topic = new_token()
    before = await get_json(server, "/_stats", f"route={route}")
    async with reader_beside_a_stalled_client(server, route, topic) as reader:
        stats = before
        for _ in range(400):  # 64 KiB events until the stalled client's buffers are full
            await publish(server, topic, 2, size=64 * 1024)
            await receive_ticks(reader, 2)
            stats = await get_json(server, "/_stats", f"route={route}")
            if stats["shared_lagging"] == 1:
                break
        assert stats["shared_lagging"] == 1, "the stalled client never fell behind"
        # Fewer events than the backlog holds (20): the publisher must not wait.
        await publish(server, topic, 15, size=64 * 1024)
        await receive_ticks(reader, 15)
        now = await get_json(server, "/_stats", f"route={route}")
        assert now["slow_consumers_closed"] == before["slow_consumers_closed"]
        assert now["shared_lagging"] == 1  # ... while the stalled one is still behind

        async def closed() -> bool:
            now = await get_json(server, "/_stats", f"route={route}")
            return bool(
                now["slow_consumers_closed"] == before["slow_consumers_closed"] + 1
                and now["shared_lagging"] == 0
            )

        await wait_for(closed)  # after slow_consumer_timeout without progress
        await publish(server, topic, 3)
        assert len(await receive_ticks(reader, 3)) == 3


@asynccontextmanager
async def reader_beside_a_stalled_client(
    server: ServerProcess, route: str, topic: str
) -> AsyncIterator[WSClient]:
    """A reading subscriber of ``topic`` and a stalled one, both subscribed; on exit,
    both are gone and the server's log must hold no error from what happened."""
    since = server.log_offset()
    gen = connect(server, route)
    reader = await anext(gen)
    try:
        async with stalled_subscriber(server, route, topic):
            await subscribe(reader, "1", topic)
            await wait_for(lambda: _equals(subscribers_of(server, topic), 1))
            yield reader
    finally:
        await gen.aclose()
    assert_clean_log(server, since=since)


@asynccontextmanager
async def stalled_subscriber(server: ServerProcess, route: str, topic: str) -> AsyncIterator[None]:
    """A client that subscribes to ``topic`` and then never reads."""
    async with raw_websocket("127.0.0.1", server.port, route, TRANSPORT_WS) as stalled:
        await stalled.send_json({"type": "connection_init"})
        assert (await stalled.receive_json())["type"] == "connection_ack"
        subscription = {"query": QUERY, "variables": {"t": topic}}
        await stalled.send_json({"id": "1", "type": "subscribe", "payload": subscription})
        yield


async def shared_members(server: ServerProcess) -> int:
    return int((await get_json(server, "/_stats", "route=/shared"))["shared_members"])


async def _at_least(value: Any, expected: Any) -> bool:
    return bool(await value >= expected)


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
