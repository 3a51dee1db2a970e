"""``python -m gqlwire serve`` on every server, driven from outside like a user would."""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from gqlwire import cli, runners
from gqlwire.runners import RunnerError
from tests.harness.protocols import LEGACY_WS, TRANSPORT_WS
from tests.harness.servers import (
    ServerPool,
    ServerProcess,
    assert_clean_log,
    server_environment,
    start_server,
)
from tests.harness.wsclient import WSClient, handshake_status, http_get, http_post_json, ws_client

SCHEMA = "tests.apps.cli_schema:schema"
SERVER = "tests.apps.cli_schema:server"
PLAIN_APP = "tests.apps.cli_schema:plain_app"
PLAIN_AIOHTTP_APP = "tests.apps.cli_schema:plain_aiohttp_app"

GOING_AWAY = (1001, "Going away")
STOP_CLOSE: dict[str, set[tuple[int, str]]] = {
    "aiohttp": {GOING_AWAY},
    "uvicorn": {GOING_AWAY},
    "uvicorn-wsproto": {GOING_AWAY},
    "hypercorn": {GOING_AWAY},
    # autobahn sends neither 1001 nor reasons: gqlwire's close falls back to 1000.
    "daphne": {(1000, "")},
    # no hook in granian's worker: it drops the TCP connection, unless its lifespan
    # shutdown lets gqlwire close first.
    "granian": {(1006, ""), GOING_AWAY},
}
"""What a client of a GraphQLServer sees when `gqlwire serve` is stopped (see runners)."""


def refused_handshake_status(server_name: str) -> int:
    """The HTTP status of a WebSocket handshake on a path nothing is served at: aiohttp's
    router answers 404; on ASGI servers, the app closes before accepting (403)."""
    return 404 if server_name == "aiohttp" else 403


def own_app(server_name: str) -> str:
    """The user's own application for `server_name`: aiohttp serves no ASGI app."""
    return PLAIN_AIOHTTP_APP if server_name == "aiohttp" else PLAIN_APP


@pytest.fixture(scope="module")
def schema_server(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(SCHEMA, server_name)


@pytest.fixture
def own_server(server_name: str) -> Iterator[list[ServerProcess]]:
    """Servers a test stops itself (signals); stopped here in any case."""
    started: list[ServerProcess] = []
    yield started
    for proc in started:
        proc.stop()


def gqlwire_lines(proc: ServerProcess) -> list[str]:
    return [line for line in proc.log().splitlines() if line.startswith("gqlwire:")]


async def acknowledged(c: WSClient) -> None:
    await c.send({"type": "connection_init"})
    assert await c.receive() == {"type": "connection_ack"}


async def next_legacy(c: WSClient) -> dict[str, Any]:
    """The next legacy message that is not a keep-alive `ka`."""
    while True:
        message = await c.receive()
        if message["type"] != "ka":
            return message


# --------------------------------------------------------------------------- serving a schema


def test_prints_one_listening_line(schema_server: ServerProcess, server_name: str) -> None:
    assert gqlwire_lines(schema_server) == [
        f"gqlwire: serving graphql-transport-ws and graphql-ws on "
        f"ws://127.0.0.1:{schema_server.port}/graphql ({server_name})"
    ]


async def test_transport_ws_query(schema_server: ServerProcess) -> None:
    async with ws_client(schema_server.ws_url(), subprotocols=[TRANSPORT_WS]) as c:
        assert c.subprotocol == TRANSPORT_WS
        await acknowledged(c)
        await c.send({"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}})
        assert await c.receive() == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"hello": "world"}},
        }
        assert await c.receive() == {"id": "1", "type": "complete"}
        await c.expect_nothing()


async def test_transport_ws_subscription(schema_server: ServerProcess) -> None:
    query = "subscription { count(to: 3) }"
    async with ws_client(schema_server.ws_url(), subprotocols=[TRANSPORT_WS]) as c:
        await acknowledged(c)
        await c.send({"id": "s", "type": "subscribe", "payload": {"query": query}})
        for value in (1, 2, 3):
            assert await c.receive() == {
                "id": "s",
                "type": "next",
                "payload": {"data": {"count": value}},
            }
        assert await c.receive() == {"id": "s", "type": "complete"}


