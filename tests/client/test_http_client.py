"""``HTTPClient`` against the reference servers of GraphQL over HTTP and over SSE.

``node/sse_server.mjs`` serves npm graphql-sse's handler (distinct connections mode) for
``Accept: text/event-stream`` and npm graphql-http's handler for the rest, on one port,
and prints one JSON line per request and per operation event (``aborted`` when a
response closed before its end, ``source_finally`` when a subscription's source was
closed), which the tests read to see what the server saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from gqlwire.client import (
    BadResponse,
    ClientClosed,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    GraphQLErrors,
    HTTPClient,
    HTTPStatusError,
    RequestTimeout,
)

from .leaks import Reports, run_isolated, settle
from .node_servers import NODE_MODULES, NodeServer
from .support import WAIT, fast_retry

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (NODE_MODULES / "graphql-sse").is_dir(), reason="npm packages missing: run npm ci"
    ),
]

COUNT = "subscription Count($to: Int!, $delayMs: Int) { count(to: $to, delayMs: $delayMs) }"
FOREVER = "subscription($tag: String!) { forever(tag: $tag) }"


@pytest.fixture
def own_sse_server() -> Iterator[NodeServer]:
    """A server of the test's own, which the test may kill."""
    server = NodeServer("sse_server.mjs")
    try:
        yield server
    finally:
        server.stop()


def client_of(
    server: NodeServer, path: str = "/graphql", tag: str = "", **options: Any
) -> HTTPClient:
    options.setdefault("retry_wait", fast_retry)
    return HTTPClient(server.http_url(path, f"tag={tag}" if tag else ""), **options)


async def finally_of(server: NodeServer, tag: str) -> None:
    """Until the server closed the source of the ``forever`` subscription `tag`."""
    async with asyncio.timeout(WAIT):
        while not [e for e in server.named("source_finally") if e["tag"] == tag]:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


# -- queries and mutations over HTTP -----------------------------------------------------------


async def test_queries_and_mutations_over_http(sse_server: NodeServer) -> None:
    async with client_of(sse_server, tag="queries") as client:
        assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
        result = await client.execute(
            "query Hi($name: String) { hello(name: $name) }", {"name": "Ada"}, "Hi"
        )
        assert result == {"data": {"hello": "Hello, Ada!"}}
        assert await client.execute("mutation { add(a: 2, b: 3) }") == {"data": {"add": 5}}
    requests = await sse_server.tagged("request", "queries", 3)
    assert len(requests) == 3
    for request in requests:
        assert request["method"] == "POST"
        assert request["accept"] == "application/graphql-response+json, application/json"
        assert request["contentType"] == "application/json"


async def test_a_result_with_errors_is_returned(sse_server: NodeServer) -> None:
    async with client_of(sse_server) as client:
        result = await client.execute("{ throwing }")
    assert result["data"] == {"throwing": None}
    assert result["errors"][0]["message"] == "Query Kaboom!"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ nope }", 'Cannot query field "nope" on type "Query".'),
        ("{", "Syntax Error: Expected Name, found <EOF>."),
        (
            "query($n: String!) { hello(name: $n) }",
            'Variable "$n" of required type "String!" was not provided.',
        ),
    ],
)
async def test_request_errors_raise_graphql_errors(
    sse_server: NodeServer, query: str, message: str
) -> None:
    async with client_of(sse_server) as client:
        with pytest.raises(GraphQLErrors) as raised:
            await client.execute(query)
    assert raised.value.errors[0]["message"] == message


