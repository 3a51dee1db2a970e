"""The server tests of subscriptions-transport-ws, ported as black-box tests of gqlwire.

Every test runs on every ASGI server, over a real socket, with ``graphql-ws`` offered
alone. The expectations are the reference server's (``describe('Server')`` and the
``Client<->Server Flow`` tests of its ``src/test/tests.ts``), adjusted where gqlwire
chose differently on purpose:

* a ``start`` that arrives before the ack is queued, and one with no init at all never
  runs: the init timeout (which the reference lacks) closes the socket with 4408;
* no acceptable subprotocol is accepted without one, then closed 4406 (not 1002);
* ``connection_terminate`` closes with 1000; ``stop`` is answered with ``complete``.

The app is :mod:`tests.apps.legacy_app`; its hooks record what they see, read back
through ``GET /_events``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from tests.apps.fixture_schema import GREETINGS
from tests.apps.legacy_app import SECRET, SHORT_INIT_TIMEOUT
from tests.harness.closes import assert_close
from tests.harness.control import event_names, fetch_events, new_token, post_pong, wait_for_events
from tests.harness.protocols import LEGACY_WS
from tests.harness.servers import LogWatch, ServerProcess
from tests.harness.wsclient import WSClient, ws_client

TARGET = "tests.apps.legacy_app:app"
QUIET = 0.2  # how long "nothing more arrives" is watched for


@pytest.fixture(scope="module")
def server(server_pool: Any, server_name: str) -> ServerProcess:
    proc: ServerProcess = server_pool.get(TARGET, server_name)
    return proc


@pytest.fixture(autouse=True)
def log_watch(server: ServerProcess) -> Iterator[LogWatch]:
    """No test may leave a traceback or an error line in the server's log."""
    watch = LogWatch(server)
    yield watch
    watch.assert_clean()


def legacy_client(
    server: ServerProcess, path: str = "/graphql", query: str = ""
) -> AbstractAsyncContextManager[WSClient]:
    return ws_client(server.ws_url(path, query), subprotocols=[LEGACY_WS])


async def init(client: WSClient, payload: Any = None) -> None:
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    await client.send(message)
    assert await client.receive() == {"type": "connection_ack"}


async def start(client: WSClient, id: Any, query: str, **extra: Any) -> None:
    await client.send({"id": id, "type": "start", "payload": {"query": query, **extra}})


async def stop(client: WSClient, id: Any) -> None:
    await client.send({"id": id, "type": "stop"})


@pytest.fixture
async def acked(server: ServerProcess) -> AsyncIterator[WSClient]:
    """An acknowledged connection to the default configuration."""
    async with legacy_client(server) as client:
        await init(client)
        yield client


# -- handshake ------------------------------------------------------------------------------


async def test_the_legacy_subprotocol_is_chosen_when_offered_alone(acked: WSClient) -> None:
    assert acked.subprotocol == LEGACY_WS


async def test_a_client_without_a_supported_subprotocol_is_closed_4406(
    server: ServerProcess, server_name: str
) -> None:
    # The reference closes with 1002; gqlwire closes as graphql-ws does.
    for offered in (None, ["graphql-subscriptions"]):
        async with ws_client(server.ws_url(), subprotocols=offered) as client:
            assert client.subprotocol is None
            closed = await client.wait_closed()
            assert_close(client, closed, 4406, "Subprotocol not acceptable", server_name)


# -- what the server answers to bad input, keeping the socket open ------------------------


@pytest.mark.parametrize("frame", ["HI", "{", b"\x00\xffgarbage", b"\xc3\x28"], ids=repr)
async def test_an_unparsable_message_gets_connection_error(
    server: ServerProcess, frame: str | bytes
) -> None:
    async with legacy_client(server) as client:
        await client.send(frame)
        message = await client.receive()
        assert message["type"] == "connection_error"
        assert isinstance(message["payload"]["message"], str) and message["payload"]["message"]
        # The socket stays open and usable.
        await init(client)


@pytest.mark.parametrize(
    ("message", "id"),
    [
        ({}, None),
        ([], None),
        ('"a JSON string"', None),
        ({"type": "nonsense", "id": "x"}, "x"),
        ({"type": "subscribe", "id": "1", "payload": {"query": "{ getValue }"}}, "1"),
        ({"type": "ping"}, None),
        ({"type": "connection_ack"}, None),
    ],
    ids=repr,
)
async def test_a_nonsense_message_gets_invalid_message_type(
    acked: WSClient, message: Any, id: str | None
) -> None:
    # graphql-transport-ws messages are nonsense here: a legacy client throws on them.
    await acked.send(message)
    expected: dict[str, Any] = {"type": "error", "payload": {"message": "Invalid message type!"}}
    if id is not None:
        expected["id"] = id
    assert await acked.receive() == expected
    await acked.expect_nothing(QUIET)


