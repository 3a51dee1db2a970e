"""Regression tests of the aiohttp adapter (docs/design.md, "Why it exists"), over a real
aiohttp server.

The Strawberry aiohttp integration closed a connection a second time after aiohttp had
already ended it: aiohttp reports a reader error (invalid UTF-8 in a text frame, a
reserved opcode, a frame over the size limit) by sending its own close frame, marking
the connection 1006 and yielding an ``ERROR`` message; a lost TCP connection yields
``CLOSED``/``ERROR`` with 1006 too. gqlwire's adapter treats every one of these as "the
connection ended" and closes at most once.

Each test runs on both subprotocols against ``gqlwire serve tests.apps.adapter_app:aiohttp_app
--server aiohttp`` with a subscription running (``tracked``, which records its source's
``finally``), and checks: exactly one close frame reached the client (a raw client counts
them, and writes the frames ``websockets`` refuses to send), the source's ``finally`` ran,
the hooks ended once, the server's stats are back to zero, and the log holds no
traceback or error line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.adapters.support import start
from tests.harness.control import event_names, new_token, wait_for_events, wait_until_idle
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, RESULT
from tests.harness.rawws import OP_CLOSE, OP_TEXT, RawWebSocket, close_frames, raw_websocket
from tests.harness.servers import LogWatch, ServerPool, ServerProcess

ADAPTER_APP = "tests.apps.adapter_app:app"
RESERVED_OPCODE = 0x3

# name: (path, opcode, payload, the close code aiohttp sends)
READER_ERRORS: dict[str, tuple[str, int, bytes, int]] = {
    "invalid-utf8": ("/graphql", OP_TEXT, b'{"type": "\xc3\x28"}', 1007),
    "reserved-opcode": ("/graphql", RESERVED_OPCODE, b"{}", 1002),
    # /small: max_message_size=1024
    "oversized": ("/small", OP_TEXT, b'"' + b"x" * 2048 + b'"', 1009),
}
RECORDING_PATHS = {"/graphql"}  # where the hooks record under the connection's token


@pytest.fixture(scope="module")
def server(server_pool: ServerPool, selected_server_names: list[str]) -> ServerProcess:
    if "aiohttp" not in selected_server_names:
        pytest.skip("aiohttp is not among the servers tested")
    return server_pool.get(ADAPTER_APP, "aiohttp")


@pytest.fixture
def log_watch(server: ServerProcess) -> Iterator[LogWatch]:
    watch = LogWatch(server)
    yield watch
    watch.assert_clean()


def connect(
    server: ServerProcess, path: str, protocol: str, token: str
) -> contextlib.AbstractAsyncContextManager[RawWebSocket]:
    return raw_websocket(server.host, server.port, path, protocol, query=f"token={token}")


async def start_tracked(ws: RawWebSocket, protocol: str, token: str, binary: bool = False) -> None:
    """Acknowledge, then start ``tracked`` and see its first event."""
    assert ws.subprotocol == protocol
    await ws.send_json({"type": "connection_init"}, binary=binary)
    assert await ws.receive_json() == {"type": "connection_ack"}
    query = f'subscription {{ tracked(token: "{token}") }}'
    await ws.send_json(start(protocol, "t", query), binary=binary)
    assert await ws.receive_json() == {
        "id": "t",
        "type": RESULT[protocol],
        "payload": {"data": {"tracked": "ready"}},
    }


async def ended_once(server: ServerProcess, path: str, token: str) -> list[dict[str, Any]]:
    """Wait until the connection's cleanup is over; check it ran once. Returns the events."""
    recorded = path in RECORDING_PATHS
    expected = ("complete", "disconnect", "close") if recorded else ()
    events = await wait_for_events(server, token, "source_finally", *expected)
    await wait_until_idle(server, path)  # the connection left the server's registry
    events = await wait_for_events(server, token)  # everything, now that it is over
    names = event_names(events)
    assert names.count("source_start") == names.count("source_finally") == 1, names
    if recorded:
        assert [e["id"] for e in events if e["event"] == "complete"].count("t") == 1, names
        assert names[-2:] == ["disconnect", "close"], names
        assert names.count("disconnect") == names.count("close") == 1, names
    return events


