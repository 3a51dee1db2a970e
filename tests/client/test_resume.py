"""The clients resume a subscription after a dropped connection: every event once, in order.

The server is :mod:`tests.apps.client_resume_app`, whose subscription honours the resume
contract by itself (each result's ``extensions.cursor``; a request's cursor to start
after; ``extensions.gap`` when the events are gone). Between client and server runs a
:class:`TCPProxy`, which resets the connections mid-stream and refuses new ones while
the test publishes more events: what a network fault or a restarting proxy does. The
client reconnects on its own, and the test counts what its caller was given.

The last tests run the same drop against the server's own resuming
(:mod:`tests.apps.resume_app`: a resolver over ``MemoryBroker(history=...)`` with nothing
about resuming in it), on one server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from gqlwire.client import Client, HTTPClient
from gqlwire.runners import RunnerError, check_server
from tests.harness.protocols import PROTOCOLS, TRANSPORT_WS
from tests.harness.servers import LogWatch, ServerPool, ServerProcess
from tests.harness.tcp_proxy import TCPProxy

from .support import APP_SERVERS, fast_retry, wait_until

pytestmark = pytest.mark.timeout(60)

RESUME_APP = "tests.apps.client_resume_app:app"
HISTORY_APP = "tests.apps.resume_app:app"
TICK = "subscription($t: String!) { tick(topic: $t) { seq } }"
QUERY = "subscription Numbers { numbers }"
MINE = {"tag": "mine"}
"""The caller's own extensions: the cursor is merged into them, never replaces them."""
RETRIES = 200
"""Enough attempts (at ``fast_retry``'s pace) to outlast every cut of a test."""


def _server_param(name: str) -> object:
    try:
        check_server(name)
    except RunnerError as missing:
        return pytest.param(name, id=name, marks=pytest.mark.skip(reason=str(missing)))
    return pytest.param(name, id=name)


@pytest.fixture(scope="module", params=[_server_param(name) for name in APP_SERVERS])
def resume_server(server_pool: ServerPool, request: pytest.FixtureRequest) -> ServerProcess:
    return server_pool.get(RESUME_APP, request.param)


@pytest.fixture
def first_server(server_pool: ServerPool) -> ServerProcess:
    """For the scenarios that run on one server only."""
    return server_pool.get(RESUME_APP, APP_SERVERS[0])


@pytest.fixture
def history_server(server_pool: ServerPool) -> ServerProcess:
    """The server side's own resume app: a real history broker (``MemoryBroker``)."""
    return server_pool.get(HISTORY_APP, APP_SERVERS[0])


@pytest.fixture(autouse=True)
def _clean_server_log(request: pytest.FixtureRequest) -> Iterator[None]:
    fixtures = ("resume_server", "first_server", "history_server")
    names = [name for name in fixtures if name in request.fixturenames]
    watches = [LogWatch(request.getfixturevalue(name)) for name in names]
    yield
    for watch in watches:
        watch.assert_clean()


# -- driving the server ------------------------------------------------------------------------


