"""The client against a scripted server: what no real server does on demand.

Invalid and out-of-order messages, every close code (fatal or retried, before or after
the acknowledgement), withheld pongs, pings with payloads, a refused subprotocol, and
the exact frames the client sends. The server is an aiohttp WebSocket endpoint in the
test's own event loop (:class:`tests.client.support.ScriptedServer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gqlwire.client import (
    BadResponse,
    Client,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionRejected,
    GraphQLErrors,
)
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, RESULT, STOP, SUBSCRIBE, TRANSPORT_WS
from tests.harness.servers import free_port

from .support import WAIT, fast_retry, scripted_server

pytestmark = pytest.mark.timeout(30)


class RecordedWaits:
    """A ``retry_wait`` that records its calls and waits briefly."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, retries: int) -> float:
        self.calls.append(retries)
        return 0.01


async def first_result(client: Client, query: str = "subscription { s }") -> dict[str, Any]:
    async with asyncio.timeout(WAIT), contextlib.aclosing(client.subscribe(query)) as results:
        return await anext(results)


# -- what the client sends -----------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_frames_the_client_sends(protocol: str) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        for _ in range(2):
            start = await server.expect(ws, SUBSCRIBE[protocol])
            await server.send(ws, {"id": start["id"], "type": RESULT[protocol], "payload": {}})
            await server.expect(ws, STOP[protocol])
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(
            server.url, protocol=protocol, connection_params={"token": "t"}, lazy=False
        ) as client:
            assert client.protocol == protocol
            for _ in range(2):
                async with contextlib.aclosing(
                    client.subscribe("subscription($n: Int) { s(n: $n) }", {"n": 1}, "S")
                ) as results:
                    assert await anext(results) == {}
        await server.wait_ended(1)
        assert server.requests[0].headers["Sec-WebSocket-Protocol"] == protocol
        payload = {"query": "subscription($n: Int) { s(n: $n) }", "variables": {"n": 1}}
        payload["operationName"] = "S"
        assert server.received[0] == [
            {"type": "connection_init", "payload": {"token": "t"}},
            {"id": "1", "type": SUBSCRIBE[protocol], "payload": payload},
            {"id": "1", "type": STOP[protocol]},
            {"id": "2", "type": SUBSCRIBE[protocol], "payload": payload},
            {"id": "2", "type": STOP[protocol]},
        ]
        assert server.close_codes == [1000]


async def test_headers_go_with_the_handshake() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, headers={"Authorization": "Bearer x"}, lazy=False):
            pass
        assert server.requests[0].headers["Authorization"] == "Bearer x"


async def test_legacy_operations_wait_for_the_acknowledgement() -> None:
    # gqlwire's choice: `start` only after `connection_ack` (the legacy client does not
    # wait), so a server that refuses the connection never sees an operation.
    async def script(ws: web.WebSocketResponse) -> None:
        await server.expect(ws, "connection_init")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await ws.receive()
        await server.send(ws, {"type": "connection_ack"})
        start = await server.expect(ws, "start")
        await server.send(ws, {"id": start["id"], "type": "data", "payload": {"data": 1}})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, protocol=LEGACY_WS) as client:
            assert await first_result(client) == {"data": 1}


# -- what the client accepts and refuses ----------------------------------------------------


async def test_server_pings_are_answered_with_pongs_echoing_the_payload() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.send(ws, {"type": "ping"})  # before the ack: allowed
        await server.expect(ws, "connection_init")
        assert await server.receive(ws) == {"type": "pong"}
        await server.send(ws, {"type": "connection_ack"})
        subscribe = await server.expect(ws, "subscribe")
        await server.send(ws, {"type": "ping", "payload": {"x": 1}})
        assert await server.receive(ws) == {"type": "pong", "payload": {"x": 1}}
        await server.send(ws, {"type": "pong"})  # unsolicited: ignored
        await server.send(ws, {"id": subscribe["id"], "type": "next", "payload": {"data": 2}})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url) as client:
            assert await first_result(client) == {"data": 2}


async def test_legacy_keep_alive_and_single_error_objects() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        await server.send(ws, {"type": "ka"})
        start = await server.expect(ws, "start")
        # a server that echoes the id as a number still names the operation
        await server.send(ws, {"id": int(start["id"]), "type": "data", "payload": {"data": 1}})
        await server.send(ws, {"type": "ka"})
        await server.send(
            ws, {"id": start["id"], "type": "error", "payload": {"name": "E", "message": "no"}}
        )
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, protocol=LEGACY_WS) as client:
            received = []
            with pytest.raises(GraphQLErrors) as raised:
                async for result in client.subscribe("subscription { s }"):
                    received.append(result)
        assert received == [{"data": 1}]
        assert raised.value.errors == [{"name": "E", "message": "no"}]


