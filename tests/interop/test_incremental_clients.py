"""Clients we did not write running ``@defer`` and ``@stream`` queries over
``graphql-transport-ws`` and over HTTP, on every server name for
what servers change (``node/incremental_client.mjs``):

- npm ``graphql-ws``'s ``createClient`` receives one ``next`` per result, in the format
  of graphql-js 17 (``pending``, ``incremental``, ``completed``, ``hasNext``);
- Apollo Client 4 with ``GraphQLWsLink`` and its ``GraphQL17Alpha9Handler`` merges them
  into the whole result; with ``HttpLink`` instead, it asks for incremental delivery over
  ``multipart/mixed`` and merges the parts the same way.

The app is :mod:`tests.apps.incremental_app`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gqlwire.response_stream import GRAPHQL_CORE_3_3
from tests.harness.node import NodeRun, run_node
from tests.harness.servers import LogWatch, ServerPool, ServerProcess

TARGET = "tests.apps.incremental_app:app"
SCRIPT = "incremental_client.mjs"

# How a client merges increments is the client's, and their format gqlwire's: one
# deferred query per transport (graphql-ws messages, Apollo's multipart over HTTP) runs
# on every server, the other cases on one server per adapter (tests/conftest.py).
pytestmark = [
    pytest.mark.skipif(not GRAPHQL_CORE_3_3, reason="incremental delivery needs graphql-core 3.3"),
    pytest.mark.per_adapter,
]


@pytest.fixture(scope="module")
def server(server_pool: ServerPool, server_name: str) -> ServerProcess:
    return server_pool.get(TARGET, server_name)


@pytest.fixture(autouse=True)
def log_watch(server: ServerProcess) -> Iterator[LogWatch]:
    watch = LogWatch(server)
    yield watch
    watch.assert_clean()


def run(server: ServerProcess, scenario: str, query: str) -> NodeRun:
    result = run_node(SCRIPT, scenario, {"url": server.ws_url(), "query": query})
    result.assert_succeeded()
    assert result.first("open")["protocol"] == "graphql-transport-ws", str(result)
    return result


def apollo_results(result: NodeRun) -> list[dict[str, Any]]:
    """What Apollo Client emitted once the request went out (its first, empty result
    is the cache's, before the network)."""
    emitted = [
        {key: event[key] for key in ("data", "dataState", "networkStatus", "error")}
        for event in result.named("result")
    ]
    assert emitted and emitted[0]["dataState"] == "empty", str(result)
    return emitted[1:]


@pytest.mark.every_server
def test_the_graphql_ws_client_receives_each_result_of_a_deferred_query(
    server: ServerProcess,
) -> None:
    result = run(server, "graphql-ws", '{ hello ... @defer(label: "rest") { later } }')
    assert [event["result"] for event in result.named("next")] == [
        {
            "data": {"hello": "world"},
            "pending": [{"id": "0", "path": [], "label": "rest"}],
            "hasNext": True,
        },
        {
            "incremental": [{"id": "0", "data": {"later": "later"}}],
            "completed": [{"id": "0"}],
            "hasNext": False,
        },
    ]
    assert len(result.named("complete")) == 1 and not result.named("error"), str(result)


def test_apollo_client_merges_a_deferred_query(server: ServerProcess) -> None:
    result = run(
        server, "apollo", "query Q { hello person { name ... @defer { friends { name } } } }"
    )
    emitted = apollo_results(result)
    person = {"__typename": "Person", "name": "Ada"}
    friends = [{"__typename": "Person", "name": name} for name in ("Grace", "Linus")]
    assert emitted == [
        {
            "data": {"hello": "world", "person": person},
            "dataState": "streaming",
            "networkStatus": 9,
            "error": None,
        },
        {
            "data": {"hello": "world", "person": {**person, "friends": friends}},
            "dataState": "complete",
            "networkStatus": 7,
            "error": None,
        },
    ]


def test_apollo_client_merges_a_streamed_list(server: ServerProcess) -> None:
    result = run(server, "apollo", "query S { numbers(to: 4) @stream(initialCount: 1) }")
    emitted = apollo_results(result)
    assert emitted[0]["data"] == {"numbers": [1]}
    assert emitted[-1] == {
        "data": {"numbers": [1, 2, 3, 4]},
        "dataState": "complete",
        "networkStatus": 7,
        "error": None,
    }
    assert all(item["error"] is None for item in emitted), str(result)


@pytest.mark.every_server
def test_apollo_client_merges_a_deferred_query_over_http(server: ServerProcess) -> None:
    result = run_node(
        SCRIPT,
        "apollo-http",
        {
            "url": server.http_url(),
            "query": "query Q { hello person { name ... @defer { friends { name } } } }",
        },
    )
    result.assert_succeeded()
    [response] = result.named("response")
    assert response["status"] == 200, str(result)
    # Apollo asks for `multipart/mixed;incrementalSpec=v0.2` first; the answer is
    # incremental delivery over multipart/mixed.
    assert str(response["accept"]).startswith("multipart/mixed;incrementalSpec=v0.2"), str(result)
    assert str(response["contentType"]).replace(" ", "").startswith("multipart/mixed;"), str(result)
    emitted = apollo_results(result)
    person = {"__typename": "Person", "name": "Ada"}
    friends = [{"__typename": "Person", "name": name} for name in ("Grace", "Linus")]
    assert emitted == [
        {
            "data": {"hello": "world", "person": person},
            "dataState": "streaming",
            "networkStatus": 9,
            "error": None,
        },
        {
            "data": {"hello": "world", "person": {**person, "friends": friends}},
            "dataState": "complete",
            "networkStatus": 7,
            "error": None,
        },
    ]


def test_apollo_client_merges_a_streamed_list_over_http(server: ServerProcess) -> None:
    result = run_node(
        SCRIPT,
        "apollo-http",
        {"url": server.http_url(), "query": "query S { numbers(to: 4) @stream(initialCount: 1) }"},
    )
    result.assert_succeeded()
    assert str(result.first("response")["contentType"]).startswith("multipart/mixed"), str(result)
    emitted = apollo_results(result)
    assert emitted[0]["data"] == {"numbers": [1]}
    assert emitted[-1] == {
        "data": {"numbers": [1, 2, 3, 4]},
        "dataState": "complete",
        "networkStatus": 7,
        "error": None,
    }
    assert all(item["error"] is None for item in emitted), str(result)
