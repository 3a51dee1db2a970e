"""gqlwire.Client against gqlwire's own server, on aiohttp and on uvicorn, both subprotocols.

What the client does is checked where a user would see it (results, exceptions), and
what it caused on the server through the app's recorded events and connection counts
(:mod:`tests.apps.client_app`): that ``complete``/``stop`` arrived, that the source's
``finally`` ran, that no operation and no connection is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from gqlwire.client import (
    ClientClosed,
    ConnectionAckTimeout,
    ConnectionClosed,
    ConnectionRejected,
    GraphQLErrors,
)
from tests.apps.fixture_schema import GREETINGS
from tests.harness.control import event_names, fetch_events, wait_for_events
from tests.harness.protocols import TRANSPORT_WS
from tests.harness.servers import LogWatch, ServerProcess

from .support import (
    WAIT,
    client_close_codes,
    client_for,
    close_connections,
    publish_until_delivered,
    wait_until_idle,
)


def events_named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [event for event in events if event["event"] == name]


async def collect(results: Any) -> list[dict[str, Any]]:
    return [result async for result in results]


# -- queries, subscriptions, connection params ---------------------------------------------


async def test_a_query_with_variables_an_operation_name_params_and_headers(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    query = "query Hi($name: String) { hello(name: $name) } query Other { hello }"
    client = client_for(
        app_server, token, protocol, connection_params={"user": "ada"}, headers={"X-Test": "yes"}
    )
    async with client:
        result = await client.execute(query, {"name": "Ada"}, "Hi")
    assert result == {"data": {"hello": "Hello, Ada!"}}

    events = await wait_for_events(app_server, token, "connect", "subscribe", "close")
    connect = events_named(events, "connect")
    assert connect == [
        {"event": "connect", "params": {"user": "ada"}, "protocol": protocol, "x_test": "yes"}
    ]
    (subscribe,) = events_named(events, "subscribe")
    assert subscribe["id"] == "1"
    assert subscribe["payload"]["query"] == query
    assert subscribe["payload"]["variables"] == {"name": "Ada"}
    assert subscribe["payload"]["operationName"] == "Hi"
    assert events_named(events, "close")[0]["code"] == 1000
    await wait_until_idle(app_server)


async def test_a_subscription_with_variables_yields_every_result_then_ends(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol) as client:
        results = await collect(
            client.subscribe("subscription Count($to: Int!) { count(to: $to) }", {"to": 4})
        )
        greetings = await collect(client.subscribe("subscription { greetings }"))
    assert results == [{"data": {"count": n}} for n in (1, 2, 3, 4)]
    assert greetings == [{"data": {"greetings": hi}} for hi in GREETINGS]
    events = await wait_for_events(app_server, token, "close")
    # Ended by the server: the client sent no `complete` of its own.
    assert [e["id"] for e in events_named(events, "complete")] == ["1", "2"]
    await wait_until_idle(app_server)


async def test_connection_params_from_a_function_are_made_for_every_connection(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    calls = 0

    async def params() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return {"attempt": calls}

    async with client_for(app_server, token, protocol, connection_params=params) as client:
        await client.execute("{ hello }")
        await wait_for_events(app_server, token, "close")  # lazy: closed after the operation
        await client.execute("{ hello }")
    events = await wait_for_events(app_server, token, "connect", "connect")
    assert [e["params"] for e in events_named(events, "connect")] == [
        {"attempt": 1},
        {"attempt": 2},
    ]


async def test_no_connection_params_send_no_payload(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol) as client:
        await client.execute("{ hello }")
    events = await wait_for_events(app_server, token, "connect")
    assert events_named(events, "connect")[0]["params"] is None


# -- errors, each kind ---------------------------------------------------------------------


async def test_a_result_with_errors_is_returned_not_raised(
    app_server: ServerProcess, protocol: str, token: str, log_watch: LogWatch
) -> None:
    # The server logs each resolver's exception (a line and a traceback).
    log_watch.allow(r"RuntimeError: Query Kaboom!$")
    log_watch.allow(r"ValueError: 2 is even$")
    async with client_for(app_server, token, protocol) as client:
        result = await client.execute("{ throwing }")
        streamed = await collect(client.subscribe("subscription { flaky(to: 3) }"))
    assert result["data"] == {"throwing": None}
    assert [error["message"] for error in result["errors"]] == ["Query Kaboom!"]
    assert [r["data"] for r in streamed] == [{"flaky": 1}, {"flaky": None}, {"flaky": 3}]
    assert "errors" not in streamed[0]
    assert streamed[1]["errors"][0]["message"] == "2 is even"


async def test_an_error_message_mid_stream_raises_graphql_errors(
    app_server: ServerProcess, protocol: str, token: str, log_watch: LogWatch
) -> None:
    log_watch.allow(r"RuntimeError: Boom!$")  # the source's exception, logged by the server
    received: list[dict[str, Any]] = []
    async with client_for(app_server, token, protocol) as client:
        with pytest.raises(GraphQLErrors) as raised:
            async for result in client.subscribe("subscription { boom }"):
                received.append(result)
    assert received == [{"data": {"boom": 1}}]
    assert raised.value.errors == [{"message": "Boom!"}]
    assert str(raised.value) == "Boom!"


async def test_validation_errors(app_server: ServerProcess, protocol: str, token: str) -> None:
    async with client_for(app_server, token, protocol) as client:
        if protocol == TRANSPORT_WS:
            # graphql-transport-ws: an `error` message, which raises
            with pytest.raises(GraphQLErrors) as raised:
                await client.execute("{ nope }")
            errors = raised.value.errors
        else:
            # legacy: the reference server sends validation errors as `data`
            errors = (await client.execute("{ nope }"))["errors"]
        # The connection is still usable afterwards.
        assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
    assert errors[0]["message"] == "Cannot query field 'nope' on type 'Query'."


async def test_a_syntax_error(app_server: ServerProcess, protocol: str, token: str) -> None:
    async with client_for(app_server, token, protocol) as client:
        if protocol == TRANSPORT_WS:
            # the server closes 4500 with the message: fatal, never retried
            with pytest.raises(ConnectionClosed) as closed:
                await client.execute("{")
            assert closed.value.code == 4500
            assert closed.value.reason.startswith("Syntax Error")
        else:
            with pytest.raises(GraphQLErrors) as raised:
                await client.execute("{")
            assert raised.value.errors[0]["message"].startswith("Syntax Error")
    events = await wait_for_events(app_server, token, "close")
    assert event_names(events).count("connect") == 1


async def test_a_refused_connection_without_retries(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    client = client_for(
        app_server, token, protocol, connection_params={"reject": True}, retry_attempts=0
    )
    async with client:
        if protocol == TRANSPORT_WS:
            with pytest.raises(ConnectionClosed) as closed:
                await client.execute("{ hello }")
            assert (closed.value.code, closed.value.reason) == (4403, "Forbidden")
        else:
            with pytest.raises(ConnectionRejected) as rejected:
                await client.execute("{ hello }")
            assert rejected.value.payload == {"message": "Prohibited connection!"}


async def test_4403_is_retried_as_the_reference_client_does(
    app_server: ServerProcess, token: str
) -> None:
    async with client_for(
        app_server, token, TRANSPORT_WS, connection_params={"reject": True}, retry_attempts=2
    ) as client:
        with pytest.raises(ConnectionClosed) as closed:
            await client.execute("{ hello }")
    assert closed.value.code == 4403
    events = await fetch_events(app_server, token)
    assert event_names(events).count("connect") == 3  # the first try and two retries


async def test_an_exception_in_on_connect_is_fatal(
    app_server: ServerProcess, protocol: str, token: str, log_watch: LogWatch
) -> None:
    log_watch.allow("on_connect exploded")
    async with client_for(
        app_server, token, protocol, connection_params={"explode": True}, retry_attempts=5
    ) as client:
        if protocol == TRANSPORT_WS:
            with pytest.raises(ConnectionClosed) as closed:
                await client.execute("{ hello }")
            assert (closed.value.code, closed.value.reason) == (4500, "on_connect exploded")
        else:
            with pytest.raises(ConnectionRejected) as rejected:
                await client.execute("{ hello }")
            assert rejected.value.payload == {"message": "on_connect exploded"}
    events = await wait_for_events(app_server, token, "close")
    assert event_names(events).count("connect") == 1


async def test_no_acknowledgement_within_the_timeout(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(
        app_server, token, protocol, "/noack", connection_ack_timeout=0.3, retry_attempts=1
    ) as client:
        with pytest.raises(ConnectionAckTimeout) as timed_out:
            await client.execute("{ hello }")
    assert timed_out.value.code == 4504
    events = await wait_for_events(app_server, token, "close", "close")
    # retried once (4504 is not fatal), then reported
    assert event_names(events).count("connect") == 2
    assert {e["code"] for e in events_named(events, "close")} == {4504}


# -- the client ends operations ---------------------------------------------------------


async def _first_channel_value(app_server: ServerProcess, token: str, results: Any) -> str:
    # The subscription starts when iteration does; publish once the server has it.
    first = asyncio.ensure_future(anext(results))
    try:
        await publish_until_delivered(app_server, token, "first")
        async with asyncio.timeout(WAIT):
            result = await first
    finally:
        first.cancel()
    value: str = result["data"]["channel"]
    return value


async def _assert_ended_on_server(
    app_server: ServerProcess, token: str, protocol: str, id: str
) -> None:
    events = await wait_for_events(app_server, token, "source_finally", "complete", "close")
    assert [e["id"] for e in events_named(events, "source_finally")] == [id]
    assert [e["id"] for e in events_named(events, "complete")] == [id]
    assert events_named(events, "close")[0]["code"] in client_close_codes(protocol)
    await wait_until_idle(app_server)


async def test_aclose_completes_the_subscription_on_the_server(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol) as client:
        async with contextlib.aclosing(client.subscribe("subscription { channel }")) as results:
            assert await _first_channel_value(app_server, token, results) == "first"
        # the lazy socket closes once its last operation ended, still inside `async with`
        await _assert_ended_on_server(app_server, token, protocol, "1")


async def test_break_completes_the_subscription_on_the_server(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol) as client:
        first = asyncio.ensure_future(publish_until_delivered(app_server, token, "first"))
        async for result in client.subscribe("subscription { channel }"):
            assert result == {"data": {"channel": "first"}}
            break
        await first
        # The generator is finalized as soon as the loop drops it (asyncio's async
        # generator hooks run its `aclose()`).
        await _assert_ended_on_server(app_server, token, protocol, "1")


async def test_cancelling_the_consuming_task_completes_the_subscription(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    received: list[dict[str, Any]] = []
    async with client_for(app_server, token, protocol) as client:

        async def consume() -> None:
            async for result in client.subscribe("subscription { channel }"):
                received.append(result)

        consumer = asyncio.create_task(consume())
        await publish_until_delivered(app_server, token, "first")
        await wait_for_events(app_server, token, "source_start")
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await _assert_ended_on_server(app_server, token, protocol, "1")


async def test_leaving_async_with_ends_active_subscriptions(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    client = client_for(app_server, token, protocol)
    received: list[dict[str, Any]] = []
    first_received = asyncio.Event()

    async def consume() -> None:
        async for result in client.subscribe("subscription { channel }"):
            received.append(result)
            first_received.set()

    async with client:
        consumer = asyncio.create_task(consume())
        # Published is not yet received: leave only once the result is in hand.
        await publish_until_delivered(app_server, token, "first")
        async with asyncio.timeout(WAIT):
            await first_received.wait()
    # The iterator simply stops when the client closes (as the reference client's do).
    async with asyncio.timeout(WAIT):
        await consumer
    assert received == [{"data": {"channel": "first"}}]
    events = await wait_for_events(app_server, token, "source_finally", "close")
    assert events_named(events, "close")[0]["code"] == 1000
    await wait_until_idle(app_server)
    with pytest.raises(ClientClosed):
        await client.execute("{ hello }")


async def test_cancelling_execute_cancels_the_operation_on_the_server(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol, lazy=False) as client:
        query = asyncio.create_task(client.execute("{ slow(ms: 30000) }"))
        await wait_for_events(app_server, token, "subscribe")
        query.cancel()
        with pytest.raises(asyncio.CancelledError):
            await query
        events = await wait_for_events(app_server, token, "complete")
        assert [e["id"] for e in events_named(events, "complete")] == ["1"]
        # the socket stays (lazy=False) and works
        assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
    await wait_until_idle(app_server)


async def test_execute_waiting_when_the_client_closes_raises_client_closed(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    client = client_for(app_server, token, protocol)
    async with client:
        query = asyncio.create_task(client.execute("{ slow(ms: 30000) }"))
        await wait_for_events(app_server, token, "subscribe")
    with pytest.raises(ClientClosed):
        await query
    await wait_until_idle(app_server)


# -- one socket, lazy and not ---------------------------------------------------------------


async def test_ten_concurrent_operations_share_one_socket(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol, lazy=False) as client:
        subscriptions = [
            collect(client.subscribe("subscription($to: Int!) { count(to: $to) }", {"to": n}))
            for n in range(1, 6)
        ]
        queries = [
            client.execute("query($n: String) { hello(name: $n) }", {"n": str(n)}) for n in range(5)
        ]
        results = await asyncio.gather(*subscriptions, *queries)
    for n, streamed in enumerate(results[:5], start=1):
        assert streamed == [{"data": {"count": k}} for k in range(1, n + 1)]
    for n, result in enumerate(results[5:]):
        assert result == {"data": {"hello": f"Hello, {n}!"}}
    events = await wait_for_events(app_server, token, "close")
    assert event_names(events).count("connect") == 1
    assert sorted(int(e["id"]) for e in events_named(events, "subscribe")) == list(range(1, 11))


async def test_a_lazy_client_closes_after_its_last_operation(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol) as client:
        await client.execute("{ hello }")
        events = await wait_for_events(app_server, token, "close")
        assert events_named(events, "close")[0]["code"] == 1000
        await client.execute("{ hello }")
        events = await wait_for_events(app_server, token, "close", "close")
    assert event_names(events).count("connect") == 2


async def test_lazy_close_timeout_keeps_the_socket_for_the_next_operation(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol, lazy_close_timeout=30) as client:
        await client.execute("{ hello }")
        await client.execute("{ hello }")
        assert event_names(await fetch_events(app_server, token)).count("close") == 0
    events = await wait_for_events(app_server, token, "close")
    assert event_names(events).count("connect") == 1


async def test_a_non_lazy_client_connects_on_enter(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    async with client_for(app_server, token, protocol, lazy=False) as client:
        events = await wait_for_events(app_server, token, "connect")
        assert event_names(events) == ["connect"]
        if protocol == TRANSPORT_WS:
            assert client.ack_payload == {"welcome": token}
    await wait_for_events(app_server, token, "close")


# -- reconnection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "retry_attempts"),
    [(1001, 3), (1012, 3), (1000, 0)],
    ids=["1001", "1012", "1000-while-active"],
)
async def test_a_server_close_reconnects_and_resubscribes(
    app_server: ServerProcess, protocol: str, token: str, code: int, retry_attempts: int
) -> None:
    # 1000 while an operation is active reconnects at once, even with retries off.
    client = client_for(app_server, token, protocol, retry_attempts=retry_attempts)
    async with client, contextlib.aclosing(client.subscribe("subscription { channel }")) as results:
        assert await _first_channel_value(app_server, token, results) == "first"
        assert await close_connections(app_server, token, code, "bye") == 1
        await wait_for_events(app_server, token, "connect", "connect")
        await publish_until_delivered(app_server, token, "second")
        async with asyncio.timeout(WAIT):
            assert await anext(results) == {"data": {"channel": "second"}}
    events = await wait_for_events(app_server, token, "close", "close")
    subscribes = events_named(events, "subscribe")
    assert [e["id"] for e in subscribes] == ["1", "1"]  # the same operation, again
    assert subscribes[0]["payload"] == subscribes[1]["payload"]
    first_close, last_close = (e["code"] for e in events_named(events, "close"))
    assert first_close == code
    assert last_close in client_close_codes(protocol)
    await wait_until_idle(app_server)


@pytest.mark.parametrize(("code", "retry_attempts"), [(4400, 5), (1011, 5), (1001, 0)], ids=str)
async def test_a_close_that_is_not_retried_raises_connection_closed(
    app_server: ServerProcess, protocol: str, token: str, code: int, retry_attempts: int
) -> None:
    client = client_for(app_server, token, protocol, retry_attempts=retry_attempts)
    async with client, contextlib.aclosing(client.subscribe("subscription { channel }")) as results:
        await _first_channel_value(app_server, token, results)
        await close_connections(app_server, token, code, "go away")
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT):
                await anext(results)
    assert (closed.value.code, closed.value.reason) == (code, "go away")
    events = await fetch_events(app_server, token)
    assert event_names(events).count("connect") == 1
    await wait_until_idle(app_server)


# -- keep-alive -------------------------------------------------------------------------------


async def test_server_keep_alive_is_answered(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    # /keepalive pings (graphql-transport-ws) or sends `ka` (legacy) every 0.2 s and
    # closes 1001 if a ping stays unanswered for 0.6 s; the stream outlives several.
    async with client_for(app_server, token, protocol, "/keepalive", retry_attempts=0) as client:
        results = await collect(client.subscribe("subscription { count(to: 8, delayMs: 200) }"))
    assert results == [{"data": {"count": n}} for n in range(1, 9)]
    events = await wait_for_events(app_server, token, "close")
    assert event_names(events).count("connect") == 1
    assert events_named(events, "close")[0]["code"] == 1000


async def test_client_keep_alive_pings_are_answered_by_the_server(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    # keep_alive applies to graphql-transport-ws; the legacy protocol has no client ping
    async with client_for(app_server, token, protocol, keep_alive=0.05, retry_attempts=0) as client:
        results = await collect(client.subscribe("subscription { count(to: 6, delayMs: 100) }"))
    assert results == [{"data": {"count": n}} for n in range(1, 7)]
    events = await wait_for_events(app_server, token, "close")
    assert event_names(events).count("connect") == 1
