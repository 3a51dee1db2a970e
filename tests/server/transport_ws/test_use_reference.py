"""The reference transport suite (npm graphql-ws ``tests/use.test.ts``), over real servers.

The reference runs these once per JavaScript adapter; here they run once per ASGI server.
Each test is named after the reference test it ports and quotes its title.

Not ported:

- "should report server emitted errors to clients by closing the connection", "should limit
  the server emitted error message size", "should report socket emitted errors to clients by
  closing the connection", "should limit the socket emitted error message size": ASGI servers
  have no server or socket ``error`` events an application could turn into a close.
- "should handle and limit internal server errors that are not instances of `Error`": Python
  can only raise exception instances.

Keep-alive: the reference uses WebSocket ping frames; gqlwire sends protocol ``ping``
messages (options ``keep_alive`` / ``pong_timeout``), so these tests watch for those.
"""

from __future__ import annotations

import asyncio
import math
import signal

import pytest

from tests.apps.reference_app import (
    KEEP_ALIVE_INTERVAL,
    LONG_REASON,
    PONG_TIMEOUT,
    REASON_123,
    THROWING_HOOKS,
)
from tests.harness.servers import start_server
from tests.harness.wsclient import ws_client

from .conftest import (
    QUIET,
    REFERENCE_APP,
    WAIT,
    RefServer,
    assert_close,
    check_log,
    init,
    subscribe,
)


async def test_should_omit_the_subprotocol_from_the_response_if_theres_no_valid_one_offered_by_the_client(  # noqa: E501
    ref: RefServer,
) -> None:
    """should omit the subprotocol from the response if there's no valid one offered by the
    client

    The reference's ``ws`` client refuses such a handshake itself; a client that goes on gets
    4406 from gqlwire, as from graphql-ws's core."""
    offers: tuple[tuple[str, ...], ...] = (
        ("notme", "notmeither"),
        ("notme",),
        ("graphql", "json"),
        ("graphql-transport-wsgibberish",),
    )
    for offered in offers:
        async with ref.connect(subprotocols=offered) as client:
            assert client.subprotocol is None, offered
            status = await client.wait_closed(WAIT)
            assert_close(ref.name, status, 4406, "Subprotocol not acceptable")

    offers = (("graphql-transport-ws",), ("this", "graphql-transport-ws", "one"))
    for offered in offers:
        async with ref.connect(subprotocols=offered) as client:
            assert client.subprotocol == "graphql-transport-ws"
            await client.expect_nothing(QUIET)  # should not be kicked off


# What each server does to open sockets when it is stopped with SIGTERM. The app asks for 1001
# "Going away" (gqlwire closes its connections when it receives lifespan.shutdown), but only a
# server that sends lifespan.shutdown while its connections are still open lets it do so.
SHUTDOWN_CLOSE: dict[str, set[tuple[int, str]]] = {
    # aiohttp runs the Application's on_shutdown (which closes every socket) before it closes
    # connections itself.
    "aiohttp": {(1001, "Going away")},
    # uvicorn closes websockets itself with 1012 "Service Restart" (no reason) before the
    # lifespan shutdown (Kludex/uvicorn#1816), so the app never gets to close them.
    "uvicorn": {(1012, "")},
    "uvicorn-wsproto": {(1012, "")},
    # This app has no close_all(), so nothing closes its sockets before hypercorn's stop; the
    # connections still open after the graceful timeout (3 s) are cancelled (the app's
    # connection ends with 1011): by hypercorn on 3.11, by the runner from 3.12 on, where
    # hypercorn would wait for them forever. lifespan.shutdown comes only after that.
    "hypercorn": {(1011, "")},
    # daphne has no lifespan protocol and drops the TCP connections without a close frame.
    "daphne": {(1006, "")},
    # granian drops the TCP connections (1006), at once or when its worker is killed after
    # the runner's kill timeout (10 s); lifespan.shutdown races with that, so the app's own
    # 1001 may get out first (no graceful websocket shutdown: emmett-framework/granian#796).
    "granian": {(1006, ""), (1001, "Going away")},
}
SHUTDOWN_WAIT = 15.0  # longer than granian's kill timeout