async def test_a_stop_for_an_object_prototype_member_is_a_no_op(acked: WSClient) -> None:
    await stop(acked, "toString")
    await stop(acked, "__proto__")
    await acked.expect_nothing(QUIET)
    await start(acked, "1", "{ getValue }")
    assert (await acked.receive())["payload"] == {"data": {"getValue": "value"}}


# -- where results and errors go ----------------------------------------------------------


async def test_a_query_gets_data_then_complete(acked: WSClient) -> None:
    await start(acked, "1", "{ getValue }")
    assert await acked.receive() == {
        "id": "1",
        "type": "data",
        "payload": {"data": {"getValue": "value"}},
    }
    assert await acked.receive() == {"id": "1", "type": "complete"}
    await acked.expect_nothing(QUIET)


async def test_a_numeric_id_is_echoed_as_a_number(acked: WSClient) -> None:
    await start(acked, 7, "{ getValue }")
    data = await acked.receive()
    assert data["id"] == 7 and data["type"] == "data"
    assert await acked.receive() == {"id": 7, "type": "complete"}


async def test_a_syntax_error_is_sent_back_as_a_single_error_object(acked: WSClient) -> None:
    # "sends back any type of error"
    await start(acked, "1", "invalid useInfo{\n  error\n}")
    message = await acked.receive()
    assert message["type"] == "error" and message["id"] == "1"
    assert isinstance(message["payload"], dict), "legacy errors are one object, not a list"
    assert message["payload"]["message"].startswith("Syntax Error:")
    await acked.expect_nothing(QUIET)  # no complete after an error


async def test_validation_errors_are_data_with_errors_then_complete(acked: WSClient) -> None:
    # "should send a gql_data with errors message to client with invalid query" and
    # "validate requests against schema"
    await start(acked, "1", "query { invalid }")
    message = await acked.receive()
    assert message["type"] == "data" and message["id"] == "1"
    assert "data" not in message["payload"]
    errors = message["payload"]["errors"]
    # graphql-core quotes names with ' where graphql-js uses "
    message_text = errors[0]["message"].replace("'", '"')
    assert message_text == 'Cannot query field "invalid" on type "Query".'
    assert await acked.receive() == {"id": "1", "type": "complete"}


async def test_a_resolver_error_is_data_with_errors_then_complete(
    acked: WSClient, log_watch: LogWatch
) -> None:
    log_watch.allow(r"RuntimeError: Query Kaboom!$")  # the server logs the resolver's exception
    await start(acked, "1", "{ throwing }")
    message = await acked.receive()
    assert message["type"] == "data" and message["id"] == "1"
    assert message["payload"]["data"] is None
    assert [e["message"] for e in message["payload"]["errors"]] == ["Query Kaboom!"]
    assert await acked.receive() == {"id": "1", "type": "complete"}


async def test_an_iterator_error_is_a_single_error_object(
    acked: WSClient, log_watch: LogWatch
) -> None:
    log_watch.allow(r"RuntimeError: Subscribe Kaboom!$")  # the server logs the source's exception
    await start(acked, "1", "subscription { throwing }")
    message = await acked.receive()
    assert message["type"] == "error" and message["id"] == "1"
    assert isinstance(message["payload"], dict), "legacy errors are one object, not a list"
    assert message["payload"]["message"] == "Subscribe Kaboom!"
    await acked.expect_nothing(QUIET)


async def test_a_subscription_streams_data_then_complete(acked: WSClient) -> None:
    await start(acked, "1", "subscription { greetings }")
    for greeting in GREETINGS:
        assert await acked.receive() == {
            "id": "1",
            "type": "data",
            "payload": {"data": {"greetings": greeting}},
        }
    assert await acked.receive() == {"id": "1", "type": "complete"}


# -- connection_init, on_connect ----------------------------------------------------------


async def test_on_connect_receives_the_connection_params(server: ServerProcess) -> None:
    token = new_token()
    async with legacy_client(server, "/events", f"token={token}") as client:
        await init(client, {"test": True})
    events = await wait_for_events(server, token, "connect")
    connects = [event for event in events if event["event"] == "connect"]
    assert connects == [{"event": "connect", "params": {"test": True}, "protocol": LEGACY_WS}]


async def test_on_connect_returning_false_sends_connection_error_and_closes_1011(
    server: ServerProcess, server_name: str
) -> None:
    async with legacy_client(server, "/refuse") as client:
        await client.send({"type": "connection_init"})
        assert await client.receive() == {
            "type": "connection_error",
            "payload": {"message": "Prohibited connection!"},
        }
        assert_close(client, await client.wait_closed(), 1011, None, server_name)


