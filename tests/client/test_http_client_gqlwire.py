"""``HTTPClient.execute()`` against gqlwire's own server (:mod:`tests.apps.client_app`, on
every server ``--servers`` selects), which answers GraphQL over HTTP on the WebSocket's
path.

The same queries give the same results and errors as over WebSocket: a result with
errors is returned, request errors (422 and 400 with
``application/graphql-response+json``) raise ``GraphQLErrors``, as the ``error`` message
of ``graphql-transport-ws`` does.
"""

from __future__ import annotations

import pytest

from gqlwire.client import Client, ConnectionClosed, GraphQLErrors, HTTPClient, HTTPStatusError
from tests.harness.control import fetch_events
from tests.harness.protocols import TRANSPORT_WS
from tests.harness.servers import LogWatch, ServerPool, ServerProcess

from .leaks import settle
from .support import CLIENT_APP, client_for


@pytest.fixture(scope="module")
def app_server(server_pool: ServerPool, server_name: str) -> ServerProcess:
    """The client app on every selected server (the other client tests: aiohttp, uvicorn)."""
    return server_pool.get(CLIENT_APP, server_name)


def http_client(server: ServerProcess, token: str, **options: object) -> HTTPClient:
    return HTTPClient(server.http_url("/graphql", f"token={token}"), **options)  # type: ignore[arg-type]


async def test_results_as_over_websocket(
    app_server: ServerProcess, token: str, log_watch: LogWatch
) -> None:
    log_watch.allow("Query Kaboom!")
    queries = [
        ("{ hello }", None),
        ("query($name: String) { hello(name: $name) }", {"name": "Ada"}),
        ("{ throwing }", None),
    ]
    async with http_client(app_server, token) as client:
        over_http = [await client.execute(query, variables) for query, variables in queries]
    async with client_for(app_server, token, TRANSPORT_WS) as ws:
        over_ws = [await ws.execute(query, variables) for query, variables in queries]
    assert over_http == over_ws
    assert over_http[1] == {"data": {"hello": "Hello, Ada!"}}
    assert over_http[2]["errors"][0]["message"] == "Query Kaboom!"
    await settle()


@pytest.mark.parametrize("query", ["{ nope }", "{"])
async def test_request_errors_as_over_websocket(
    app_server: ServerProcess, token: str, query: str
) -> None:
    async with http_client(app_server, token) as client:
        with pytest.raises(GraphQLErrors) as over_http:
            await client.execute(query)
    async with Client(app_server.ws_url("/graphql", f"token={token}")) as ws:
        if query == "{":  # a syntax error closes a graphql-transport-ws socket with 4500
            with pytest.raises(ConnectionClosed) as closed:
                await ws.execute(query)
            assert closed.value.code == 4500
            # the same message, where the server passes close reasons on (daphne does not)
            assert closed.value.reason in ("", over_http.value.errors[0]["message"])
            return
        with pytest.raises(GraphQLErrors) as over_ws:
            await ws.execute(query)
    assert over_http.value.errors == over_ws.value.errors


async def test_variables_that_do_not_coerce_are_a_request_error_over_http(
    app_server: ServerProcess, token: str
) -> None:
    """The one difference: over HTTP a response without ``data`` is a request error (the
    GraphQL specification's definition), while graphql-transport-ws delivers this one
    as a ``next`` message, which the WebSocket client returns as a result."""
    query = "query($n: String!) { hello(name: $n) }"
    async with http_client(app_server, token) as client:
        with pytest.raises(GraphQLErrors) as over_http:
            await client.execute(query)
    async with client_for(app_server, token, TRANSPORT_WS) as ws:
        over_ws = await ws.execute(query)
    assert "data" not in over_ws
    assert over_http.value.errors == over_ws["errors"]


async def test_headers_reach_on_connect(app_server: ServerProcess, token: str) -> None:
    async with http_client(app_server, token, headers={"X-Test": "over http"}) as client:
        assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
    events = await fetch_events(app_server, token)
    connects = [event for event in events if event["event"] == "connect"]
    assert [event["x_test"] for event in connects] == ["over http"]


async def test_a_subscription_over_plain_http_is_refused_with_426(
    app_server: ServerProcess, token: str
) -> None:
    """gqlwire's GraphQL over HTTP serves no subscription: an HTTP error, not a result."""
    async with http_client(app_server, token) as client:
        with pytest.raises(HTTPStatusError) as raised:
            await client.execute("subscription { greetings }")
    assert raised.value.status == 426
