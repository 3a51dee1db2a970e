"""Regression tests for the failures of docs/design.md ("Why it exists").

Each section holds the tests that would have caught one failure:

1. Ariadne with ``connection_init_wait_timeout=0``: the timer fired before ``accept()``
   and the handler then sent after its close.
2. A TCP connection dropped without a close frame (a page reload) during a
   subscription: granian < 2.3.1 raised "ASGI flow error" from ``receive()`` instead of
   reporting a disconnect, and the operations and hooks were never cleaned up.
3. The server quirks behind those, which only a scripted server shows on demand
   (``fake_asgi``): ``websocket.connect`` returned again before accept (granian < 2.3.2),
   ``receive()`` raising any exception type, ``send()`` raising or silently succeeding
   after the client left, ``receive()`` blocking forever after a disconnect.
4. Malformed frames: exactly one close with the right code, nothing after it, and no
   traceback in the server's log.

The aiohttp failure is tested in ``test_aiohttp_adapter.py``, the client one with the client.
Real-server tests use :mod:`tests.apps.adapter_app` on every server name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.apps.fixture_schema import pending_pongs, pong
from tests.harness.closes import assert_close
from tests.harness.control import (
    event_names,
    new_token,
    post_pong,
    wait_for_events,
    wait_until_idle,
)
from tests.harness.fake_asgi import FakeWebSocket, HookRecorder, websocket_scope
from tests.harness.protocols import PROTOCOLS, RESULT, TRANSPORT_WS
from tests.harness.servers import LogWatch, ServerProcess
from tests.harness.wsclient import WSClient, ws_client

from .support import (
    assert_final_hooks,
    assert_source_closed,
    expect_result,
    make_app,
    run_query,
    start,
    start_ping,
    start_tracked,
)

ADAPTER_APP = "tests.apps.adapter_app:app"
ADAPTER_SERVER = "tests.apps.adapter_app:graphql_server"
INIT_TIMEOUT_REASON = "Connection initialisation timeout"


@pytest.fixture(scope="module")
def server(server_pool: Any, server_name: str) -> ServerProcess:
    proc: ServerProcess = server_pool.get(ADAPTER_APP, server_name)
    return proc


@pytest.fixture
def log_watch(server: ServerProcess) -> Iterator[LogWatch]:
    """The test must leave no traceback and no error line in the server's log."""
    watch = LogWatch(server)
    yield watch
    watch.assert_clean()


def client_for(
    server: ServerProcess, protocol: str, path: str = "/graphql", token: str = ""
) -> contextlib.AbstractAsyncContextManager[WSClient]:
    return ws_client(server.ws_url(path, f"token={token}" if token else ""), [protocol])


async def acknowledge(client: WSClient) -> None:
    await client.send({"type": "connection_init"})
    assert await client.receive() == {"type": "connection_ack"}


async def receive_skipping_ka(client: WSClient) -> dict[str, Any]:
    """The next message that is not a legacy keep-alive (``/graphql`` keeps the default)."""
    while (message := await client.receive())["type"] == "ka":
        pass
    return message


async def assert_nothing_was_left_to_read(client: WSClient) -> None:
    """After the close: no frame arrived before it that the test did not read."""
    with pytest.raises(AssertionError, match="connection closed"):
        await client.receive(0.1)


async def next_message_or_close(client: WSClient) -> dict[str, Any] | tuple[int, str]:
    """The next message, or the close status if the connection closed instead."""
    try:
        return await client.receive()
    except AssertionError:
        if not client.closed():
            raise
        return client.close_status()


