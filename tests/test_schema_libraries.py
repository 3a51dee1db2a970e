"""Strawberry, Ariadne and Graphene schemas served by an unchanged ``GraphQLServer(schema)``.

The same API in each library (``tests/apps/third_party_schemas.py``): queries, a mutation, an
async-generator subscription, a resolver that raises, and the ``context`` option reaching
the resolvers as ``info.context``; over graphql-transport-ws, legacy graphql-ws and HTTP,
on every server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.apps.third_party_schemas import LIBRARIES, RESOLVER_ERROR
from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log
from tests.harness.wsclient import WSClient, ws_client

APP = "tests.apps.third_party_schemas:app"
TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
GRAPHQL_RESPONSE = "application/graphql-response+json"

pytestmark = pytest.mark.parametrize("library", LIBRARIES)


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


# A resolver that raises is logged by the server (its line and its traceback, once); a
# test that makes one raise expects exactly that.
RESOLVER_ERROR_LOGGED = rf"RuntimeError: {RESOLVER_ERROR}$"


@pytest.fixture(autouse=True)
def expected_log(proc: ServerProcess) -> Iterator[list[str]]:
    """Fail a test that made the server log an error or a traceback, except those that
    match the patterns the test appends to this list."""
    allowed: list[str] = []
    offset = proc.log_offset()
    yield allowed
    assert_clean_log(proc, since=offset, allow=allowed)


# --------------------------------------------------------------------------- helpers


async def init_transport_ws(c: WSClient, params: dict[str, Any] | None = None) -> None:
    init: dict[str, Any] = {"type": "connection_init"}
    if params is not None:
        init["payload"] = params
    await c.send(init)
    assert await c.receive() == {"type": "connection_ack"}


async def transport_ws_results(c: WSClient, id: str, payload: dict[str, Any]) -> list[Any]:
    """The payloads of every ``next`` of one operation, up to its ``complete``."""
    await c.send({"id": id, "type": "subscribe", "payload": payload})
    results: list[Any] = []
    while True:
        message = await c.receive()
        assert message["id"] == id, message
        if message["type"] == "complete":
            return results
        assert message["type"] == "next", message
        results.append(message["payload"])


async def init_legacy(c: WSClient, params: dict[str, Any] | None = None) -> None:
    init: dict[str, Any] = {"type": "connection_init"}
    if params is not None:
        init["payload"] = params
    await c.send(init)
    assert await c.receive() == {"type": "connection_ack"}


async def legacy_results(c: WSClient, id: str, payload: dict[str, Any]) -> list[Any]:
    """The payloads of every ``data`` of one legacy operation, up to its ``complete``
    (keep-alive ``ka`` messages skipped)."""
    await c.send({"id": id, "type": "start", "payload": payload})
    results: list[Any] = []
    while True:
        message = await c.receive()
        if message["type"] == "ka":
            continue
        assert message["id"] == id, message
        if message["type"] == "complete":
            return results
        assert message["type"] == "data", message
        results.append(message["payload"])


def failed_field(column: int) -> dict[str, Any]:
    return {
        "message": RESOLVER_ERROR,
        "locations": [{"line": 1, "column": column}],
        "path": ["fail"],
    }


# --------------------------------------------------------------------------- graphql-transport-ws


async def test_transport_ws_query_with_variables(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init_transport_ws(c)
        payload = {"query": "query Q($n: String!) { hello(name: $n) }", "variables": {"n": "Ada"}}
        assert await transport_ws_results(c, "1", payload) == [{"data": {"hello": "Hello Ada!"}}]


async def test_transport_ws_mutation(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init_transport_ws(c)
        payload = {"query": 'mutation { shout(text: "hey") }'}
        assert await transport_ws_results(c, "m", payload) == [{"data": {"shout": "HEY"}}]


async def test_transport_ws_subscription(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init_transport_ws(c)
        results = await transport_ws_results(c, "s", {"query": "subscription { count(to: 3) }"})
        assert results == [{"data": {"count": n}} for n in (1, 2, 3)]


async def test_transport_ws_resolver_error(
    proc: ServerProcess, library: str, expected_log: list[str]
) -> None:
    expected_log.append(RESOLVER_ERROR_LOGGED)
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init_transport_ws(c)
        results = await transport_ws_results(c, "e", {"query": "{ hello fail }"})
        assert results == [
            {"data": {"hello": "Hello world!", "fail": None}, "errors": [failed_field(9)]}
        ]
        await c.expect_nothing()  # the connection stays open


async def test_transport_ws_context(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init_transport_ws(c, {"user": "grace"})
        results = await transport_ws_results(c, "c", {"query": "{ whoami }"})
        assert results == [{"data": {"whoami": "grace"}}]


# --------------------------------------------------------------------------- legacy graphql-ws


async def test_legacy_query_and_mutation(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[LEGACY_WS]) as c:
        assert c.subprotocol == LEGACY_WS
        await init_legacy(c)
        query = {"query": '{ hello(name: "Lin") }'}
        assert await legacy_results(c, "1", query) == [{"data": {"hello": "Hello Lin!"}}]
        mutation = {"query": 'mutation { shout(text: "yo") }'}
        assert await legacy_results(c, "2", mutation) == [{"data": {"shout": "YO"}}]


async def test_legacy_subscription(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[LEGACY_WS]) as c:
        await init_legacy(c)
        results = await legacy_results(c, "s", {"query": "subscription { count(to: 4) }"})
        assert results == [{"data": {"count": n}} for n in (1, 2, 3, 4)]


async def test_legacy_resolver_error_and_context(
    proc: ServerProcess, library: str, expected_log: list[str]
) -> None:
    expected_log.append(RESOLVER_ERROR_LOGGED)
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[LEGACY_WS]) as c:
        await init_legacy(c, {"user": "linus"})
        results = await legacy_results(c, "e", {"query": "{ whoami fail }"})
        assert results == [
            {"data": {"whoami": "linus", "fail": None}, "errors": [failed_field(10)]}
        ]


# --------------------------------------------------------------------------- HTTP


def post(proc: ServerProcess, library: str, body: Any, **headers: str) -> httpx.Response:
    sent = {"accept": GRAPHQL_RESPONSE, **headers}
    return httpx.post(proc.http_url(f"/{library}"), json=body, headers=sent, timeout=10)


def test_http_query_context_and_mutation(proc: ServerProcess, library: str) -> None:
    response = post(proc, library, {"query": "{ hello whoami }"}, **{"x-user": "barbara"})
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello world!", "whoami": "barbara"}}
    response = post(proc, library, {"query": 'mutation { shout(text: "a") }'})
    assert response.json() == {"data": {"shout": "A"}}


def test_http_get_query(proc: ServerProcess, library: str) -> None:
    response = httpx.get(
        proc.http_url(f"/{library}"),
        params={"query": "query($n: String!) { hello(name: $n) }", "variables": '{"n": "Kay"}'},
        headers={"accept": GRAPHQL_RESPONSE},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (200, {"data": {"hello": "Hello Kay!"}})


def test_http_resolver_error(proc: ServerProcess, library: str, expected_log: list[str]) -> None:
    expected_log.append(RESOLVER_ERROR_LOGGED)
    response = post(proc, library, {"query": "{ hello fail }"})
    assert response.status_code == 200
    assert response.json() == {
        "data": {"hello": "Hello world!", "fail": None},
        "errors": [failed_field(9)],
    }


def test_http_validation_error_and_subscription(proc: ServerProcess, library: str) -> None:
    response = post(proc, library, {"query": "{ nope }"})
    assert response.status_code == 422
    assert "nope" in response.json()["errors"][0]["message"]
    response = post(proc, library, {"query": "subscription { count(to: 1) }"})
    assert response.status_code == 426