def hook_close(events: list[dict[str, Any]]) -> int:
    (closed,) = [event for event in events if event["event"] == "close"]
    code: int = closed["code"]
    return code


# -- reader errors: aiohttp closes by itself, then yields ERROR ---------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("case", READER_ERRORS)
async def test_a_reader_error_closes_exactly_once(
    server: ServerProcess, protocol: str, case: str, log_watch: LogWatch
) -> None:
    path, opcode, payload, code = READER_ERRORS[case]
    token = new_token()
    async with connect(server, path, protocol, token) as ws:
        await start_tracked(ws, protocol, token)
        await ws.send_frame(opcode, payload)
        frames = await ws.frames_until_eof()
    # aiohttp's close carries no reason; nothing is sent after it.
    assert close_frames(frames) == [(code, "")], frames
    assert frames[-1].opcode == OP_CLOSE, frames
    await ended_once(server, path, token)


@pytest.mark.parametrize("case", ["invalid-utf8", "reserved-opcode"])
async def test_hooks_see_the_code_the_client_was_sent(
    server: ServerProcess, case: str, log_watch: LogWatch
) -> None:
    path, opcode, payload, code = READER_ERRORS[case]
    token = new_token()
    async with connect(server, path, LEGACY_WS, token) as ws:
        await start_tracked(ws, LEGACY_WS, token)
        await ws.send_frame(opcode, payload)
        await ws.frames_until_eof()
    assert hook_close(await ended_once(server, path, token)) == code


# -- the TCP connection ends without a close frame ----------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("how", ["reset", "fin"])
async def test_a_lost_tcp_connection_ends_once(
    server: ServerProcess, protocol: str, how: str, log_watch: LogWatch
) -> None:
    """A reset (RST) or a bare FIN mid-subscription: aiohttp yields CLOSED or ERROR with
    1006 (after trying a close of its own); the connection ends once, with 1006."""
    token = new_token()
    async with connect(server, "/graphql", protocol, token) as ws:
        await start_tracked(ws, protocol, token)
        if how == "reset":
            ws.reset()
        else:
            ws.writer.write_eof()
            # The server can no longer answer on a half-closed connection (asyncio closes
            # its transport on EOF): no frame arrives, least of all a second close.
            assert await ws.frames_until_eof() == []
    events = await ended_once(server, "/graphql", token)
    assert hook_close(events) == 1006


# -- the client closes --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_client_close_during_a_subscription(
    server: ServerProcess, protocol: str, log_watch: LogWatch
) -> None:
    token = new_token()
    async with connect(server, "/graphql", protocol, token) as ws:
        await start_tracked(ws, protocol, token)
        await ws.send_close(4321, "bye")
        frames = await ws.frames_until_eof()
    # aiohttp answers a client's close itself, with 1000; the hooks get the client's.
    assert close_frames(frames) == [(1000, "")], frames
    assert frames[-1].opcode == OP_CLOSE, frames
    events = await ended_once(server, "/graphql", token)
    closes = [(e["event"], e["code"]) for e in events if e["event"] in ("disconnect", "close")]
    assert closes == [("disconnect", 4321), ("close", 4321)]


# -- binary frames ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_binary_frame_is_processed_like_text(
    server: ServerProcess, protocol: str, log_watch: LogWatch
) -> None:
    token = new_token()
    async with connect(server, "/graphql", protocol, token) as ws:
        await start_tracked(ws, protocol, token, binary=True)
        await ws.send_json(start(protocol, "q", "{ getValue }"), binary=True)
        assert await ws.receive_json() == {
            "id": "q",
            "type": RESULT[protocol],
            "payload": {"data": {"getValue": "value"}},
        }
        assert await ws.receive_json() == {"id": "q", "type": "complete"}
        # Answers come as text whatever the client sent.
        await ws.send_json(start(protocol, "r", "{ getValue }"), binary=True)
        frame = await ws.read_frame()
        assert frame is not None and frame.opcode == OP_TEXT, frame
        await ws.send_close(1000)
        frames = await ws.frames_until_eof()
    assert close_frames(frames) == [(1000, "")], frames
    await ended_once(server, "/graphql", token)