# == 1. connection_init_wait_timeout=0 ======================================================


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_init_timeout_0_accepts_then_closes_4408(
    server: ServerProcess, server_name: str, protocol: str, log_watch: LogWatch
) -> None:
    token = new_token()
    async with client_for(server, protocol, "/timeout0", token) as client:
        assert client.subprotocol == protocol  # the handshake completed: accepted first
        closed = await client.wait_closed()
        assert_close(client, closed, 4408, INIT_TIMEOUT_REASON, server_name)
        await assert_nothing_was_left_to_read(client)
    assert event_names(await wait_for_events(server, token, "close")) == ["close"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_init_timeout_0_with_the_init_sent_at_once(
    server: ServerProcess, server_name: str, protocol: str, log_watch: LogWatch
) -> None:
    # The init may win the race (then the connection works) or lose it (4408); never
    # anything else, and never an exception.
    token = new_token()
    async with client_for(server, protocol, "/timeout0", token) as client:
        with contextlib.suppress(ConnectionClosed):  # it may be closed already
            await client.send({"type": "connection_init"})
        outcome = await next_message_or_close(client)
        if isinstance(outcome, tuple):
            assert_close(client, outcome, 4408, INIT_TIMEOUT_REASON, server_name)
        else:
            assert outcome == {"type": "connection_ack"}
            await client.send(start(protocol, "q", "{ getValue }"))
            assert (await receive_skipping_ka(client))["type"] == RESULT[protocol]
    await wait_for_events(server, token, "close")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_init_timeout_0_from_the_command_line(
    server_pool: Any, server_name: str, protocol: str
) -> None:
    proc: ServerProcess = server_pool.get(ADAPTER_SERVER, server_name, ("--init-timeout", "0"))
    watch = LogWatch(proc)
    async with ws_client(proc.ws_url(), [protocol]) as client:
        assert client.subprotocol == protocol
        closed = await client.wait_closed()
        assert_close(client, closed, 4408, INIT_TIMEOUT_REASON, server_name)
        await assert_nothing_was_left_to_read(client)
    watch.assert_clean()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("close_waits", [False, True], ids=["", "close-waits-for-receive"])
async def test_init_timeout_0_under_a_scripted_server(protocol: str, close_waits: bool) -> None:
    recorder = HookRecorder()
    app = make_app(recorder, connection_init_wait_timeout=0)
    scope = websocket_scope(subprotocols=[protocol])
    async with FakeWebSocket(app, scope, close_waits_for_receive=close_waits) as ws:
        await ws.expect_accept()
        assert await ws.expect_close() == (4408, INIT_TIMEOUT_REASON)
    ws.assert_rules()
    assert recorder.names() == ["on_close"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_init_timeout_0_with_the_init_already_queued(protocol: str) -> None:
    recorder = HookRecorder()
    app = make_app(recorder, connection_init_wait_timeout=0)
    scope = websocket_scope(subprotocols=[protocol])
    async with FakeWebSocket(app, scope) as ws:
        ws.push_text({"type": "connection_init"})  # there before the accept
        await ws.expect_accept()
        outcome = await ws.next_message()
        if outcome["type"] == "websocket.close":
            assert outcome["code"] == 4408
        else:
            assert outcome == {"type": "websocket.send", "text": '{"type":"connection_ack"}'}
            await run_query(ws, protocol)
            ws.leave()
    ws.assert_rules()
    assert recorder.count("on_close") == 1


# == 2. the TCP connection dropped during a subscription ===================================


async def open_subscriptions(
    server: ServerProcess, client: WSClient, protocol: str, token: str
) -> None:
    """Acknowledge, then run ``tracked`` and ``ping`` (seen delivering) on ``client``."""
    key = new_token()
    await acknowledge(client)
    await client.send(start(protocol, "t", f'subscription {{ tracked(token: "{token}") }}'))
    assert (await receive_skipping_ka(client))["payload"] == {"data": {"tracked": "ready"}}
    await client.send(start(protocol, "p", f'subscription {{ ping(key: "{key}") }}'))
    await post_pong(server, key)
    assert (await receive_skipping_ka(client))["payload"] == {"data": {"ping": "pong"}}


def assert_cleaned_up_once(events: list[dict[str, Any]]) -> None:
    names = event_names(events)
    assert names.count("source_finally") == 1, names
    assert sorted(e["id"] for e in events if e["event"] == "complete") == ["p", "t"], names
    assert names.count("disconnect") == 1, names
    assert names.count("close") == 1, names
    assert names[-2:] == ["disconnect", "close"], names


CLEANUP = ("source_finally", "complete", "complete", "disconnect", "close")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_dropped_tcp_connection_ends_every_operation_once(
    server: ServerProcess, protocol: str, log_watch: LogWatch
) -> None:
    token = new_token()
    async with client_for(server, protocol, "/graphql", token) as client:
        await open_subscriptions(server, client, protocol, token)
        client.abort()  # no close frame: a page reload, a lost network
        await client.wait_closed()
    assert_cleaned_up_once(await wait_for_events(server, token, *CLEANUP, within=10.0))
    await wait_until_idle(server, "/graphql")


async def test_many_connections_dropped_at_once_are_all_cleaned_up(
    server: ServerProcess, log_watch: LogWatch
) -> None:
    count = 20
    tokens = [new_token() for _ in range(count)]
    protocols = [PROTOCOLS[index % 2] for index in range(count)]
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(client_for(server, protocol, "/graphql", token))
            for protocol, token in zip(protocols, tokens, strict=True)
        ]
        await asyncio.gather(
            *(
                open_subscriptions(server, client, protocol, token)
                for client, protocol, token in zip(clients, protocols, tokens, strict=True)
            )
        )
        for client in clients:
            client.abort()
        await asyncio.gather(*(client.wait_closed() for client in clients))
    for token in tokens:
        assert_cleaned_up_once(await wait_for_events(server, token, *CLEANUP, within=15.0))
    await wait_until_idle(server, "/graphql")


# == 3. server quirks, under a scripted server ============================================

# -- one connect, whatever the server repeats


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_second_connect_before_accept_is_tolerated(protocol: str) -> None:
    recorder = HookRecorder()
    scope = websocket_scope(subprotocols=[protocol])
    async with FakeWebSocket(make_app(recorder), scope) as ws:
        ws.push({"type": "websocket.connect"})
        await ws.handshake()
        await run_query(ws, protocol)
        ws.leave()
    ws.assert_rules()
    assert len(ws.of_type("websocket.accept")) == 1
    assert_final_hooks(recorder)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_every_receive_before_accept_returning_connect_is_tolerated(protocol: str) -> None:
    # granian < 2.3.2: receive() returned websocket.connect until the accept completed.
    recorder = HookRecorder()
    scope = websocket_scope(subprotocols=[protocol])
    async with FakeWebSocket(make_app(recorder), scope, repeat_connect_until_accept=True) as ws:
        await ws.handshake()
        await run_query(ws, protocol)
        ws.leave()
    ws.assert_rules()
    assert len(ws.of_type("websocket.accept")) == 1
    assert_final_hooks(recorder)


async def test_a_connect_after_accept_is_not_a_message() -> None:
    async with FakeWebSocket(make_app()) as ws:
        await ws.expect_accept()
        ws.push({"type": "websocket.connect"})
        ws.push_text({"type": "connection_init"})
        assert await ws.receive_json() == {"type": "connection_ack"}
        await run_query(ws, TRANSPORT_WS)
        ws.leave()
    ws.assert_rules()


# -- a disconnect in any form ends everything, once


class FlowError(Exception):
    """Neither an OSError nor a RuntimeError, like hypercorn's UnexpectedMessageError."""


RECEIVE_ERRORS = [
    RuntimeError("ASGI flow error"),
    RuntimeError("ASGI flow error: Transport closed"),
    ConnectionResetError("Connection reset by peer"),
    OSError("socket closed"),
    ValueError("bad frame"),
    FlowError("Unexpected message type"),
    KeyError("type"),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("error", RECEIVE_ERRORS, ids=repr)
async def test_a_receive_that_raises_is_a_disconnect(protocol: str, error: Exception) -> None:
    recorder = HookRecorder()
    scope = websocket_scope(subprotocols=[protocol])
    async with FakeWebSocket(make_app(recorder), scope) as ws:
        token = await start_tracked(ws, protocol)
        ws.push(error)
    ws.assert_rules()
    assert_source_closed(token)
    assert recorder.names().count("on_complete") == 1
    assert_final_hooks(recorder)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("after", ["repeat", "block", "raise"])
async def test_a_dropped_connection_ends_a_silent_subscription(protocol: str, after: Any) -> None:
    # The subscription sends nothing: only the receive loop can notice the drop.
    recorder = HookRecorder()
    scope = websocket_scope(subprotocols=[protocol])
    async with FakeWebSocket(make_app(recorder), scope, after_disconnect=after) as ws:
        token = await start_tracked(ws, protocol)
        ws.leave(code=1006)
    ws.assert_rules()
    assert_source_closed(token)
    assert recorder.count("on_complete") == 1
    assert_final_hooks(recorder)


class ClientDisconnected(OSError):
    """Like uvicorn's: the OSError subclass of ASGI spec 2.4."""


class Disconnected(Exception):
    """Like autobahn's (daphne): a plain Exception."""


SEND_ERRORS = [
    ClientDisconnected(),
    RuntimeError("Unexpected ASGI message 'websocket.send', after sending 'websocket.close'."),
    RuntimeError("ASGI flow error: Transport closed"),
    FlowError("Unexpected message type, websocket.send given the state CLOSED"),
    Disconnected("Attempt to send on a closed protocol"),
    ValueError("Socket has not been accepted, so cannot send over it"),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("reported", [False, True], ids=["send-fails-first", "disconnect-too"])
@pytest.mark.parametrize("error", SEND_ERRORS, ids=repr)
async def test_a_send_that_raises_ends_the_connection(
    protocol: str, error: Exception, reported: bool
) -> None:
    recorder = HookRecorder()
    scope = websocket_scope(subprotocols=[protocol])
    async with FakeWebSocket(make_app(recorder), scope) as ws:
        key = await start_ping(ws, protocol)
        ws.send_error = error
        ws.leave(report=reported)
        pong(key)  # the next result's send raises
        await recorder.wait_for("on_close")
    ws.assert_rules()
    assert recorder.count("on_complete") == 1
    assert_final_hooks(recorder)
    # The ping source was closed: a new pong finds no listener.
    pong(key)
    assert pending_pongs(key) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("after", ["repeat", "block"])
async def test_sends_that_silently_succeed_after_the_client_left(protocol: str, after: Any) -> None:
    # hypercorn, daphne, granian: send() after a TCP drop "succeeds"; only the
    # disconnect that receive() reports later tells the app.
    recorder = HookRecorder()
    scope = websocket_scope(subprotocols=[protocol])
    async with FakeWebSocket(make_app(recorder), scope, after_disconnect=after) as ws:
        key = await start_ping(ws, protocol)
        ws.leave(report=False)
        for _ in range(3):
            pong(key)
            await expect_result(ws, protocol, "p")
        assert not ws.returned
        ws.push_disconnect(1006)
    ws.assert_rules()
    assert recorder.count("on_complete") == 1
    assert_final_hooks(recorder)


# == 4. malformed frames ======================================================================

MALFORMED_AFTER_INIT: list[str | bytes] = [
    "{ not json",
    "[]",
    '"a string"',
    "1",
    "null",
    "{}",
    '{"type": 1}',
    '{"type": "unknown"}',
    '{"type": "start", "id": "1", "payload": {"query": "{ getValue }"}}',
    '{"type": "subscribe"}',
    '{"type": "subscribe", "id": "", "payload": {"query": "{ getValue }"}}',
    '{"type": "subscribe", "id": 1, "payload": {"query": "{ getValue }"}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": 1}}',
    '{"type": "subscribe", "id": "1", "payload": null}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ getValue }", "variables": []}}',
    '{"type": "complete"}',
    '{"type": "ping", "payload": []}',
    b"\x00\x01binary garbage",
    b"\xc3\x28 invalid utf-8",
    b"\xff\xfe",
]
MALFORMED_BEFORE_INIT: list[str | bytes] = [
    "{ not json",
    '{"type": "connection_init", "payload": "not an object"}',
    b"\xc3\x28",
]


async def _expect_single_close(
    client: WSClient, code: int, reason: str | None, server_name: str
) -> None:
    closed = await client.wait_closed()
    assert_close(client, closed, code, reason, server_name)
    await assert_nothing_was_left_to_read(client)


@pytest.mark.parametrize("frame", MALFORMED_AFTER_INIT, ids=repr)
async def test_a_malformed_message_closes_4400(
    server: ServerProcess, server_name: str, frame: str | bytes, log_watch: LogWatch
) -> None:
    async with client_for(server, TRANSPORT_WS) as client:
        await acknowledge(client)
        await client.send(frame)
        await _expect_single_close(client, 4400, "Invalid message received", server_name)


@pytest.mark.parametrize("frame", MALFORMED_BEFORE_INIT, ids=repr)
async def test_a_malformed_message_before_init_closes_4400(
    server: ServerProcess, server_name: str, frame: str | bytes, log_watch: LogWatch
) -> None:
    async with client_for(server, TRANSPORT_WS) as client:
        await client.send(frame)
        await _expect_single_close(client, 4400, "Invalid message received", server_name)


OVERSIZED: list[str | bytes] = [
    '{"type": "connection_init", "payload": {"pad": "' + "x" * 2048 + '"}}',
    "é" * 600,  # 600 characters, but 1200 bytes of UTF-8
    b"x" * 2048,
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("frame", OVERSIZED, ids=lambda f: f"{type(f).__name__}-{len(f)}")
async def test_a_frame_over_max_message_size_closes_1009(
    server: ServerProcess, server_name: str, protocol: str, frame: str | bytes, log_watch: LogWatch
) -> None:
    # aiohttp's frame reader refuses the frame itself and closes with 1009, no reason.
    reason = None if server_name == "aiohttp" else "Message too big"
    async with client_for(server, protocol, "/small") as client:
        await client.send(frame)
        await _expect_single_close(client, 1009, reason, server_name)


@pytest.mark.parametrize("frame", MALFORMED_AFTER_INIT, ids=repr)
async def test_a_malformed_message_sends_exactly_one_close_under_a_scripted_server(
    frame: str | bytes,
) -> None:
    recorder = HookRecorder()
    async with FakeWebSocket(make_app(recorder), disconnect_after_close=False) as ws:
        await ws.handshake()
        if isinstance(frame, bytes):
            ws.push_bytes(frame)
        else:
            ws.push_text(frame)
        assert await ws.expect_close() == (4400, "Invalid message received")
        ws.push_text({"type": "ping"})  # the client keeps talking; nobody listens
    ws.assert_rules()
    assert len(ws.of_type("websocket.close")) == 1
    assert ws.sent[-1].message["type"] == "websocket.close"
    assert_final_hooks(recorder)