class Numbers:
    """One token's log on the server: publish, expire, and what the server saw."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        self.server = server
        self.token = token

    async def _call(self, method: str, path: str, **params: str) -> Any:
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await http.request(
                method, self.server.http_url(path), params={"token": self.token, **params}
            )
        response.raise_for_status()
        return response.json()

    async def publish(self, count: int) -> None:
        await self._call("POST", "/_publish", count=str(count))

    async def expire(self, before: int) -> None:
        await self._call("POST", "/_expire", before=str(before))

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self._call("GET", "/_state")
        return state

    async def wait_for_starts(self, count: int) -> None:
        """Until the subscription's source started `count` times (the first subscribe,
        then each resubscription) and is running."""

        async def started() -> bool:
            state = await self.state()
            return bool(state["starts"] >= count and state["active"] >= 1)

        await wait_until(started, f"{count} source starts of {self.token}")


class Consumer:
    """Iterates a subscription in a task; ``numbers`` is what its caller was given."""

    def __init__(
        self,
        subscription: AsyncIterator[dict[str, Any]],
        number: Callable[[dict[str, Any]], int] = lambda result: result["data"]["numbers"],
    ) -> None:
        self.results: list[dict[str, Any]] = []
        self._number = number
        self._task = asyncio.get_running_loop().create_task(self._consume(subscription))

    async def _consume(self, subscription: AsyncIterator[dict[str, Any]]) -> None:
        async for result in subscription:
            self.results.append(result)

    @property
    def numbers(self) -> list[int]:
        return [self._number(result) for result in self.results]

    def _check_running(self) -> None:
        if self._task.done():
            self._task.result()  # raise what ended it
            raise AssertionError(f"the subscription ended after {self.numbers}")

    async def wait_for(self, count: int) -> None:
        async def enough() -> bool:
            self._check_running()
            return len(self.results) >= count

        await wait_until(enough, f"{count} results (got {self.numbers})")

    async def wait_for_number(self, number: int) -> None:
        """Until event `number` arrived. Waiting for the last event rather than for a
        count: a repeated event would arrive before it, and show in the list."""

        async def arrived() -> bool:
            self._check_running()
            return number in self.numbers

        await wait_until(arrived, f"event {number} (got {self.numbers})")

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})


def ws_client(proxy: TCPProxy, token: str, protocol: str, **options: Any) -> Client:
    url = f"ws://127.0.0.1:{proxy.port}/graphql?token={token}"
    return Client(url, protocol=protocol, retry_wait=fast_retry, retry_attempts=RETRIES, **options)


def sse_client(proxy: TCPProxy, token: str, **options: Any) -> HTTPClient:
    url = f"http://127.0.0.1:{proxy.port}/graphql?token={token}"
    return HTTPClient(url, retry_wait=fast_retry, retry_attempts=RETRIES, **options)


async def drop_while_publishing(proxy: TCPProxy, numbers: Numbers | Ticks, count: int) -> None:
    """Reset the client's connections, publish `count` events while it cannot
    reconnect, then let it reconnect."""
    accepted = proxy.accepted
    proxy.cut(refuse=True)
    await numbers.publish(count)
    proxy.restore()

    async def reconnected() -> bool:
        return proxy.accepted > accepted

    await wait_until(reconnected, "the client connected again")


async def resumed_scenario(
    client: Client | HTTPClient, proxy: TCPProxy, numbers: Numbers
) -> tuple[list[int], list[dict[str, Any]]]:
    """Events 1-10, a drop after the third one arrived, 11-20 while the client is away,
    21 once it subscribed again: what the caller got, and the subscribe requests."""
    async with client:
        consumer = Consumer(client.subscribe(QUERY, operation_name="Numbers", extensions=MINE))
        try:
            await numbers.wait_for_starts(1)
            await numbers.publish(10)
            await consumer.wait_for(3)  # mid-stream: the rest may be in flight
            await drop_while_publishing(proxy, numbers, 10)
            await numbers.wait_for_starts(2)
            await numbers.publish(1)
            await consumer.wait_for_number(21)
        finally:
            await consumer.stop()
    return consumer.numbers, (await numbers.state())["subscribes"]


def assert_resumed_from_last_cursor(subscribes: list[dict[str, Any]]) -> str:
    """The first request has the caller's extensions; the second the same plus a cursor
    of an event before the drop (one of 3-10). Returns that cursor."""
    assert len(subscribes) == 2, subscribes
    first, second = (entry["payload"] for entry in subscribes)
    assert first["extensions"] == MINE
    cursor = second["extensions"].pop("cursor")
    assert second["extensions"] == MINE
    assert isinstance(cursor, str) and 3 <= int(cursor) <= 10
    assert {**second, "extensions": MINE} == first
    return cursor


# -- WebSocket -----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_client_resumes_after_a_dropped_connection(
    resume_server: ServerProcess, protocol: str, token: str
) -> None:
    numbers = Numbers(resume_server, token)
    async with TCPProxy(resume_server.host, resume_server.port) as proxy:
        got, subscribes = await resumed_scenario(ws_client(proxy, token, protocol), proxy, numbers)
    assert got == list(range(1, 22))
    assert_resumed_from_last_cursor(subscribes)


async def test_client_without_resume_starts_over(first_server: ServerProcess, token: str) -> None:
    numbers = Numbers(first_server, token)
    async with TCPProxy(first_server.host, first_server.port) as proxy:
        client = ws_client(proxy, token, TRANSPORT_WS, resume=False)
        async with client:
            consumer = Consumer(client.subscribe(QUERY, extensions=MINE))
            try:
                await numbers.wait_for_starts(1)
                await numbers.publish(5)
                await consumer.wait_for(5)
                await drop_while_publishing(proxy, numbers, 5)
                await numbers.wait_for_starts(2)
                await numbers.publish(1)
                await consumer.wait_for_number(11)
            finally:
                await consumer.stop()
        subscribes = (await numbers.state())["subscribes"]
    # Subscribed again with the original request: the source starts from "now", and
    # what was published while the client was away is not delivered.
    assert consumer.numbers == [1, 2, 3, 4, 5, 11]
    assert [entry["payload"]["extensions"] for entry in subscribes] == [MINE, MINE]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_client_yields_and_logs_a_gap(
    first_server: ServerProcess, protocol: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gqlwire.client")
    numbers = Numbers(first_server, token)
    async with TCPProxy(first_server.host, first_server.port) as proxy:
        client = ws_client(proxy, token, protocol)
        async with client:
            consumer = Consumer(client.subscribe(QUERY, operation_name="Numbers"))
            try:
                await gap_scenario(proxy, numbers, consumer)
            finally:
                await consumer.stop()
    assert_gap_reported(consumer, caplog, "1 (Numbers)")


async def gap_scenario(proxy: TCPProxy, numbers: Numbers, consumer: Consumer) -> None:
    """Events 1-5 delivered; 6-10 published while the client is away, and 6-8 expire
    before it comes back (past the broker's retention)."""
    await numbers.wait_for_starts(1)
    await numbers.publish(5)
    await consumer.wait_for(5)
    proxy.cut(refuse=True)
    await numbers.publish(5)
    await numbers.expire(before=9)
    proxy.restore()
    await consumer.wait_for(7)


def assert_gap_reported(
    consumer: Consumer, caplog: pytest.LogCaptureFixture, operation: str
) -> None:
    assert consumer.numbers == [1, 2, 3, 4, 5, 9, 10]
    gap = {"topic": "numbers", "after": "5", "reason": "expired"}
    assert consumer.results[5]["extensions"] == {"cursor": "9", "gap": gap}
    assert "gap" not in consumer.results[6]["extensions"]
    warnings = [r for r in caplog.records if r.name == "gqlwire.client"]
    assert [r.levelno for r in warnings] == [logging.WARNING], caplog.text
    message = warnings[0].getMessage()
    for part in (operation, "'numbers'", "'5'", "expired"):
        assert part in message, message


# -- Server-Sent Events ------------------------------------------------------------------------


async def test_http_client_resumes_a_dropped_stream(
    resume_server: ServerProcess, token: str
) -> None:
    numbers = Numbers(resume_server, token)
    async with TCPProxy(resume_server.host, resume_server.port) as proxy:
        got, subscribes = await resumed_scenario(sse_client(proxy, token), proxy, numbers)
    assert got == list(range(1, 22))
    cursor = assert_resumed_from_last_cursor(subscribes)
    assert [entry["last_event_id"] for entry in subscribes] == [None, cursor]


async def test_http_client_without_resume_starts_over(
    first_server: ServerProcess, token: str
) -> None:
    numbers = Numbers(first_server, token)
    async with TCPProxy(first_server.host, first_server.port) as proxy:
        client = sse_client(proxy, token, resume=False)
        async with client:
            consumer = Consumer(client.subscribe(QUERY, extensions=MINE))
            try:
                await numbers.wait_for_starts(1)
                await numbers.publish(5)
                await consumer.wait_for(5)
                await drop_while_publishing(proxy, numbers, 5)
                await numbers.wait_for_starts(2)
                await numbers.publish(1)
                await consumer.wait_for_number(11)
            finally:
                await consumer.stop()
        subscribes = (await numbers.state())["subscribes"]
    assert consumer.numbers == [1, 2, 3, 4, 5, 11]
    assert [entry["payload"]["extensions"] for entry in subscribes] == [MINE, MINE]
    assert [entry["last_event_id"] for entry in subscribes] == [None, None]


async def test_http_client_yields_and_logs_a_gap(
    first_server: ServerProcess, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gqlwire.client")
    numbers = Numbers(first_server, token)
    async with TCPProxy(first_server.host, first_server.port) as proxy:
        client = sse_client(proxy, token)
        async with client:
            consumer = Consumer(client.subscribe(QUERY, operation_name="Numbers"))
            try:
                await gap_scenario(proxy, numbers, consumer)
            finally:
                await consumer.stop()
    assert_gap_reported(consumer, caplog, f"at {client.url} (Numbers)")


# -- against the server's own resuming, over a history broker ------------------------------------


class Ticks:
    """A topic of :mod:`tests.apps.resume_app` (``MemoryBroker(history=50)``)."""

    def __init__(self, server: ServerProcess, topic: str) -> None:
        self.server = server
        self.topic = topic
        self.published = 0

    async def publish(self, count: int) -> None:
        params = {"topic": self.topic, "start": str(self.published + 1), "count": str(count)}
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await http.post(self.server.http_url("/_publish"), params=params)
        response.raise_for_status()
        self.published += count

    async def wait_for_subscriber(self) -> None:
        async def subscribed() -> bool:
            async with httpx.AsyncClient(timeout=5.0) as http:
                response = await http.get(self.server.http_url("/_subscribers"))
            return int(response.json().get(self.topic, 0)) >= 1

        await wait_until(subscribed, f"a broker subscriber of {self.topic}")


async def history_scenario(client: Client | HTTPClient, proxy: TCPProxy, ticks: Ticks) -> Consumer:
    """Events 1-10, a drop after the third arrived, 11-20 while the client is away, and
    21 after it came back: no wait for the resubscription, since it resumes anyway."""
    async with client:
        subscription = client.subscribe(TICK, {"t": ticks.topic})
        consumer = Consumer(subscription, lambda result: result["data"]["tick"]["seq"])
        try:
            await ticks.wait_for_subscriber()
            await ticks.publish(10)
            await consumer.wait_for(3)
            await drop_while_publishing(proxy, ticks, 10)
            await ticks.publish(1)
            await consumer.wait_for_number(21)
        finally:
            await consumer.stop()
    return consumer


@pytest.mark.parametrize("path", ["/unshared", "/shared"])
async def test_client_resumes_over_a_history_broker(
    history_server: ServerProcess, path: str, token: str
) -> None:
    ticks = Ticks(history_server, token)
    async with TCPProxy(history_server.host, history_server.port) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}{path}"
        client = Client(url, retry_wait=fast_retry, retry_attempts=RETRIES)
        consumer = await history_scenario(client, proxy, ticks)
    assert consumer.numbers == list(range(1, 22))
    cursors = [result["extensions"]["cursor"] for result in consumer.results]
    assert len(set(cursors)) == len(cursors)


async def test_http_client_resumes_over_a_history_broker(
    history_server: ServerProcess, token: str
) -> None:
    ticks = Ticks(history_server, token)
    async with TCPProxy(history_server.host, history_server.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/unshared"
        client = HTTPClient(url, retry_wait=fast_retry, retry_attempts=RETRIES)
        consumer = await history_scenario(client, proxy, ticks)
    assert consumer.numbers == list(range(1, 22))
