"""A client cannot flood the server's log: text frames that are not UTF-8, sent again
and again, are answered without a traceback or an ERROR line on any server."""

from __future__ import annotations

import pytest

from tests.harness.rawws import OP_TEXT, close_frames, raw_websocket
from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log
from tests.security.test_memory import frames_until_eof

TARGET = "tests.apps.security_app:plain"


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(TARGET, server_name)


async def test_invalid_utf8_frames_leave_no_traceback(proc: ServerProcess) -> None:
    since = proc.log_offset()
    for _ in range(5):
        async with raw_websocket(proc.host, proc.port, "/graphql", "graphql-transport-ws") as ws:
            await ws.send_json({"type": "connection_init"})
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_frame(OP_TEXT, b"\xc3\x28")
            frames = await frames_until_eof(ws)
        # 1007 where the server checks UTF-8 itself; uvicorn-wsproto drops the connection,
        # one server closes without a code; the point here is the log.
        assert close_frames(frames) in (
            [(1005, "")],
            [(1007, "")],
            [(1007, "Invalid UTF-8")],
            [(4400, "Invalid message received")],
            [],
        ), close_frames(frames)
    assert proc.running()
    assert_clean_log(proc, since=since)
