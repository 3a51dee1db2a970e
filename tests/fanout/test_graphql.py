"""Brokers behind GraphQL subscriptions: the documented resolver under graphql-core, and
events shared by two real server processes through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import ExecutionResult, parse, subscribe

from gqlwire.client import Client
from tests.harness.redis_server import numsub, redis_url_or_skip
from tests.harness.servers import ServerProcess, assert_clean_log, start_server
from tests.harness.waiting import wait_until

from .chat_app import schema_for
from .conftest import BrokerCase


async def graphql_subscribe(case: BrokerCase, room: str) -> AsyncIterator[ExecutionResult]:
    document = parse("subscription ($room: String!) { messages(room: $room) }")
    result: Any = subscribe(schema_for(case.broker), document, variable_values={"room": room})
    if inspect.isawaitable(result):
        result = await result
    assert not isinstance(result, ExecutionResult), result.errors
    return result  # type: ignore[no-any-return]


async def test_the_documented_resolver_under_graphql_core(case: BrokerCase) -> None:
    stream = await graphql_subscribe(case, "1")
    first = asyncio.ensure_future(anext(stream))
    await case.subscribed("room:1")
    await case.broker.publish("room:1", "hello")
    async with asyncio.timeout(10):
        result = await first
    assert result.errors is None
    assert result.data == {"messages": "hello"}
    # Completing the GraphQL subscription ends the broker subscription.
    await stream.aclose()  # type: ignore[attr-defined]
    await case.unsubscribed("room:1")


@dataclass
class ChatServers:
    servers: list[ServerProcess]
    redis_url: str
    prefix: str


@pytest.fixture(scope="module")
def chat_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServers]:
    """Two server processes (aiohttp and uvicorn) whose rooms meet in one Redis."""
    redis_url = redis_url_or_skip()
    prefix = f"gqlwire-test:{uuid.uuid4().hex[:12]}:"
    env = {"GQLWIRE_TEST_REDIS_URL": redis_url, "GQLWIRE_TEST_CHANNEL_PREFIX": prefix}
    servers: list[ServerProcess] = []
    try:
        for name in ("aiohttp", "uvicorn"):
            servers.append(start_server("tests.fanout.chat_app:schema", name, env=env))
        yield ChatServers(servers, redis_url, prefix)
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert_clean_log(server)


async def test_two_server_processes_share_events_through_redis(chat_servers: ChatServers) -> None:
    one, other = chat_servers.servers
    redis_url, channel = chat_servers.redis_url, chat_servers.prefix + "room:1"
    query = 'subscription { messages(room: "1") }'
    async with (
        Client(one.ws_url()) as client_one,
        Client(other.ws_url()) as client_other,
        contextlib.aclosing(client_one.subscribe(query)) as first,
        contextlib.aclosing(client_one.subscribe(query)) as second,
        contextlib.aclosing(client_other.subscribe(query)) as third,
    ):
        pending = [asyncio.ensure_future(anext(stream)) for stream in (first, second, third)]

        async def subscribed_everywhere() -> bool:
            local = [
                (await client.execute('{ subscribers(room: "1") }'))["data"]["subscribers"]
                for client in (client_one, client_other)
            ]
            # Three subscribers, two processes: one Redis subscription per process.
            return local == [2, 1] and await numsub(redis_url, channel) == 2

        await wait_until(subscribed_everywhere, "every subscription reached Redis", within=20)
        sent = await client_other.execute('mutation { send(room: "1", text: "hi") }')
        assert sent == {"data": {"send": True}}
        async with asyncio.timeout(10):
            results = await asyncio.gather(*pending)
        assert results == [{"data": {"messages": "hi"}}] * 3

    # The clients completed their operations: both processes leave the channel.
    async def unsubscribed() -> bool:
        return await numsub(redis_url, channel) == 0

    await wait_until(unsubscribed, "both processes unsubscribed", within=20)


async def test_every_subscriber_gets_every_event_once_in_publish_order(
    chat_servers: ChatServers,
) -> None:
    """Events published alternately through both processes reach every subscriber of
    both processes exactly once, in the order they were published."""
    one, other = chat_servers.servers
    redis_url, channel = chat_servers.redis_url, chat_servers.prefix + "room:order"
    query = 'subscription { messages(room: "order") }'
    count = 50
    async with (
        Client(one.ws_url()) as client_one,
        Client(other.ws_url()) as client_other,
        contextlib.aclosing(client_one.subscribe(query)) as first,
        contextlib.aclosing(client_other.subscribe(query)) as second,
    ):

        async def collect(stream: Any) -> list[str]:
            received: list[str] = []
            async for result in stream:
                received.append(result["data"]["messages"])
                if len(received) == count:
                    break
            return received

        collecting = [asyncio.ensure_future(collect(s)) for s in (first, second)]

        async def subscribed_everywhere() -> bool:
            return await numsub(redis_url, channel) == 2

        await wait_until(subscribed_everywhere, "both processes subscribed", within=20)
        for n in range(count):
            publisher = (client_one, client_other)[n % 2]
            sent = await publisher.execute(f'mutation {{ send(room: "order", text: "m{n}") }}')
            assert sent == {"data": {"send": True}}
        async with asyncio.timeout(20):
            results = await asyncio.gather(*collecting)
        expected = [f"m{n}" for n in range(count)]
        assert results == [expected, expected]
