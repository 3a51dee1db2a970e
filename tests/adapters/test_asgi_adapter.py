"""The ASGI adapter rules, checked against servers that misbehave on purpose.

Each test runs a :class:`~gqlwire.GraphQLServer` app under the scripted server of
:mod:`tests.harness.fake_asgi`, which plays one real server's quirk (a duplicate connect, a missing
``spec_version``, ports as strings, a receive that blocks after a disconnect...) and
checks, whatever happens, the rules every app must keep: accept once, at most one
close, nothing sent after the close or after a disconnect, no receive after a
disconnect, return in bounded time with no task left behind. The rules are those of
docs/design.md ("What servers do after a disconnect"); the scenarios of the failures it
exists for (receives and sends that raise, repeated connects) are in ``test_regressions.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gqlwire import GraphQLServer
from gqlwire import connection as connection_module
from tests.apps.adapter_app import ALLOWED_ORIGIN
from tests.apps.legacy_app import SCHEMA
from tests.harness.fake_asgi import FakeWebSocket, HookRecorder, run_lifespan, websocket_scope
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, TRANSPORT_WS
from tests.harness.servers import LogWatch, ServerProcess
from tests.harness.wsclient import handshake_status

from .support import assert_final_hooks, make_app, run_query

# -- 6. accept only an offered subprotocol ---------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        ([LEGACY_WS], LEGACY_WS),
        ([TRANSPORT_WS], TRANSPORT_WS),
        ([LEGACY_WS, TRANSPORT_WS], TRANSPORT_WS),
        (["chat", LEGACY_WS], LEGACY_WS),
    ],
)
async def test_the_accepted_subprotocol_is_one_the_client_offered(
    offered: list[str], chosen: str
) -> None:
    async with FakeWebSocket(make_app(), websocket_scope(subprotocols=offered)) as ws:
        accept = await ws.expect_accept()
        assert accept.get("subprotocol") == chosen
        ws.leave()
    ws.assert_rules()


@pytest.mark.parametrize(
    ("offered", "protocols"),
    [
        ([], (TRANSPORT_WS, LEGACY_WS)),
        (["chat"], (TRANSPORT_WS, LEGACY_WS)),
        (["GRAPHQL-WS"], (TRANSPORT_WS, LEGACY_WS)),
        ([TRANSPORT_WS], (LEGACY_WS,)),
    ],
)
async def test_no_acceptable_subprotocol_is_accepted_without_one_then_closed_4406(
    offered: list[str], protocols: tuple[str, ...]
) -> None:
    recorder = HookRecorder()
    app = make_app(recorder, protocols=protocols)
    async with FakeWebSocket(app, websocket_scope(subprotocols=offered)) as ws:
        accept = await ws.expect_accept()
        assert accept.get("subprotocol") is None
        assert await ws.expect_close() == (4406, "Subprotocol not acceptable")
    ws.assert_rules()
    assert "on_connect" not in recorder.names()
    assert_final_hooks(recorder, acknowledged=False)


# -- 10. scopes as real servers build them -----------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_scope_without_spec_version_is_served_as_spec_2_0(protocol: str) -> None:
    # daphne: no "spec_version", which means 2.0; accept headers are a 2.1 feature.
    scope = websocket_scope(subprotocols=[protocol], spec_version=None)
    del scope["extensions"], scope["state"], scope["scheme"], scope["http_version"]
    async with FakeWebSocket(make_app(), scope) as ws:
        accept = await ws.expect_accept()
        assert not accept.get("headers")
        ws.push_text({"type": "connection_init"})
        assert (await ws.receive_json())["type"] == "connection_ack"
        await run_query(ws, protocol)
        ws.leave()
    ws.assert_rules()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_ports_given_as_strings_are_served(protocol: str) -> None:
    # granian passes client/server ports as str.
    seen: list[Any] = []

    def on_connect(ctx: Any) -> None:
        seen.append(ctx.extra["scope"]["client"])

    scope = websocket_scope(
        subprotocols=[protocol], client=("127.0.0.1", "50123"), server=("127.0.0.1", "8000")
    )
    async with FakeWebSocket(make_app(on_connect=on_connect), scope) as ws:
        await ws.handshake()
        await run_query(ws, protocol)
        ws.leave()
    ws.assert_rules()
    assert seen == [["127.0.0.1", "50123"]]


# -- 4, 5. the app always sends its own close, with the code that says why ----------------


async def _send_invalid_json(ws: FakeWebSocket) -> None:
    await ws.expect_accept()
    ws.push_text("{ not json")


async def _wait_for_init_timeout(ws: FakeWebSocket) -> None:
    await ws.expect_accept()


async def _terminate_legacy(ws: FakeWebSocket) -> None:
    await ws.handshake()
    ws.push_text({"type": "connection_terminate"})


async def _refused_init(ws: FakeWebSocket) -> None:
    await ws.expect_accept()
    ws.push_text({"type": "connection_init"})


async def _refused_legacy_init(ws: FakeWebSocket) -> None:
    await _refused_init(ws)
    assert await ws.receive_json() == {
        "type": "connection_error",
        "payload": {"message": "Prohibited connection!"},
    }


async def _send_too_big(ws: FakeWebSocket) -> None:
    await ws.expect_accept()
    ws.push_text({"type": "connection_init", "payload": {"pad": "x" * 100}})


async def _acknowledge(ws: FakeWebSocket) -> None:
    await ws.handshake()


async def _second_init(ws: FakeWebSocket) -> None:
    await ws.handshake()
    ws.push_text({"type": "connection_init"})


SHORT_INIT = {"connection_init_wait_timeout": 0.05}
Script = Callable[[FakeWebSocket], Awaitable[None]]
ENDINGS: dict[str, tuple[str, dict[str, Any], Script, int]] = {
    "invalid message": (TRANSPORT_WS, {}, _send_invalid_json, 4400),
    "init timeout": (TRANSPORT_WS, SHORT_INIT, _wait_for_init_timeout, 4408),
    "legacy init timeout": (LEGACY_WS, SHORT_INIT, _wait_for_init_timeout, 4408),
    "too many inits": (TRANSPORT_WS, {}, _second_init, 4429),
    "refused": (TRANSPORT_WS, {"on_connect": lambda ctx: False}, _refused_init, 4403),
    "legacy refused": (LEGACY_WS, {"on_connect": lambda ctx: False}, _refused_legacy_init, 1011),
    "legacy terminate": (LEGACY_WS, {}, _terminate_legacy, 1000),
    "too big": (TRANSPORT_WS, {"max_message_size": 64}, _send_too_big, 1009),
    "legacy too big": (LEGACY_WS, {"max_message_size": 64}, _send_too_big, 1009),
    "pong timeout": (TRANSPORT_WS, {"keep_alive": 0.05}, _acknowledge, 1001),
}  # fmt: skip


SERVER_CLOSE_QUIRKS = {
    "disconnect-follows": {},
    # After the app's own close no disconnect is reported (a receive() would block
    # forever): the app must return anyway.
    "server-silent": {"disconnect_after_close": False},
    # granian 2.8.7: the close completes only once no receive() is pending.
    "close-waits-for-receive": {"close_waits_for_receive": True},
    # daphne: close codes other than 1000 and 3000-4999 are refused (the send raises).
    "autobahn-close-codes": {"autobahn_close_codes": True},
}


@pytest.mark.parametrize("quirk", list(SERVER_CLOSE_QUIRKS))
@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_a_server_side_ending_sends_exactly_one_close(ending: str, quirk: str) -> None:
    protocol, options, script, code = ENDINGS[ending]
    scope = websocket_scope(subprotocols=[protocol])
    server_quirks: Any = SERVER_CLOSE_QUIRKS[quirk]
    async with FakeWebSocket(make_app(**options), scope, **server_quirks) as ws:
        await script(ws)
    ws.assert_rules()
    closes = ws.of_type("websocket.close")
    assert len(closes) == 1, ws.messages()
    assert ws.sent[-1].message is closes[0], "nothing may follow the close"
    if ws.refused_closes:  # the server refused that code; the close it took came after
        assert [message["code"] for message in ws.refused_closes] == [code]
    else:
        assert closes[0]["code"] == code


async def test_frames_after_the_servers_close_are_ignored() -> None:
    recorder = HookRecorder()
    async with FakeWebSocket(make_app(recorder), disconnect_after_close=False) as ws:
        await ws.handshake()
        ws.push_text({"type": "connection_init"})
        assert (await ws.expect_close())[0] == 4429
        ws.push_text({"id": "1", "type": "subscribe", "payload": {"query": "{ getValue }"}})
        ws.push_disconnect(4429)
    ws.assert_rules()
    assert "on_subscribe" not in recorder.names()
    assert_final_hooks(recorder)


# -- the denial of a handshake from another origin -------------------------------------------


ORIGINS = ["https://app.example"]


@pytest.mark.parametrize("extensions", [{}, {"websocket.http.response": {}}], ids=["no-ext", "ext"])
async def test_a_foreign_origin_is_refused_before_accept(extensions: dict[str, Any]) -> None:
    recorder = HookRecorder()
    scope = websocket_scope(headers=[(b"origin", b"https://evil.example")], extensions=extensions)
    async with FakeWebSocket(make_app(recorder, allowed_origins=ORIGINS), scope) as ws:
        first = await ws.next_message()
    ws.assert_rules()
    assert not ws.of_type("websocket.accept")
    if first["type"] == "websocket.http.response.start":
        assert extensions, "a denial response needs the extension"
        assert first["status"] == 403
    else:
        assert first["type"] == "websocket.close"  # the server answers HTTP 403
        assert ws.refused
    assert not ws.of_type("websocket.send")
    assert recorder.names() == []


@pytest.mark.parametrize(
    ("allowed", "origin"),
    [
        (ORIGINS, b"https://app.example"),
        (ORIGINS, None),
        (["*"], b"https://anything.example"),
        (None, b"https://anything.example"),
    ],
)
async def test_an_allowed_or_absent_origin_is_accepted(
    allowed: list[str] | None, origin: bytes | None
) -> None:
    headers = [] if origin is None else [(b"origin", origin)]
    scope = websocket_scope(headers=headers)
    async with FakeWebSocket(make_app(allowed_origins=allowed), scope) as ws:
        await ws.handshake()
        await run_query(ws, TRANSPORT_WS)
        ws.leave()
    ws.assert_rules()


@pytest.fixture(scope="module")
def server(server_pool: Any, server_name: str) -> ServerProcess:
    proc: ServerProcess = server_pool.get("tests.apps.adapter_app:app", server_name)
    return proc


@pytest.mark.parametrize(
    ("origin", "status"),
    [(ALLOWED_ORIGIN, 101), (None, 101), ("https://evil.example", 403), ("null", 403)],
)
async def test_the_origin_check_on_a_real_server(
    server: ServerProcess, origin: str | None, status: int
) -> None:
    watch = LogWatch(server)
    url = server.ws_url("/origin")
    assert await handshake_status(url, [TRANSPORT_WS], origin=origin) == status
    watch.assert_clean()


# -- lifespan -------------------------------------------------------------------------------


async def test_lifespan_startup_and_shutdown_are_answered() -> None:
    sent = await run_lifespan(make_app())
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


async def test_lifespan_shutdown_closes_open_connections_with_1001() -> None:
    app = make_app()
    async with FakeWebSocket(app) as ws:
        await ws.handshake()
        await run_lifespan(app)
        assert (await ws.expect_close())[0] == 1001
    ws.assert_rules()


async def test_close_all_in_a_timeout_returns_in_time_when_the_server_holds_the_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server never takes the close frame and swallows the timeout's cancellation of
    # that send: close_all() must still end with its caller's timeout, not when the
    # connection's own bound on the close (5 s, 1 s here) lets the send go.
    monkeypatch.setattr(connection_module, "_CLOSE_SEND_WAIT", 1.0)
    server = GraphQLServer(SCHEMA, keep_alive=None)
    async with FakeWebSocket(
        server.asgi(), close_swallows_cancellation=True, disconnect_after_close=False
    ) as ws:
        await ws.handshake()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await server.close_all()
        assert loop.time() - started < 0.6
        assert await ws.expect_close() == (1001, "Going away")
        await ws.finished()  # the connection ends once its own bound gave the close up
    ws.assert_rules()


# -- 9. the protocol's own keep-alive (servers do not all ping) ------------------------------


async def test_an_unanswered_ping_closes_the_connection() -> None:
    recorder = HookRecorder()
    async with FakeWebSocket(make_app(recorder, keep_alive=0.05)) as ws:
        await ws.handshake()
        assert await ws.receive_json() == {"type": "ping"}
        # More pings may go out before the pong timeout ends the connection.
        while (message := await ws.next_message())["type"] == "websocket.send":
            assert message["text"] == '{"type":"ping"}', message
    ws.assert_rules()
    assert message["type"] == "websocket.close", message
    assert (message["code"], message["reason"]) == (1001, "Keep-alive timeout")
    assert_final_hooks(recorder)


async def test_answered_pings_keep_the_connection_open() -> None:
    async with FakeWebSocket(make_app(keep_alive=0.05)) as ws:
        await ws.handshake()
        for _ in range(3):
            assert await ws.receive_json() == {"type": "ping"}
            ws.push_text({"type": "pong"})
        ws.leave()
    ws.assert_rules()
    assert not ws.of_type("websocket.close")
