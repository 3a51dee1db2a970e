"""Caps per server process: open WebSockets (``max_connections``) and running operations
(``max_operations``), on every server (the ``/capped`` route: 3 and 2)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.harness.rawws import RawWebSocket, close_frames, raw_websocket
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
    # Once the others left, there is room again.
    async with acknowledged(proc):
        pass
    assert_clean_log(proc, since=since)


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