async def test_legacy_connection_error_rejects_the_connection() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.expect(ws, "connection_init")
        await server.send(ws, {"type": "connection_error", "payload": {"message": "nope"}})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, protocol=LEGACY_WS, retry_wait=fast_retry) as client:
            with pytest.raises(ConnectionRejected) as rejected:
                await client.execute("{ a }")
        assert rejected.value.payload == {"message": "nope"}
        assert str(rejected.value) == "connection rejected: nope"
        assert server.connections == 1  # not retried


@pytest.mark.parametrize(
    ("protocol", "frame", "detail"),
    [
        (TRANSPORT_WS, "not json", "Message is not valid JSON"),
        (TRANSPORT_WS, {"type": "ka"}, "Invalid message 'type' property \"ka\""),
        (TRANSPORT_WS, {"id": "1", "type": "next"}, "'payload' property to be an object"),
        (TRANSPORT_WS, {"id": "1", "type": "error", "payload": []}, "array of GraphQL errors"),
        (TRANSPORT_WS, {"id": 1, "type": "complete"}, "'id' property to be a string"),
        (TRANSPORT_WS, {"type": "connection_ack", "payload": "x"}, "object or nullish"),
        (LEGACY_WS, {"type": "ping"}, "Invalid message 'type' property \"ping\""),
        (LEGACY_WS, {"id": "1", "type": "data", "payload": 3}, "'payload' property"),
        (LEGACY_WS, [1], "expected to be an object"),
    ],
    ids=repr,
)
async def test_an_invalid_message_closes_4004_and_is_not_retried(
    protocol: str, frame: Any, detail: str
) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        await server.expect(ws, SUBSCRIBE[protocol])
        await server.send(ws, frame if isinstance(frame, str) else json.dumps(frame))
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, protocol=protocol, retry_wait=fast_retry) as client:
            with pytest.raises(BadResponse) as bad:
                await first_result(client)
        await server.wait_ended(1)
    assert bad.value.code == 4004
    assert detail in bad.value.detail
    assert server.close_codes == [4004]
    assert server.connections == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_first_message_other_than_the_ack_closes_4004(protocol: str) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.expect(ws, "connection_init")
        await server.send(ws, {"id": "1", "type": "complete"})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, protocol=protocol) as client:
            with pytest.raises(BadResponse) as bad:
                await client.execute("{ a }")
    assert bad.value.reason == "First message cannot be of type complete"


async def test_messages_for_unknown_ids_and_repeated_acks_are_ignored() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        subscribe = await server.expect(ws, "subscribe")
        await server.send(ws, {"type": "connection_ack"})
        await server.send(ws, {"id": "99", "type": "next", "payload": {"data": "stray"}})
        await server.send(ws, {"id": "99", "type": "complete"})
        await server.send(ws, {"id": subscribe["id"], "type": "next", "payload": {"data": 1}})
        await server.send(ws, {"id": subscribe["id"], "type": "complete"})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url) as client:
            results = [r async for r in client.subscribe("subscription { s }")]
    assert results == [{"data": 1}]


# -- close codes: fatal or retried -------------------------------------------------------------


@pytest.mark.parametrize("code", [4500, 4400, 4401, 4406, 4409, 4429, 1002, 1003, 1011])
async def test_fatal_close_codes_are_not_retried(code: int) -> None:
    waits = RecordedWaits()

    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        await server.expect(ws, "subscribe")
        await ws.close(code=code, message=b"fatal")

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, retry_attempts=5, retry_wait=waits) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await first_result(client)
    assert (closed.value.code, closed.value.reason) == (code, "fatal")
    assert server.connections == 1
    assert waits.calls == []


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1012, 1013, 1014, 4403, 4408, 4499])
async def test_retried_closes_before_the_ack_stop_after_retry_attempts(code: int) -> None:
    # Failures before the acknowledgement count: 1 attempt + retry_attempts reconnections.
    waits = RecordedWaits()

    async def script(ws: web.WebSocketResponse) -> None:
        await server.expect(ws, "connection_init")
        if code == 1006:
            server.abort()
        else:
            await ws.close(code=code, message=b"again")

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, retry_attempts=3, retry_wait=waits) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.execute("{ a }")
    assert closed.value.code == code
    assert server.connections == 4
    assert waits.calls == [0, 1, 2]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("code", [1001, 1006, 1012, 4408])
async def test_a_retried_close_after_the_ack_resubscribes(protocol: str, code: int) -> None:
    waits = RecordedWaits()

    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        start = await server.expect(ws, SUBSCRIBE[protocol])
        if server.connections == 1:
            await server.send(
                ws, {"id": start["id"], "type": RESULT[protocol], "payload": {"n": 1}}
            )
            if code == 1006:
                server.abort()
            else:
                await ws.close(code=code)
            return
        await server.send(ws, {"id": start["id"], "type": RESULT[protocol], "payload": {"n": 2}})
        await server.send(ws, {"id": start["id"], "type": "complete"})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, protocol=protocol, retry_wait=waits) as client:
            results = [r async for r in client.subscribe("subscription { s }")]
    assert results == [{"n": 1}, {"n": 2}]
    assert waits.calls == [0]
    assert server.received[0][1] == server.received[1][1]  # the same subscribe, same id


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_server_1000_while_operations_are_active_reconnects_at_once(
    protocol: str,
) -> None:
    waits = RecordedWaits()

    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        start = await server.expect(ws, SUBSCRIBE[protocol])
        if server.connections == 1:
            await ws.close(code=1000)
            return
        await server.send(ws, {"id": start["id"], "type": RESULT[protocol], "payload": {"n": 2}})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(
            server.url, protocol=protocol, retry_attempts=0, retry_wait=waits
        ) as client:
            assert await first_result(client) == {"n": 2}
    assert waits.calls == []  # no wait, and not counted against retry_attempts