async def test_on_connect_raising_sends_connection_error_with_its_message(
    server: ServerProcess, server_name: str, log_watch: LogWatch
) -> None:
    # "should trigger onConnect and return GQL_CONNECTION_ERROR with error" (debug=True)
    log_watch.allow(r"on_connect|Exception: Error")
    async with legacy_client(server, "/raise") as client:
        await client.send({"type": "connection_init"})
        assert await client.receive() == {
            "type": "connection_error",
            "payload": {"message": "Error"},
        }
        assert_close(client, await client.wait_closed(), 1011, None, server_name)


async def test_on_connect_raising_does_not_leak_the_message_without_debug(
    server: ServerProcess, server_name: str, log_watch: LogWatch
) -> None:
    log_watch.allow(r"on_connect|" + SECRET)
    async with legacy_client(server, "/raise-masked") as client:
        await client.send({"type": "connection_init"})
        message = await client.receive()
        assert message["type"] == "connection_error"
        assert SECRET not in str(message)
        closed = await client.wait_closed()
        assert_close(client, closed, 1011, None, server_name)
        assert SECRET not in closed[1]


async def test_a_start_sent_before_the_ack_is_queued(server: ServerProcess) -> None:
    # Legacy clients never wait for the ack; on_connect here takes a while.
    token = new_token()
    async with legacy_client(server, "/slow-connect", f"token={token}") as client:
        await client.send({"type": "connection_init"})
        await start(client, "1", "{ getValue }")
        assert await client.receive() == {"type": "connection_ack"}
        assert (await client.receive())["payload"] == {"data": {"getValue": "value"}}
        assert await client.receive() == {"id": "1", "type": "complete"}
    names = event_names(await wait_for_events(server, token, "connect", "operation"))
    assert names.index("connect") < names.index("subscribe")


async def test_a_start_without_any_init_never_runs_and_the_init_timeout_closes_4408(
    server: ServerProcess, server_name: str
) -> None:
    token = new_token()
    async with legacy_client(server, "/init-timeout", f"token={token}") as client:
        await start(client, "1", "{ getValue }")
        closed = await client.wait_closed(SHORT_INIT_TIMEOUT + 5.0)
        assert_close(client, closed, 4408, "Connection initialisation timeout", server_name)
        with pytest.raises(AssertionError, match="connection closed"):
            await client.receive(0.1)  # nothing was sent before the close
    events = await wait_for_events(server, token, "close")
    assert event_names(events) == ["close"]  # no connect, subscribe or operation


async def test_connection_terminate_closes_the_socket(
    server: ServerProcess, server_name: str
) -> None:
    token = new_token()
    async with legacy_client(server, "/events", f"token={token}") as client:
        await init(client)
        await client.send({"type": "connection_terminate"})
        assert_close(client, await client.wait_closed(), 1000, None, server_name)
    events = await wait_for_events(server, token, "disconnect", "close")
    assert event_names(events) == ["connect", "disconnect", "close"]


# -- keep-alive ---------------------------------------------------------------------------


async def test_ka_follows_the_ack_and_repeats(server: ServerProcess) -> None:
    # "sends a keep alive signal in the socket" (keep_alive=0.1 s)
    async with legacy_client(server, "/keepalive") as client:
        await client.expect_nothing(0.3)  # no ka before the connection is acknowledged
        await client.send({"id": 1, "type": "connection_init"})
        assert await client.receive() == {"type": "connection_ack"}
        assert await client.receive() == {"type": "ka"}  # right after the ack
        for _ in range(3):
            assert await client.receive() == {"type": "ka"}


# -- stop, disconnects and the end of the source ------------------------------------------


async def test_stop_ends_the_source_and_completes(server: ServerProcess) -> None:
    # "should trigger onOperationComplete when client unsubscribes" and "does not send
    # more subscription data after client unsubscribes"
    token, key = new_token(), new_token()
    async with legacy_client(server, "/events", f"token={token}") as client:
        await init(client)
        await start(client, "t", f'subscription {{ tracked(token: "{token}") }}')
        assert (await client.receive())["payload"] == {"data": {"tracked": "ready"}}
        await start(client, "p", f'subscription {{ ping(key: "{key}") }}')
        await post_pong(server, key)
        assert await client.receive() == {
            "id": "p",
            "type": "data",
            "payload": {"data": {"ping": "pong"}},
        }
        await stop(client, "t")
        assert await client.receive() == {"id": "t", "type": "complete"}
        await stop(client, "p")
        assert await client.receive() == {"id": "p", "type": "complete"}
        await post_pong(server, key)
        await client.expect_nothing(QUIET)
        events = await wait_for_events(server, token, "source_finally", "complete", "complete")
    assert event_names(events).count("source_finally") == 1
    assert sorted(e["id"] for e in events if e["event"] == "complete") == ["p", "t"]