async def test_legacy_subscription(schema_server: ServerProcess) -> None:
    query = "subscription { count(to: 2) }"
    async with ws_client(schema_server.ws_url(), subprotocols=[LEGACY_WS]) as c:
        assert c.subprotocol == LEGACY_WS
        await c.send({"type": "connection_init", "payload": {}})
        assert await c.receive() == {"type": "connection_ack"}
        await c.send({"id": "7", "type": "start", "payload": {"query": query}})
        for value in (1, 2):
            assert await next_legacy(c) == {
                "id": "7",
                "type": "data",
                "payload": {"data": {"count": value}},
            }
        assert await next_legacy(c) == {"id": "7", "type": "complete"}


async def test_http_post(schema_server: ServerProcess) -> None:
    if importlib.util.find_spec("gqlwire.http") is None:
        pytest.skip("GraphQL over HTTP (gqlwire.http) has not landed yet")
    response = await http_post_json(schema_server.http_url(), {"query": "{ hello }"})
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"hello": "world"}}


async def test_other_paths_are_not_served(schema_server: ServerProcess, server_name: str) -> None:
    assert (await http_get(schema_server.http_url("/other"))).status_code == 404
    status = await handshake_status(schema_server.ws_url("/other"))
    assert status == refused_handshake_status(server_name)


async def test_the_serving_process_imports_only_its_own_server(
    schema_server: ServerProcess, server_name: str
) -> None:
    """The serving process imports its own server's packages only: on aiohttp (the
    default, with no ASGI server installed), none of the ASGI servers'."""
    response = await http_post_json(schema_server.http_url(), {"query": "{ serverPackagesLoaded }"})
    loaded = response.json()["data"]["serverPackagesLoaded"]
    if server_name == "aiohttp":
        assert loaded == []
    else:
        assert server_name.partition("-")[0] in loaded


async def test_log_stays_clean(schema_server: ServerProcess) -> None:
    """After the exchanges above and a connection dropped without a close frame."""
    async with ws_client(schema_server.ws_url(), subprotocols=[TRANSPORT_WS]) as c:
        await acknowledged(c)
        c.abort()
    # One more round trip, so the server has had its turn to handle the drop.
    async with ws_client(schema_server.ws_url(), subprotocols=[TRANSPORT_WS]) as c:
        await acknowledged(c)
    assert_clean_log(schema_server)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_stops_cleanly(
    server_name: str, own_server: list[ServerProcess], signum: signal.Signals
) -> None:
    proc = start_server(SCHEMA, server_name)
    own_server.append(proc)
    # An acknowledged connection and a running subscription are open when the signal comes.
    subscription = {"query": "subscription { forever }"}
    async with ws_client(proc.ws_url(), subprotocols=[TRANSPORT_WS]) as c:
        await acknowledged(c)
        await c.send({"id": "1", "type": "subscribe", "payload": subscription})
        assert (await c.receive())["type"] == "next"
        proc.send_signal(signum)
        closed = await c.wait_closed(15)
        assert await asyncio.to_thread(proc.wait, 15) == 0, proc.log()
    assert closed in STOP_CLOSE[server_name], proc.log()
    assert_clean_log(proc)


async def test_init_timeout_zero_closes_4408(server_name: str, server_pool: ServerPool) -> None:
    proc = server_pool.get(SCHEMA, server_name, args=("--init-timeout", "0"))
    since = proc.log_offset()
    async with ws_client(proc.ws_url(), subprotocols=[TRANSPORT_WS]) as c:
        code, _reason = await c.wait_closed()
    assert code == 4408
    async with ws_client(proc.ws_url(), subprotocols=[LEGACY_WS]) as c:
        code, _reason = await c.wait_closed()
    assert code == 4408
    assert_clean_log(proc, since=since)


# --------------------------------------------------------------------------- other targets