async def test_headers_reach_the_server_and_the_protocol_keeps_its_own(
    sse_server: NodeServer,
) -> None:
    tokens = iter(["first", "second"])

    async def fresh_token() -> dict[str, str]:
        return {"Authorization": f"Bearer {next(tokens)}", "accept": "text/html"}

    options: dict[str, Any] = {"tag": "headers"}
    async with client_of(
        sse_server, headers={"Authorization": "Bearer static"}, **options
    ) as client:
        await client.execute("{ hello }")
    async with client_of(sse_server, headers=fresh_token, **options) as client:
        await client.execute("{ hello }")
        assert [r async for r in client.subscribe("{ hello }")] == [
            {"data": {"hello": "Hello, world!"}}
        ]
    requests = await sse_server.tagged("request", "headers", 3)
    assert [r["authorization"] for r in requests] == [
        "Bearer static",
        "Bearer first",
        "Bearer second",
    ]
    assert [r["accept"] for r in requests[1:]] == [
        "application/graphql-response+json, application/json",
        "text/event-stream",
    ]


# -- subscriptions over SSE ----------------------------------------------------------------------


async def test_subscriptions_over_sse(sse_server: NodeServer) -> None:
    async with client_of(sse_server, tag="sse") as client:
        counted = [r async for r in client.subscribe(COUNT, {"to": 3, "delayMs": 10}, "Count")]
        queried = [r async for r in client.subscribe("{ hello }")]
    assert counted == [{"data": {"count": n}} for n in (1, 2, 3)]
    assert queried == [{"data": {"hello": "Hello, world!"}}]
    requests = await sse_server.tagged("request", "sse", 2)
    assert [(r["method"], r["accept"]) for r in requests] == [("POST", "text/event-stream")] * 2


async def test_validation_errors_over_sse_raise_graphql_errors(sse_server: NodeServer) -> None:
    """graphql-sse sends them as a ``next`` event without ``data``: raised, as over
    ``graphql-transport-ws`` where they come as an ``error`` message."""
    async with client_of(sse_server) as client:
        with pytest.raises(GraphQLErrors) as raised:
            async for _ in client.subscribe("subscription { nope }"):
                pass  # pragma: no cover
    assert raised.value.errors[0]["message"] == 'Cannot query field "nope" on type "Subscription".'


async def test_a_source_error_cuts_the_stream(sse_server: NodeServer) -> None:
    """graphql-sse has no event for a source that raises: it cuts the stream. Without
    retries that is ConnectionLost; with them the subscription starts over, at most
    ``retry_attempts`` times."""
    for attempts in (0, 2):
        received = []
        async with client_of(sse_server, retry_attempts=attempts) as client:
            with pytest.raises(ConnectionLost) as lost:
                async for result in client.subscribe("subscription { boom }"):
                    received.append(result)
        assert received == [{"data": {"boom": 1}}] * (attempts + 1)
        assert isinstance(lost.value, ConnectionClosed) and lost.value.code == 1006


async def test_many_subscriptions_at_once(sse_server: NodeServer) -> None:
    """More streams than aiohttp's default connection limit (100), all open together."""
    tags = [f"many-{n}" for n in range(110)]
    async with client_of(sse_server) as client:
        streams = [client.subscribe(FOREVER, {"tag": tag}) for tag in tags]
        try:
            firsts = await asyncio.gather(*(anext(stream) for stream in streams))
            assert firsts == [{"data": {"forever": 1}}] * len(tags)
            counts = await asyncio.gather(
                *(_collect(client, COUNT, {"to": 3}) for _ in range(20)),
                *(client.execute("{ hello }") for _ in range(20)),
            )
        finally:
            for stream in streams:
                await stream.aclose()
    assert counts[:20] == [[{"data": {"count": n}} for n in (1, 2, 3)]] * 20
    assert counts[20:] == [{"data": {"hello": "Hello, world!"}}] * 20
    for tag in tags:
        await finally_of(sse_server, tag)


async def _collect(client: HTTPClient, query: str, variables: dict[str, Any]) -> list[Any]:
    return [result async for result in client.subscribe(query, variables)]


# -- HTTP errors and broken servers ----------------------------------------------------------------