async def test_closing_the_socket_ends_the_source_and_calls_the_hooks_once(
    server: ServerProcess,
) -> None:
    # "should call unsubscribe when client closes the connection", "should trigger
    # onDisconnect when client disconnects", "should close iteration over AsyncIterator
    # when client disconnects"
    token = new_token()
    async with legacy_client(server, "/events", f"token={token}") as client:
        await init(client)
        await start(client, "t", f'subscription {{ tracked(token: "{token}") }}')
        assert (await client.receive())["payload"] == {"data": {"tracked": "ready"}}
        await client.close()
    events = await wait_for_events(server, token, "source_finally", "disconnect", "close")
    names = event_names(events)
    for once in ("connect", "subscribe", "operation", "source_start", "source_finally"):
        assert names.count(once) == 1, names
    for once in ("complete", "disconnect", "close"):
        assert names.count(once) == 1, names
    assert names[-2:] == ["disconnect", "close"], names


async def test_unsubscribing_one_client_leaves_the_other_running(server: ServerProcess) -> None:
    # "should close iteration over AsyncIterator when client unsubscribes"
    tokens, keys = [new_token(), new_token()], [new_token(), new_token()]
    async with (
        legacy_client(server, "/events", f"token={tokens[0]}") as first,
        legacy_client(server, "/events", f"token={tokens[1]}") as second,
    ):
        for client, token, key in zip((first, second), tokens, keys, strict=True):
            await init(client)
            await start(client, "t", f'subscription {{ tracked(token: "{token}") }}')
            assert (await client.receive())["payload"] == {"data": {"tracked": "ready"}}
            await start(client, "p", f'subscription {{ ping(key: "{key}") }}')
        await stop(first, "t")
        await stop(first, "p")
        assert {(await first.receive())["id"], (await first.receive())["id"]} == {"t", "p"}
        await wait_for_events(server, tokens[0], "source_finally")
        await post_pong(server, keys[0])
        await post_pong(server, keys[1])
        assert (await second.receive())["payload"] == {"data": {"ping": "pong"}}
        await first.expect_nothing(QUIET)
        assert "source_finally" not in event_names(await fetch_events(server, tokens[1]))


async def test_several_clients_get_their_own_results(server: ServerProcess) -> None:
    # "should send correct results to multiple clients with subscriptions"
    keys = [new_token() for _ in range(3)]
    async with (
        legacy_client(server) as a,
        legacy_client(server) as b,
        legacy_client(server) as c,
    ):
        clients = (a, b, c)
        for client, key in zip(clients, keys, strict=True):
            await init(client)
            await start(client, "1", f'subscription {{ ping(key: "{key}") }}')
        for client, key in zip(clients, keys, strict=True):
            await post_pong(server, key)
            assert await client.receive() == {
                "id": "1",
                "type": "data",
                "payload": {"data": {"ping": "pong"}},
            }
            for other in clients:
                if other is not client:
                    await other.expect_nothing(0.05)


async def test_several_subscriptions_one_after_another(server: ServerProcess) -> None:
    # "should handle correctly multiple subscriptions one after each other"
    first_key, second_key = new_token(), new_token()
    async with legacy_client(server) as client:
        await init(client)
        await start(client, "1", "{ getValue }")
        assert (await client.receive())["payload"] == {"data": {"getValue": "value"}}
        assert await client.receive() == {"id": "1", "type": "complete"}
        await start(client, "2", f'subscription {{ ping(key: "{first_key}") }}')
        await post_pong(server, first_key)
        assert (await client.receive())["id"] == "2"
        await stop(client, "2")
        assert await client.receive() == {"id": "2", "type": "complete"}
        await start(client, "3", f'subscription {{ ping(key: "{second_key}") }}')
        await post_pong(server, second_key)
        message = await client.receive()
        assert message["id"] == "3" and message["payload"] == {"data": {"ping": "pong"}}
        await client.expect_nothing(QUIET)


async def test_a_start_with_a_running_id_replaces_the_operation(server: ServerProcess) -> None:
    token = new_token()
    async with legacy_client(server, "/events", f"token={token}") as client:
        await init(client)
        await start(client, "1", f'subscription {{ tracked(token: "{token}") }}')
        assert (await client.receive())["payload"] == {"data": {"tracked": "ready"}}
        await start(client, "1", "{ getValue }")
        messages = [await client.receive(), await client.receive()]
        if messages[0] == {"id": "1", "type": "complete"}:  # the old one's end may show
            messages = [messages[1], await client.receive()]
        assert messages == [
            {"id": "1", "type": "data", "payload": {"data": {"getValue": "value"}}},
            {"id": "1", "type": "complete"},
        ]
        await client.expect_nothing(QUIET)
        events = await wait_for_events(server, token, "source_finally")
    assert event_names(events).count("operation") == 2
