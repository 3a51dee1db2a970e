"""The README's authentication example, written out as printed and served on every server.

One ``on_connect`` guards both transports: without the token, or with a wrong one, an
HTTP query or mutation gets 403 and a WebSocket is refused (4403 on
graphql-transport-ws, ``connection_error`` then a close on legacy graphql-ws); with it,
the query, the mutation and the subscription answer. The server's log stays clean, and
it stops cleanly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.docs.readme import write_module
from tests.harness.closes import assert_close
from tests.harness.protocols import LEGACY_WS, TRANSPORT_WS
from tests.harness.servers import ServerProcess, assert_clean_log, start_server
from tests.harness.wsclient import WSClient, ws_client

TOKEN = "s3cret"  # the example's one token, for the user "ada"
COUNTDOWN = "subscription { countdown(start: 3) }"
FORBIDDEN = {"errors": [{"message": "Forbidden"}]}

# Headers and connection_init payloads that the example must refuse.
REFUSED_HEADERS = {
    "no token": {},
    "wrong token": {"authorization": "Bearer nope"},
    "not bearer": {"authorization": f"Basic {TOKEN}"},
    "token of the other transport": {"x-token": TOKEN},
}
REFUSED_PARAMS: dict[str, dict[str, Any] | None] = {
    "no payload": None,
    "no token": {},
    "wrong token": {"token": "nope"},
}


@pytest.fixture(scope="module")
def proc(server_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("readme-auth")
    write_module("auth", directory)
    proc = start_server("auth:server", server_name, cwd=str(directory))
    try:
        yield proc
    finally:
        status = proc.stop()
    assert status == 0, proc.log()  # and stops cleanly


@pytest.fixture(autouse=True)
def clean_log(proc: ServerProcess) -> Iterator[None]:
    """A refusal is an answer, not a failure: nothing is logged."""
    offset = proc.log_offset()
    yield
    assert_clean_log(proc, since=offset)


def post(proc: ServerProcess, query: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(proc.http_url(), json={"query": query}, headers=headers, timeout=10)


# --------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize("query", ["{ me }", "mutation { like }"], ids=["query", "mutation"])
@pytest.mark.parametrize("headers", REFUSED_HEADERS.values(), ids=REFUSED_HEADERS.keys())
def test_http_without_the_token_is_forbidden(
    proc: ServerProcess, query: str, headers: dict[str, str]
) -> None:
    response = post(proc, query, headers)
    assert response.status_code == 403
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.json() == FORBIDDEN


def test_http_with_the_token_answers(proc: ServerProcess) -> None:
    authorized = {"authorization": f"Bearer {TOKEN}"}
    response = post(proc, "{ me }", authorized)
    assert (response.status_code, response.json()) == (200, {"data": {"me": "ada"}})
    first = post(proc, "mutation { like }", authorized)
    second = post(proc, "mutation { like }", {"Authorization": f"bearer {TOKEN}"})
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["data"]["like"] == first.json()["data"]["like"] + 1


# --------------------------------------------------------------------------- WebSocket


async def send_init(client: WSClient, params: dict[str, Any] | None) -> None:
    init: dict[str, Any] = {"type": "connection_init"}
    if params is not None:
        init["payload"] = params
    await client.send(init)


@pytest.mark.parametrize("params", REFUSED_PARAMS.values(), ids=REFUSED_PARAMS.keys())
async def test_transport_ws_without_the_token_is_refused(
    proc: ServerProcess, params: dict[str, Any] | None
) -> None:
    # The right token in the handshake's headers does not count: the example reads the
    # WebSocket's token from connection_init only.
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with ws_client(proc.ws_url(), [TRANSPORT_WS], extra_headers=headers) as client:
        await send_init(client, params)
        code, _ = await client.wait_closed()
    assert code == 4403


@pytest.mark.parametrize("params", REFUSED_PARAMS.values(), ids=REFUSED_PARAMS.keys())
async def test_legacy_without_the_token_is_refused(
    proc: ServerProcess, server_name: str, params: dict[str, Any] | None
) -> None:
    async with ws_client(proc.ws_url(), [LEGACY_WS]) as client:
        await send_init(client, params)
        assert (await client.receive())["type"] == "connection_error"
        closed = await client.wait_closed()
    assert_close(client, closed, 1011, None, server_name)


async def test_transport_ws_with_the_token_subscribes(proc: ServerProcess) -> None:
    async with ws_client(proc.ws_url(), [TRANSPORT_WS]) as client:
        await send_init(client, {"token": TOKEN})
        assert await client.receive() == {"type": "connection_ack"}
        await client.send({"id": "1", "type": "subscribe", "payload": {"query": COUNTDOWN}})
        for number in (3, 2, 1):
            assert await client.receive() == {
                "id": "1",
                "type": "next",
                "payload": {"data": {"countdown": number}},
            }
        assert await client.receive() == {"id": "1", "type": "complete"}
        await client.send({"id": "2", "type": "subscribe", "payload": {"query": "{ me }"}})
        assert await client.receive() == {
            "id": "2",
            "type": "next",
            "payload": {"data": {"me": "ada"}},
        }


async def test_legacy_with_the_token_subscribes(proc: ServerProcess) -> None:
    async with ws_client(proc.ws_url(), [LEGACY_WS]) as client:
        await send_init(client, {"token": TOKEN})
        assert await client.receive() == {"type": "connection_ack"}
        await client.send({"id": "1", "type": "start", "payload": {"query": COUNTDOWN}})
        received: list[dict[str, Any]] = []
        while len(received) < 4:
            message = await client.receive()
            if message["type"] != "ka":  # keep-alive, after the ack and then periodically
                received.append(message)
    assert received == [
        *({"id": "1", "type": "data", "payload": {"data": {"countdown": n}}} for n in (3, 2, 1)),
        {"id": "1", "type": "complete"},
    ]
