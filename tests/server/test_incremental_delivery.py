"""Incremental delivery (``@defer``, ``@stream``) on real servers, over both WebSocket
subprotocols and over plain-JSON HTTP.

Over ``graphql-transport-ws`` each result of an incremental response is one ``next``,
then ``complete``; over the legacy ``graphql-ws`` one ``data`` each, then ``complete``.
Over HTTP with ``application/json`` or ``application/graphql-response+json`` the
deferred fragments and streamed lists are executed in place: one whole result. On
graphql-core 3.2 the directives are refused like any validation error.

The app is :mod:`tests.apps.incremental_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from gqlwire.incremental import NEEDS_GRAPHQL_CORE_3_3
from gqlwire.response_stream import GRAPHQL_CORE_3_3
from tests.apps.incremental_app import FAIL_MESSAGE, LIMIT
from tests.harness.control import event_names, new_token, wait_for_events, wait_until_idle
from tests.harness.protocols import LEGACY_WS, TRANSPORT_WS
from tests.harness.servers import LogWatch, ServerPool, ServerProcess
from tests.harness.wsclient import WSClient, http_post_json, ws_client

# Splitting a response into increments is graphql-core's and gqlwire's work, so most cases
# run on one server per adapter (tests/conftest.py); the messages of a deferred query, a
# stop mid-stream and a client going away mid-stream run on every server.
pytestmark = pytest.mark.per_adapter

TARGET = "tests.apps.incremental_app:app"

only_on_3_3 = pytest.mark.skipif(
    not GRAPHQL_CORE_3_3, reason="incremental delivery needs graphql-core 3.3"
)
only_on_3_2 = pytest.mark.skipif(GRAPHQL_CORE_3_3, reason="the refusal of graphql-core 3.2")

DEFER = '{ hello ... @defer(label: "rest") { later } }'
STREAM = "{ numbers(to: 3) @stream(initialCount: 1) }"


@dataclass(frozen=True)
class Subprotocol:
    """The message types one subprotocol uses for an operation."""

    name: str
    start: str
    stop: str
    result: str


GRAPHQL_TRANSPORT_WS = Subprotocol(TRANSPORT_WS, "subscribe", "complete", "next")
LEGACY_GRAPHQL_WS = Subprotocol(LEGACY_WS, "start", "stop", "data")


@pytest.fixture(params=[GRAPHQL_TRANSPORT_WS, LEGACY_GRAPHQL_WS], ids=lambda p: p.name)
def subprotocol(request: pytest.FixtureRequest) -> Subprotocol:
    chosen: Subprotocol = request.param
    return chosen


@pytest.fixture(scope="module")
def server(server_pool: ServerPool, server_name: str) -> ServerProcess:
    return server_pool.get(TARGET, server_name)


@pytest.fixture(autouse=True)
def log_watch(server: ServerProcess) -> Iterator[LogWatch]:
    watch = LogWatch(server)
    yield watch
    watch.assert_clean()


@asynccontextmanager
async def connected(
    server: ServerProcess, subprotocol: Subprotocol, token: str = "", path: str = "/graphql"
) -> AsyncIterator[WSClient]:
    async with ws_client(server.ws_url(path, f"token={token}"), [subprotocol.name]) as client:
        await client.send({"type": "connection_init"})
        assert (await client.receive())["type"] == "connection_ack"
        yield client


async def start(client: WSClient, subprotocol: Subprotocol, id: str, query: str) -> None:
    await client.send({"id": id, "type": subprotocol.start, "payload": {"query": query}})


async def results(client: WSClient, subprotocol: Subprotocol, id: str) -> list[dict[str, Any]]:
    """The payloads of operation ``id``'s results, up to its ``complete``."""
    payloads: list[dict[str, Any]] = []
    while True:
        message = await client.receive(timeout=10)
        assert message.get("id") == id, message
        if message["type"] == "complete":
            return payloads
        assert message["type"] == subprotocol.result, message
        payloads.append(message["payload"])


# -- graphql-core 3.3 -------------------------------------------------------------------------