async def test_retries_restart_after_every_acknowledgement() -> None:
    waits = RecordedWaits()

    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        start = await server.expect(ws, "subscribe")
        if server.connections < 4:
            await ws.close(code=1001)
            return
        await server.send(ws, {"id": start["id"], "type": "next", "payload": {"ok": True}})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, retry_attempts=1, retry_wait=waits) as client:
            assert await first_result(client) == {"ok": True}
    assert waits.calls == [0, 0, 0]


async def test_an_async_retry_wait_is_awaited() -> None:
    calls: list[int] = []

    async def retry_wait(retries: int) -> None:
        calls.append(retries)
        await asyncio.sleep(0)

    async def script(ws: web.WebSocketResponse) -> None:
        await server.expect(ws, "connection_init")
        await ws.close(code=1012)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, retry_attempts=2, retry_wait=retry_wait) as client:
            with pytest.raises(ConnectionClosed):
                await client.execute("{ a }")
    assert calls == [0, 1]


# -- keep-alive ----------------------------------------------------------------------------


async def test_client_pings_wait_for_pongs() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        subscribe = await server.expect(ws, "subscribe")
        for _ in range(3):
            assert await server.receive(ws) == {"type": "ping"}
            await server.send(ws, {"type": "pong"})
        await server.send(ws, {"id": subscribe["id"], "type": "next", "payload": {"pings": 3}})
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, keep_alive=0.05) as client:
            assert await first_result(client) == {"pings": 3}


async def test_an_unanswered_ping_closes_4499() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        await server.expect(ws, "subscribe")
        assert await server.receive(ws) == {"type": "ping"}
        await server.drain(ws)  # no pong

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, keep_alive=0.1, retry_attempts=0) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await first_result(client)
        await server.wait_ended(1)
    assert (closed.value.code, closed.value.reason) == (4499, "Keep-alive timeout")
    assert server.close_codes == [4499]


# -- connections that never open ---------------------------------------------------------


async def test_a_server_that_does_not_choose_the_subprotocol_fails_at_once() -> None:
    async with scripted_server(protocols=()) as server:
        async with Client(server.url, retry_wait=fast_retry) as client:
            with pytest.raises(ConnectionFailed, match="did not accept the 'graphql-transport-ws'"):
                await client.execute("{ a }")
        assert server.connections == 1


async def test_a_refused_tcp_connection_fails_at_once() -> None:
    waits = RecordedWaits()
    url = f"ws://127.0.0.1:{free_port()}/graphql"
    async with Client(url, retry_attempts=5, retry_wait=waits) as client:
        with pytest.raises(ConnectionFailed, match="cannot connect"):
            await client.execute("{ a }")
    assert waits.calls == []


async def test_an_http_error_instead_of_the_upgrade_fails_on_enter() -> None:
    async with scripted_server() as server:
        client = Client(server.url + "missing", lazy=False)
        with pytest.raises(ConnectionFailed) as failed:
            async with client:
                pytest.fail("entered")
        assert failed.value.status == 404
        assert client.closed


@pytest.mark.parametrize("params", ["raise", "not a dict"])
async def test_connection_params_that_fail_close_4005(params: str) -> None:
    def make_params() -> Any:
        if params == "raise":
            raise RuntimeError("no token")
        return ["not", "a", "dict"]

    async def script(ws: web.WebSocketResponse) -> None:
        await server.drain(ws)

    async with scripted_server() as server:
        server.script = script
        async with Client(server.url, connection_params=make_params) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.execute("{ a }")
        await server.wait_ended(1)
    assert closed.value.code == 4005
    if params == "raise":
        assert closed.value.reason == "no token"
        assert isinstance(closed.value.__cause__, RuntimeError)
    assert server.close_codes == [4005]
    assert server.received == [[]]  # no connection_init went out


async def test_a_session_you_own_is_used_and_left_open() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await server.acknowledge(ws)
        await server.drain(ws)

    async with aiohttp.ClientSession(headers={"X-Session": "mine"}) as session:
        async with scripted_server() as server:
            server.script = script
            async with Client(server.url, session=session, lazy=False):
                pass
            assert server.requests[0].headers["X-Session"] == "mine"
        assert not session.closed
