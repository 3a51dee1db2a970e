"""Caps per server process: open WebSockets (``max_connections``) and running operations
(``max_operations``), on every server (the ``/capped`` route: 3 and 2)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.harness.rawws import OP_CLOSE, RawWebSocket, close_frames, raw_websocket
from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log
from tests.security.test_memory import frames_until_eof

TARGET = "tests.apps.security_app:app"
FOREVER = {"query": "subscription { forever }"}


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(TARGET, server_name)


@contextlib.asynccontextmanager
async def acknowledged(proc: ServerProcess) -> AsyncIterator[RawWebSocket]:
    async with raw_websocket(proc.host, proc.port, "/capped", "graphql-transport-ws") as ws:
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json())["type"] == "connection_ack"
        yield ws


async def test_a_connection_over_max_connections_is_closed_1013(proc: ServerProcess) -> None:
    since = proc.log_offset()
    async with acknowledged(proc), acknowledged(proc), acknowledged(proc):
        async with raw_websocket(proc.host, proc.port, "/capped", "graphql-transport-ws") as fourth:
            frames = await frames_until_eof(fourth)
        expected = (1000, "") if proc.server == "daphne" else (1013, "Too many connections")
        assert close_frames(frames) == [expected]
    # Once the others left, there is room again: as soon as the server has seen them go
    # (granian reports a client's close to the application a moment after the client left).
    assert await room_again(proc)
    assert_clean_log(proc, since=since)


async def room_again(proc: ServerProcess, attempts: int = 100) -> bool:
    """Whether a new connection is acknowledged within ``attempts`` tries; a try refused
    with 1013 (the others not yet counted out) waits a moment and tries again."""
    for _ in range(attempts):
        async with raw_websocket(proc.host, proc.port, "/capped", "graphql-transport-ws") as ws:
            await ws.send_json({"type": "connection_init"})
            first = await ws.read_frame(timeout=10)
        assert first is not None
        if first.opcode != OP_CLOSE:
            return True
        assert close_frames([first])[0][0] in (1013, 1000)
        await asyncio.sleep(0.05)
    return False


async def test_an_operation_over_max_operations_gets_an_error(proc: ServerProcess) -> None:
    since = proc.log_offset()
    async with acknowledged(proc) as first, acknowledged(proc) as second:
        for ws, id in ((first, "a"), (second, "b")):
            await ws.send_json({"id": id, "type": "subscribe", "payload": FOREVER})
            assert await ws.receive_json() == {
                "id": id,
                "type": "next",
                "payload": {"data": {"forever": 1}},
            }
        await second.send_json({"id": "c", "type": "subscribe", "payload": FOREVER})
        assert await second.receive_json() == {
            "id": "c",
            "type": "error",
            "payload": [
                {
                    "message": "Operation limit reached: this server runs at most 2 "
                    "operations at once"
                }
            ],
        }
        # Completing one makes room for the next, on any connection, once its cleanup ran
        # (a refusal until then names the limit).
        await first.send_json({"id": "a", "type": "complete"})
        for attempt in range(100):
            await second.send_json({"id": f"d{attempt}", "type": "subscribe", "payload": FOREVER})
            answer = await second.receive_json()
            if answer["type"] == "next":
                break
            assert answer["payload"][0]["message"].startswith("Operation limit reached")
        assert answer == {"id": f"d{attempt}", "type": "next", "payload": {"data": {"forever": 1}}}
    assert_clean_log(proc, since=since)