@pytest.mark.every_server
@only_on_3_3
async def test_each_result_of_a_deferred_query_is_a_message(
    server: ServerProcess, subprotocol: Subprotocol
) -> None:
    token = new_token()
    async with connected(server, subprotocol, token) as client:
        await start(client, subprotocol, "1", DEFER)
        assert await results(client, subprotocol, "1") == [
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
    events = await wait_for_events(server, token, "complete")
    assert [(e["event"], e.get("has_next")) for e in events] == [
        ("operation", None),
        ("next", True),
        ("next", False),
        ("complete", None),
    ]


@only_on_3_3
async def test_a_streamed_list_comes_in_several_messages(
    server: ServerProcess, subprotocol: Subprotocol
) -> None:
    async with connected(server, subprotocol) as client:
        await start(client, subprotocol, "s", STREAM)
        first, *rest = await results(client, subprotocol, "s")
    assert first == {
        "data": {"numbers": [1]},
        "pending": [{"id": "0", "path": ["numbers"]}],
        "hasNext": True,
    }
    items = [item for r in rest for entry in r.get("incremental", ()) for item in entry["items"]]
    assert items == [2, 3]
    assert rest and rest[-1]["hasNext"] is False


@pytest.mark.every_server
@only_on_3_3
async def test_stopping_an_operation_mid_stream_cancels_its_deferred_work(
    server: ServerProcess, subprotocol: Subprotocol
) -> None:
    token = new_token()
    async with connected(server, subprotocol, token) as client:
        await start(
            client, subprotocol, "h", f'{{ hello ... @defer {{ hang(token: "{token}") }} }}'
        )
        initial = await client.receive()
        assert initial["type"] == subprotocol.result and initial["payload"]["hasNext"] is True
        await wait_for_events(server, token, "hang_start")
        await client.send({"id": "h", "type": subprotocol.stop})
        events = await wait_for_events(server, token, "hang_finally", "complete")
        assert event_names(events).count("next") == 1
        if subprotocol is LEGACY_GRAPHQL_WS:  # the legacy server answers `stop`
            assert await client.receive() == {"id": "h", "type": "complete"}
        # The socket carries on.
        await start(client, subprotocol, "after", "{ hello }")
        assert await results(client, subprotocol, "after") == [{"data": {"hello": "world"}}]
    await wait_until_idle(server, "/graphql")


@pytest.mark.every_server
@only_on_3_3
async def test_a_client_that_goes_away_mid_stream_leaves_nothing_running(
    server: ServerProcess, subprotocol: Subprotocol
) -> None:
    token = new_token()
    async with connected(server, subprotocol, token) as client:
        await start(
            client, subprotocol, "h", f'{{ hello ... @defer {{ hang(token: "{token}") }} }}'
        )
        assert (await client.receive())["payload"]["hasNext"] is True
        await wait_for_events(server, token, "hang_start")
        client.abort()  # the TCP connection drops, no close frame
    await wait_for_events(server, token, "hang_finally", "complete")
    await wait_until_idle(server, "/graphql")


@only_on_3_3
async def test_a_masked_error_in_an_increment(
    server: ServerProcess, subprotocol: Subprotocol, log_watch: LogWatch
) -> None:
    log_watch.allow(FAIL_MESSAGE)  # logged once, with its traceback
    async with connected(server, subprotocol, path="/masked") as client:
        await start(client, subprotocol, "f", "{ hello ... @defer { fail } }")
        _initial, increment = await results(client, subprotocol, "f")
    [entry] = increment["incremental"]
    assert entry["data"] == {"fail": None}
    assert [error["message"] for error in entry["errors"]] == ["Unexpected error."]


@only_on_3_3
async def test_deferred_work_past_the_time_limit_ends_the_response(
    server: ServerProcess, subprotocol: Subprotocol
) -> None:
    token = new_token()
    async with connected(server, subprotocol, path="/limited") as client:
        await start(
            client, subprotocol, "t", f'{{ hello ... @defer {{ hang(token: "{token}") }} }}'
        )
        initial, last = await results(client, subprotocol, "t")
    assert initial["hasNext"] is True
    assert last == {
        "completed": [
            {"id": "0", "errors": [{"message": f"Execution time exceeds the limit of {LIMIT:g} s"}]}
        ],
        "hasNext": False,
    }
    await wait_for_events(server, token, "hang_finally")


@only_on_3_3
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_plain_http_answers_one_whole_result(server: ServerProcess, accept: str) -> None:
    response = await http_post_json(
        server.http_url(),
        {"query": "{ hello ... @defer { later } numbers(to: 3) @stream(initialCount: 1) }"},
        headers={"accept": accept},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "world", "later": "later", "numbers": [1, 2, 3]}}


# -- graphql-core 3.2 -------------------------------------------------------------------------


@only_on_3_2
async def test_on_3_2_the_directives_are_refused_like_a_validation_error(
    server: ServerProcess, subprotocol: Subprotocol
) -> None:
    async with connected(server, subprotocol) as client:
        await start(client, subprotocol, "r", DEFER)
        message = await client.receive()
        if subprotocol is GRAPHQL_TRANSPORT_WS:
            assert message["type"] == "error"
            assert [error["message"] for error in message["payload"]] == [NEEDS_GRAPHQL_CORE_3_3]
        else:  # the legacy server sends validation errors as `data`, then `complete`
            assert message["type"] == "data"
            errors = message["payload"]["errors"]
            assert [error["message"] for error in errors] == [NEEDS_GRAPHQL_CORE_3_3]
            assert await client.receive() == {"id": "r", "type": "complete"}


@only_on_3_2
async def test_on_3_2_plain_http_refuses_the_directives(server: ServerProcess) -> None:
    response = await http_post_json(
        server.http_url(),
        {"query": DEFER},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 422
    assert [e["message"] for e in response.json()["errors"]] == [NEEDS_GRAPHQL_CORE_3_3]