async def test_serves_a_graphql_server_with_options_replaced(
    server_name: str, server_pool: ServerPool
) -> None:
    # The module's server has keep_alive=None: pings come only from --keepalive.
    proc = server_pool.get(SERVER, server_name, args=("--path", "/custom", "--keepalive", "0.5"))
    assert gqlwire_lines(proc) == [
        f"gqlwire: serving graphql-transport-ws and graphql-ws on "
        f"ws://127.0.0.1:{proc.port}/custom ({server_name})"
    ]
    status = await handshake_status(proc.ws_url("/graphql"))
    assert status == refused_handshake_status(server_name)
    async with ws_client(proc.ws_url("/custom"), subprotocols=[TRANSPORT_WS]) as c:
        await acknowledged(c)
        assert await c.receive() == {"type": "ping"}
        await c.send({"type": "pong"})
        await c.send({"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}})
        message = await c.receive()
        while message["type"] == "ping":  # answered, or the pong timeout would close
            await c.send({"type": "pong"})
            message = await c.receive()
        assert message == {"id": "1", "type": "next", "payload": {"data": {"hello": "world"}}}
    assert_clean_log(proc)


async def test_serves_the_users_own_app_as_is(server_name: str, server_pool: ServerPool) -> None:
    """An ASGI app on the ASGI servers, an aiohttp Application on aiohttp."""
    target = own_app(server_name)
    proc = server_pool.get(target, server_name)
    assert gqlwire_lines(proc) == [
        f"gqlwire: serving {target} on http://127.0.0.1:{proc.port} ({server_name})"
    ]
    response = await http_get(proc.http_url("/anything"))
    assert (response.status_code, response.text) == (200, "plain")
    async with ws_client(proc.ws_url("/anywhere"), subprotocols=None) as c:
        await c.send("hi")
        assert await c.receive_raw() == "echo:hi"
    assert_clean_log(proc)


# --------------------------------------------------------------------------- errors


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gqlwire", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=server_environment(),
        stdin=subprocess.DEVNULL,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gqlwire: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("target", "fragments"),
    [
        ("tests.apps.no_such_module:schema", ("tests.apps.no_such_module",)),
        ("tests.apps.cli_schema:no_such_attr", ("no attribute", "no_such_attr")),
        ("tests.apps.cli_schema:not_an_app", ("not a GraphQL schema", "int")),
        ("tests.apps.cli_schema", ("MODULE:ATTR",)),
    ],
    ids=["missing-module", "missing-attribute", "not-an-app", "no-attribute-given"],
)
def test_bad_target_is_one_line_and_exit_2(target: str, fragments: tuple[str, ...]) -> None:
    assert_one_error_line(run_cli("serve", target, "--port", "0"), *fragments)


def test_an_asgi_app_on_aiohttp_is_one_line_and_exit_2() -> None:
    result = run_cli("serve", PLAIN_APP, "--server", "aiohttp", "--port", "0")
    assert_one_error_line(result, PLAIN_APP, "ASGI application", "--server", "uvicorn")


def test_an_aiohttp_app_on_an_asgi_server_is_one_line_and_exit_2() -> None:
    asgi_server = next(name for name in runners.SERVER_NAMES if name != "aiohttp")
    result = run_cli("serve", PLAIN_AIOHTTP_APP, "--server", asgi_server, "--port", "0")
    assert_one_error_line(result, PLAIN_AIOHTTP_APP, "aiohttp Application", "--server aiohttp")


def test_the_aiohttp_runner_takes_applications_and_graphql_servers_only() -> None:
    # (The loader `run()` uses; `run()` itself would take over this process's signals.)
    with pytest.raises(RunnerError, match="ASGI application, which aiohttp cannot serve"):
        runners._load_aiohttp_app(PLAIN_APP)
    with pytest.raises(RunnerError, match="not an aiohttp Application or a GraphQLServer"):
        runners._load_aiohttp_app("tests.apps.cli_schema:not_an_app")
    served = runners._load_aiohttp_app(SERVER)  # a GraphQLServer: at /graphql
    routes = served.router.routes()
    assert [r.resource.canonical if r.resource else None for r in routes] == ["/graphql"]


def test_port_in_use_is_one_line_and_exit_2(server_name: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_cli("serve", SCHEMA, "--server", server_name, "--port", port)
    assert_one_error_line(result, "address already in use", port)


def test_bad_option_value_is_a_usage_error() -> None:
    result = run_cli("serve", SCHEMA, "--init-timeout", "soon")
    assert result.returncode == 2
    assert "--init-timeout" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_says_what_may_be_served() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for fragment in ("GraphQLServer", "ASGI", "aiohttp", "--init-timeout", "--server", "granian"):
        assert fragment in text


def test_the_default_server_is_aiohttp() -> None:
    assert runners.SERVER_NAMES[0] == "aiohttp"
    args = cli.build_parser().parse_args(["serve", SCHEMA])
    assert args.server == "aiohttp"


def test_unknown_server_is_a_clear_error() -> None:
    with pytest.raises(RunnerError, match=r"unknown server 'tornado'.*uvicorn"):
        runners.check_server("tornado")


def test_missing_server_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "granian" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(RunnerError, match=r"'granian' is not installed.*gqlwire\[granian\]"):
        runners.check_server("granian")