async def test_should_gracefully_go_away_when_disposing(server_name: str) -> None:
    """should gracefully go away when disposing

    Adapted: "disposing" is stopping the server process with SIGTERM. Each open socket gets
    what ``SHUTDOWN_CLOSE`` lists for the server (the reference: 1001 "Going away"), and the
    server exits cleanly."""
    proc = start_server(REFERENCE_APP, server_name)
    try:
        async with (
            ws_client(proc.ws_url("/graphql")) as client1,
            ws_client(proc.ws_url("/graphql")) as client2,
        ):
            await init(client1)
            await init(client2)
            proc.send_signal(signal.SIGTERM)
            statuses = await asyncio.gather(
                client1.wait_closed(SHUTDOWN_WAIT), client2.wait_closed(SHUTDOWN_WAIT)
            )
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        proc.stop()
    for status in statuses:
        assert status in SHUTDOWN_CLOSE[server_name], proc.log()
    check_log(proc)


async def test_should_add_the_initial_request_and_websocket_in_the_context_extra(
    ref: RefServer, token: str
) -> None:
    """should add the initial request and websocket in the context extra

    gqlwire's ``ctx.extra`` holds the ASGI scope of the handshake (``{"scope": scope}``)."""
    async with ref.connect("/connect-false", token, query="te=st") as client:
        await client.send({"type": "connection_init"})
        connected = await ref.wait_for(token, "on_connect")
        assert_close(ref.name, await client.wait_closed(WAIT), 4403, "Forbidden")
    assert connected["scope_type"] == "websocket"
    assert connected["path"] == "/connect-false"
    assert connected["query_string"] == f"token={token}&te=st"
    assert connected["has_headers"] is True


@pytest.mark.parametrize("hook", THROWING_HOOKS)
async def test_should_close_the_socket_with_errors_thrown_from_any_callback(
    ref: RefServer, hook: str
) -> None:
    """should close the socket with errors thrown from any callback"""
    ref.expect_log("RuntimeError: Stop")
    async with ref.connect(f"/throwing-{hook}") as client:
        if hook == "on_connect":
            await client.send({"type": "connection_init"})
        else:
            await init(client)
            query = {
                "subscribe": "subscription { greetings }",
                "on_error": "query { noExisto }",
            }.get(hook, "query { getValue }")
            await subscribe(client, "1", query)
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4500, "Stop")


async def test_should_close_the_socket_on_request_if_schema_is_left_undefined(
    ref: RefServer,
) -> None:
    """should close the socket on request if schema is left undefined"""
    async with ref.connect("/no-schema") as client:
        await init(client)
        await subscribe(
            client,
            "1",
            "query TestString {\n  getValue\n}",
            operationName="TestString",
            variables={},
        )
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4500, "The GraphQL schema is not provided")


async def test_should_close_the_socket_on_empty_arrays_returned_from_on_subscribe(
    ref: RefServer, token: str
) -> None:
    """should close the socket on empty arrays returned from `onSubscribe`"""
    async with ref.connect("/empty-array-onsubscribe") as client:
        await init(client)
        await subscribe(client, "1", f'subscription {{ ping(key: "{token}") }}')
        status = await client.wait_closed(WAIT)
    assert_close(
        ref.name,
        status,
        4500,
        "Invalid return value from onSubscribe hook, expected an array of GraphQLError objects",
    )


async def test_should_close_socket_with_error_thrown_from_the_callback(ref: RefServer) -> None:
    """should close socket with error thrown from the callback"""
    ref.expect_log("RuntimeError: I'm a teapot")
    async with ref.connect("/teapot") as client:
        await client.send({"type": "connection_init"})
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4500, "I'm a teapot")


async def test_should_limit_the_internal_server_error_message_size(ref: RefServer) -> None:
    """should limit the internal server error message size"""
    ref.expect_log("RuntimeError: i am exactly 124 characters long")
    async with ref.connect("/long-reason") as client:
        await client.send({"type": "connection_init"})
        status = await client.wait_closed(WAIT)
    assert len(LONG_REASON.encode()) == 124
    assert_close(ref.name, status, 4500, "Internal server error")