async def test_http_errors(sse_server: NodeServer) -> None:
    for path, status, reason, body in (
        ("/status/500", 500, "Internal Server Error", "Internal kaboom"),
        ("/nope", 404, "Not Found", "Not Found"),
    ):
        client = client_of(sse_server, path, retry_attempts=0)
        with pytest.raises(HTTPStatusError) as raised:
            await client.execute("{ hello }")
        with pytest.raises(HTTPStatusError) as streamed:
            async for _ in client.subscribe("{ hello }"):
                pass  # pragma: no cover
        for error in (raised.value, streamed.value):
            assert isinstance(error, ConnectionFailed)
            assert (error.status, error.body) == (status, body)
            assert str(error).endswith(f"answered HTTP {status} {reason}: {body}")


async def test_responses_that_are_not_graphql(sse_server: NodeServer) -> None:
    client = client_of(sse_server, "/html", retry_attempts=0)
    with pytest.raises(BadResponse) as raised:
        await client.execute("{ hello }")
    assert "is not a JSON GraphQL response (text/html)" in str(raised.value)
    client = client_of(sse_server, "/sse-json", retry_attempts=0)
    with pytest.raises(BadResponse) as streamed:
        async for _ in client.subscribe("{ hello }"):
            pass  # pragma: no cover
    assert "with application/json, not text/event-stream" in str(streamed.value)


async def test_timeouts(sse_server: NodeServer) -> None:
    client = client_of(sse_server, "/hang", tag="timeouts", timeout=0.2, retry_attempts=0)
    with pytest.raises(RequestTimeout):
        await client.execute("{ hello }")
    with pytest.raises(RequestTimeout):
        async for _ in client.subscribe("{ hello }"):
            pass  # pragma: no cover
    await settle()
    await sse_server.tagged("aborted", "timeouts", 2)  # the server saw both requests end


async def test_a_refused_connection() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = HTTPClient(f"http://127.0.0.1:{port}/graphql", retry_attempts=3)
    with pytest.raises(ConnectionFailed) as raised:
        await client.execute("{ hello }")
    assert str(raised.value).startswith(f"cannot connect to http://127.0.0.1:{port}/graphql")
    with pytest.raises(ConnectionFailed):  # the first attempt is not retried, as over WebSocket
        async for _ in client.subscribe("{ hello }"):
            pass  # pragma: no cover


async def test_a_server_killed_mid_stream(own_sse_server: NodeServer) -> None:
    client = client_of(own_sse_server, retry_attempts=0)
    stream = client.subscribe(FOREVER, {"tag": "killed"})
    assert await anext(stream) == {"data": {"forever": 1}}
    own_sse_server.process.send_signal(signal.SIGKILL)
    with pytest.raises(ConnectionLost) as lost:
        async with asyncio.timeout(WAIT):
            async for _ in stream:
                pass
    assert lost.value.code == 1006
    await settle()


async def test_a_server_killed_mid_stream_is_retried_then_reported(
    own_sse_server: NodeServer,
) -> None:
    """As over WebSocket: reconnecting, a refused connection is retried; once the
    retries are spent, the last attempt's error is raised."""
    client = client_of(own_sse_server, retry_attempts=2)
    stream = client.subscribe(FOREVER, {"tag": "killed"})
    assert await anext(stream) == {"data": {"forever": 1}}
    own_sse_server.process.send_signal(signal.SIGKILL)
    with pytest.raises(ConnectionFailed, match="cannot connect to"):
        async with asyncio.timeout(WAIT):
            async for _ in stream:
                pass
    await settle()


async def test_a_server_killed_while_a_query_waits(own_sse_server: NodeServer) -> None:
    client = client_of(own_sse_server, "/hang", timeout=None)
    waiting = asyncio.create_task(client.execute("{ hello }"))
    await own_sse_server.wait_for("request")
    own_sse_server.process.send_signal(signal.SIGKILL)
    with pytest.raises(ConnectionLost) as lost:
        async with asyncio.timeout(WAIT):
            await waiting
    assert lost.value.code == 1006
    await settle()


# -- lifecycle ----------------------------------------------------------------------------------


