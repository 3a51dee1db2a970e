"""Resuming across server processes through RedisStreamBroker: two real server processes
(aiohttp and uvicorn) whose subscriptions read the same Redis streams.

While events keep coming, a client leaves one process (its connection closed, or the
process killed with SIGKILL) and subscribes on the other with the last cursor it got:
it receives every event published meanwhile, in order, once. Each test counts them.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from gqlwire.fanout import RedisStreamBroker
from tests.harness.protocols import RESULT, SUBSCRIBE, TRANSPORT_WS
from tests.harness.redis_server import delete_keys, redis_url_or_skip
from tests.harness.servers import ServerProcess, assert_clean_log, start_server
from tests.harness.wsclient import WSClient, ws_client

QUERY = "subscription ($room: String!) { messages(room: $room) }"
TOTAL = 300


@dataclass
class StreamServers:
    servers: list[ServerProcess]
    redis_url: str
    prefix: str


@pytest.fixture(scope="module")
def stream_servers() -> Iterator[StreamServers]:
    redis_url = redis_url_or_skip()
    prefix = f"gqlwire-test:{uuid.uuid4().hex[:12]}:"
    env = {"GQLWIRE_TEST_REDIS_URL": redis_url, "GQLWIRE_TEST_CHANNEL_PREFIX": prefix}
    servers: list[ServerProcess] = []
    try:
        for name in ("aiohttp", "uvicorn"):
            target = "tests.fanout.chat_app:streams_schema"
            servers.append(start_server(target, name, env=env))
        yield StreamServers(servers, redis_url, prefix)
    finally:
        for server in servers:
            server.stop()
        delete_keys(redis_url, prefix)
    for server in servers:
        if server.wait(0) != -signal.SIGKILL:
            assert_clean_log(server)


@asynccontextmanager
async def subscribed(
    server: ServerProcess, room: str, cursor: str | None = None
) -> AsyncIterator[WSClient]:
    async with ws_client(server.ws_url(), subprotocols=[TRANSPORT_WS]) as client:
        await client.send({"type": "connection_init"})
        assert (await client.receive())["type"] == "connection_ack"
        payload: dict[str, Any] = {"query": QUERY, "variables": {"room": room}}
        if cursor is not None:
            payload["extensions"] = {"cursor": cursor}
        await client.send({"id": "1", "type": SUBSCRIBE[TRANSPORT_WS], "payload": payload})
        yield client


async def next_result(client: WSClient) -> tuple[int, dict[str, Any]]:
    """The next event's number, and the result's extensions."""
    message = await client.receive(timeout=10)
    assert message["type"] == RESULT[TRANSPORT_WS], message
    payload = message["payload"]
    return int(payload["data"]["messages"]), payload["extensions"]


@asynccontextmanager
async def publishing(setup: StreamServers, room: str) -> AsyncIterator[asyncio.Event]:
    """Publish 0..TOTAL-1 to ``room`` in the background, from a process of its own (this
    one); the event is set once 100 were published."""
    hundred = asyncio.Event()

    async def keep_publishing(broker: RedisStreamBroker) -> None:
        for number in range(TOTAL):
            await broker.publish(f"room:{room}", str(number))
            if number == 100:
                hundred.set()
            await asyncio.sleep(0.002)

    async with RedisStreamBroker(setup.redis_url, stream_prefix=setup.prefix) as broker:
        task = asyncio.create_task(keep_publishing(broker))
        try:
            yield hundred
            async with asyncio.timeout(30):
                await task
        finally:
            task.cancel()


async def resume_elsewhere(
    setup: StreamServers, room: str, leave: str
) -> tuple[list[int], list[int]]:
    """Read 50 events on the first process, leave it (``leave``), resume on the second."""
    one, other = setup.servers
    before: list[int] = []
    async with publishing(setup, room) as hundred:
        async with subscribed(one, room) as client:
            while len(before) < 50:
                number, extensions = await next_result(client)
                before.append(number)
                cursor = extensions["cursor"]
            if leave == "sigkill":
                one.send_signal(signal.SIGKILL)
                one.wait(10)
        async with asyncio.timeout(10):
            await hundred.wait()  # more events came while the client was away
        after: list[int] = []
        async with subscribed(other, room, cursor) as client:
            while not after or after[-1] != TOTAL - 1:
                number, extensions = await next_result(client)
                assert "gap" not in extensions
                after.append(number)
            await client.expect_nothing(0.2)
    return before, after


async def test_a_client_that_reconnects_to_another_process_misses_nothing(
    stream_servers: StreamServers,
) -> None:
    before, after = await resume_elsewhere(stream_servers, uuid.uuid4().hex, "close")
    assert before == list(range(before[0], before[0] + 50))
    assert after == list(range(before[-1] + 1, TOTAL))


async def test_a_client_whose_process_is_killed_resumes_on_another_and_misses_nothing(
    stream_servers: StreamServers,
) -> None:
    before, after = await resume_elsewhere(stream_servers, uuid.uuid4().hex, "sigkill")
    assert before == list(range(before[0], before[0] + 50))
    assert after == list(range(before[-1] + 1, TOTAL))
