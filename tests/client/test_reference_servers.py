"""gqlwire.Client against the reference Node servers it must interoperate with.

``node/reference_server.mjs`` is npm graphql-ws's ``useServer`` (``graphql-transport-ws``)
and ``node/legacy_server.mjs`` is subscriptions-transport-ws's ``SubscriptionServer``
(legacy ``graphql-ws``), both with the schema of ``node/schema.mjs``. Each prints one
JSON line per event (connect, subscribe, complete, close), which the tests read.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from gqlwire.client import (
    Client,
    ConnectionClosed,
    ConnectionRejected,
    GraphQLErrors,
)
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, TRANSPORT_WS

from .node_servers import NODE_MODULES, NodeServer, serve_node
from .support import fast_retry

GREETINGS = ["Hi", "Bonjour", "Hola", "Ciao", "Zdravo"]

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (NODE_MODULES / "graphql-ws").is_dir(), reason="npm packages missing: run npm ci"
    ),
]


@pytest.fixture(scope="module")
def reference_server() -> Iterator[NodeServer]:
    yield from serve_node("reference_server.mjs")


@pytest.fixture(scope="module")
def legacy_server() -> Iterator[NodeServer]:
    yield from serve_node("legacy_server.mjs")


@pytest.fixture(params=PROTOCOLS)
def node_server(
    request: pytest.FixtureRequest, reference_server: NodeServer, legacy_server: NodeServer
) -> tuple[NodeServer, str]:
    if request.param == LEGACY_WS:
        return legacy_server, LEGACY_WS
    return reference_server, TRANSPORT_WS


async def collect(results: Any) -> list[dict[str, Any]]:
    return [result async for result in results]


def client_of(node_server: tuple[NodeServer, str], **options: Any) -> Client:
    server, protocol = node_server
    options.setdefault("retry_wait", fast_retry)
    return Client(server.url(), protocol=protocol, **options)


async def test_queries_with_variables(node_server: tuple[NodeServer, str]) -> None:
    async with client_of(node_server) as client:
        assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
        result = await client.execute(
            "query Hi($name: String) { hello(name: $name) }", {"name": "Ada"}, "Hi"
        )
    assert result == {"data": {"hello": "Hello, Ada!"}}


async def test_subscriptions(node_server: tuple[NodeServer, str]) -> None:
    async with client_of(node_server) as client:
        greetings = [r async for r in client.subscribe("subscription { greetings }")]
        counted = [
            r
            async for r in client.subscribe(
                "subscription Count($to: Int!) { count(to: $to) }", {"to": 3}
            )
        ]
    assert greetings == [{"data": {"greetings": hi}} for hi in GREETINGS]
    assert counted == [{"data": {"count": n}} for n in (1, 2, 3)]


async def test_a_result_with_errors_is_returned(node_server: tuple[NodeServer, str]) -> None:
    async with client_of(node_server) as client:
        result = await client.execute("{ throwing }")
    assert result["data"] == {"throwing": None}
    assert result["errors"][0]["message"] == "Query Kaboom!"


async def test_an_iterator_error_raises_graphql_errors(
    node_server: tuple[NodeServer, str],
) -> None:
    received = []
    async with client_of(node_server) as client:
        with pytest.raises(GraphQLErrors) as raised:
            async for result in client.subscribe("subscription { boom }"):
                received.append(result)
    assert received == [{"data": {"boom": 1}}]
    assert raised.value.errors[0]["message"] == "Boom!"


async def test_validation_errors(node_server: tuple[NodeServer, str]) -> None:
    _, protocol = node_server
    async with client_of(node_server) as client:
        if protocol == TRANSPORT_WS:
            with pytest.raises(GraphQLErrors) as raised:
                await client.execute("{ nope }")
            errors = raised.value.errors
        else:  # the legacy server sends validation errors as `data`
            errors = (await client.execute("{ nope }"))["errors"]
    assert errors[0]["message"] == 'Cannot query field "nope" on type "Query".'


async def test_connection_params_reach_on_connect(reference_server: NodeServer) -> None:
    async with Client(
        reference_server.url(), connection_params={"name": "ada"}, lazy=False
    ) as client:
        assert client.ack_payload == {"welcome": "ada"}
    await reference_server.seen({"event": "connect", "params": {"name": "ada"}})


async def test_legacy_connection_params_reach_on_connect(legacy_server: NodeServer) -> None:
    async with Client(
        legacy_server.url(), protocol=LEGACY_WS, connection_params={"name": "bob"}
    ) as client:
        await client.execute("{ hello }")
    await legacy_server.seen({"event": "connect", "params": {"name": "bob"}})


async def test_a_refused_connection(node_server: tuple[NodeServer, str]) -> None:
    _, protocol = node_server
    async with client_of(node_server, connection_params={"reject": True}, retry_attempts=0) as c:
        if protocol == TRANSPORT_WS:
            with pytest.raises(ConnectionClosed) as closed:
                await c.execute("{ hello }")
            assert (closed.value.code, closed.value.reason) == (4403, "Forbidden")
        else:
            with pytest.raises(ConnectionRejected) as rejected:
                await c.execute("{ hello }")
            assert rejected.value.payload == {"message": "Prohibited connection!"}


async def test_a_syntax_error_closes_4500_on_graphql_transport_ws(
    reference_server: NodeServer,
) -> None:
    async with Client(reference_server.url(), retry_wait=fast_retry) as client:
        with pytest.raises(ConnectionClosed) as closed:
            await client.execute("{")
    assert closed.value.code == 4500
    assert closed.value.reason.startswith("Syntax Error")


async def test_concurrent_operations_and_early_completion(
    node_server: tuple[NodeServer, str],
) -> None:
    server, _ = node_server
    completed_before = len(server.named("complete"))
    async with client_of(node_server, lazy=False, keep_alive=0.05) as client:
        streams = [
            client.subscribe("subscription($to: Int!) { count(to: $to) }", {"to": n})
            for n in range(1, 6)
        ]
        results = await asyncio.gather(
            *(collect(stream) for stream in streams),
            *(client.execute("{ hello }") for _ in range(5)),
        )
        # ...and one left early: the server hears `complete` (legacy: `stop`)
        async with contextlib.aclosing(client.subscribe("subscription { greetings }")) as gen:
            assert await anext(gen) == {"data": {"greetings": "Hi"}}
    for n, streamed in enumerate(results[:5], start=1):
        assert streamed == [{"data": {"count": k}} for k in range(1, n + 1)]
    assert results[5:] == [{"data": {"hello": "Hello, world!"}}] * 5
    completes = await server.wait_for("complete", completed_before + 11)
    assert len(completes) == completed_before + 11