async def test_cancelling_the_consumer_ends_the_request(sse_server: NodeServer) -> None:
    for lazy in (True, False):
        tag = f"cancelled-{lazy}"
        client = client_of(sse_server, tag=tag)
        if not lazy:
            await client.__aenter__()
        first = asyncio.Event()

        async def consume(
            client: HTTPClient = client, tag: str = tag, first: asyncio.Event = first
        ) -> None:
            async for _ in client.subscribe(FOREVER, {"tag": tag}):
                first.set()

        task = asyncio.create_task(consume())
        async with asyncio.timeout(WAIT):
            await first.wait()
        task.cancel()
        await asyncio.wait({task})
        assert task.cancelled()
        await finally_of(sse_server, tag)
        # the server saw the response end before it was finished
        assert len(await sse_server.tagged("aborted", tag, 1)) == 1
        await client.close()
        await settle()


async def test_aclose_and_break_end_the_request(sse_server: NodeServer) -> None:
    async with client_of(sse_server) as client:
        stream = client.subscribe(FOREVER, {"tag": "aclose"})
        assert await anext(stream) == {"data": {"forever": 1}}
        await stream.aclose()
        await finally_of(sse_server, "aclose")
        async with contextlib.aclosing(client.subscribe(FOREVER, {"tag": "break"})) as results:
            async for result in results:
                assert result == {"data": {"forever": 1}}
                break
        await finally_of(sse_server, "break")
    await settle()


async def test_closing_the_client_ends_every_request(sse_server: NodeServer) -> None:
    client = client_of(sse_server)
    await client.__aenter__()
    hanging = HTTPClient(sse_server.http_url("/hang"), timeout=None)
    received: list[Any] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for result in client.subscribe(FOREVER, {"tag": "closed"}):
            received.append(result)
            first.set()

    consumer = asyncio.create_task(consume())
    waiting = asyncio.create_task(hanging.execute("{ hello }"))
    async with asyncio.timeout(WAIT):
        await first.wait()
    await client.close()
    await hanging.close()
    async with asyncio.timeout(WAIT):
        await consumer  # stops without an error
        with pytest.raises(ClientClosed):
            await waiting
    await finally_of(sse_server, "closed")
    with pytest.raises(ClientClosed):
        await client.execute("{ hello }")
    with pytest.raises(ClientClosed):
        await client.__aenter__()
    await settle()


def test_a_dropped_client_with_an_abandoned_iterator_reports_nothing(
    sse_server: NodeServer, reports: Reports
) -> None:
    async def scenario() -> None:
        client = client_of(sse_server)  # never entered, never closed
        results = client.subscribe(FOREVER, {"tag": "dropped"})
        assert await anext(results) == {"data": {"forever": 1}}
        entered = client_of(sse_server)
        await entered.__aenter__()  # never exited
        assert await entered.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
        background = entered.subscribe(FOREVER, {"tag": "left-running"})
        asyncio.get_running_loop().create_task(_drain(background))
        del client, results, entered, background
        await finally_of(sse_server, "dropped")
        # returning ends the loop with a session open and a consumer task pending

    run_isolated(reports, scenario)
    assert reports.items == []
    asyncio.run(finally_of(sse_server, "left-running"))


async def _drain(results: Any) -> None:
    async for _ in results:
        pass


async def test_cancelling_an_operation_at_any_point_leaves_nothing_behind(
    sse_server: NodeServer,
) -> None:
    loop = asyncio.get_running_loop()
    reports = Reports()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(reports.exception_handler)
    try:
        for step in range(16):
            client = client_of(sse_server)
            query = asyncio.create_task(client.execute("{ hello }"))
            stream = asyncio.create_task(_collect(client, COUNT, {"to": 2}))
            await asyncio.sleep(step * 0.001)
            query.cancel()
            stream.cancel()
            done, _ = await asyncio.wait({query, stream}, timeout=WAIT)
            assert len(done) == 2, "a cancelled operation did not end"
            await client.close()
            await settle()
    finally:
        loop.set_exception_handler(previous)
    assert reports.items == []