async def test_a_123_byte_error_message_is_still_sent_as_the_reason(ref: RefServer) -> None:
    """Addition (the boundary of the test above): a close reason may hold 123 bytes."""
    ref.expect_log("RuntimeError: i am exactly 124 characters long")
    async with ref.connect("/reason-123") as client:
        await client.send({"type": "connection_init"})
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4500, REASON_123)


# -- Keep-Alive ------------------------------------------------------------------------------


async def test_keep_alive_should_dispatch_pings_after_the_timeout_has_passed(
    ref: RefServer,
) -> None:
    """Keep-Alive: should dispatch pings after the timeout has passed"""
    async with ref.connect("/keepalive-200ms") as client:
        await init(client)
        assert await client.receive(WAIT) == {"type": "ping"}


async def test_keep_alive_should_not_dispatch_pings_if_disabled_with_nullish_timeout(
    ref: RefServer,
) -> None:
    """Keep-Alive: should not dispatch pings if disabled with nullish timeout"""
    async with ref.connect("/no-keepalive") as client:
        await init(client)
        # three keep-alive intervals of the configuration above, which pings in each
        await client.expect_nothing(3 * KEEP_ALIVE_INTERVAL)


async def test_keep_alive_should_terminate_the_socket_if_no_pong_is_sent_in_response_to_a_ping(
    ref: RefServer,
) -> None:
    """Keep-Alive: should terminate the socket if no pong is sent in response to a ping

    Adapted: the reference terminates the TCP connection (1006) when a WebSocket ping frame
    goes unanswered; gqlwire closes with 1001 "Keep-alive timeout" when its protocol ``ping``
    gets no ``pong`` within ``pong_timeout`` (this raw client never answers one)."""
    async with ref.connect("/keepalive-200ms") as client:
        await init(client)
        assert await client.receive(WAIT) == {"type": "ping"}  # ping is received
        status = await client.wait_closed(WAIT + PONG_TIMEOUT)
    assert_close(ref.name, status, 1001, "Keep-alive timeout")


async def test_keep_alive_an_answered_ping_keeps_the_socket_open(ref: RefServer) -> None:
    """Addition (the counterpart of the test above): answering every ``ping`` with a ``pong``
    keeps the connection open for longer than the pong timeout."""
    async with ref.connect("/keepalive-200ms") as client:
        await init(client)
        for _ in range(math.ceil(2 * PONG_TIMEOUT / KEEP_ALIVE_INTERVAL)):
            assert await client.receive(WAIT) == {"type": "ping"}
            await client.send({"type": "pong"})
        assert not client.closed()


# -- additions: debug and masking --------------------------------------------------------------


async def test_syntax_errors_close_with_the_syntax_message(ref: RefServer) -> None:
    """Addition: a syntax error closes 4500 with the syntax message (the reference behaviour,
    docs/design.md, "One operation")."""
    async with ref.connect() as client:
        await init(client)
        await subscribe(client, "1", "{")
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4500, "Syntax Error: Expected Name, found <EOF>.")


async def test_debug_off_masks_exceptions_from_user_code(ref: RefServer) -> None:
    """Addition: with ``debug=False`` an exception raised by a hook closes 4500 with
    "Internal server error", never with its message."""
    ref.expect_log("RuntimeError: A secret the client must not see")
    async with ref.connect("/debug-off") as client:
        await init(client)
        await subscribe(client, "1", "query Raise { getValue }", operationName="Raise")
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4500, "Internal server error")


async def test_debug_off_still_shows_syntax_errors(ref: RefServer) -> None:
    """Addition: GraphQL errors are never masked, so a syntax error keeps its message with
    ``debug=False``."""
    async with ref.connect("/debug-off") as client:
        await init(client)
        await subscribe(client, "1", "{")
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4500, "Syntax Error: Expected Name, found <EOF>.")
