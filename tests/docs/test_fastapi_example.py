"""``examples/fastapi_app.py`` served on every ASGI server: one token guards both transports.

With the token (``Authorization: Bearer`` over HTTP, the ``connection_init`` payload over
WebSocket) a query answers over HTTP (POST and GET) and a subscription runs on both
subprotocols, at exactly ``/graphql``. Without it, or with a wrong one, HTTP gets 403 and
a WebSocket is refused (4403 on graphql-transport-ws; ``connection_error`` then a close
on the legacy protocol). The ordinary FastAPI route beside it answers; the log stays
clean and the server stops cleanly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.docs.endpoint import Refused, get, post, subscribe
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, TRANSPORT_WS
from tests.harness.servers import ServerProcess, assert_clean_log, start_server

TARGET = "examples.fastapi_app:app"
TOKEN = "s3cret"  # the example's one token, for the user "ada"
AUTHORIZED = {"authorization": f"Bearer {TOKEN}"}
ME = {"data": {"me": "ada"}}
COUNTDOWN = "subscription { countdown(start: 2) }"
COUNTDOWN_EVENTS = [{"data": {"countdown": 2}}, {"data": {"countdown": 1}}]
FORBIDDEN = {"errors": [{"message": "Forbidden"}]}

REFUSED_HEADERS: dict[str, dict[str, str]] = {
    "no token": {},
    "wrong token": {"authorization": "Bearer nope"},
    "not bearer": {"authorization": f"Basic {TOKEN}"},
}
REFUSED_PARAMS: dict[str, dict[str, Any] | None] = {
    "no payload": None,
    "no token": {},
    "wrong token": {"token": "nope"},
    "token not a string": {"token": ["s3cret"]},
}


@pytest.fixture(scope="module")
def proc(server_name: str) -> Iterator[ServerProcess]:
    if server_name == "aiohttp":
        pytest.skip("a FastAPI app runs on the ASGI servers")
    proc = start_server(TARGET, server_name)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(autouse=True)
def clean_log(proc: ServerProcess) -> Iterator[None]:
    """A refusal is an answer, not a failure: nothing is logged."""
    offset = proc.log_offset()
    yield
    assert_clean_log(proc, since=offset)


# --------------------------------------------------------------------------- HTTP


async def test_http_with_the_token_answers(proc: ServerProcess) -> None:
    assert await post(proc, "{ me }", headers=AUTHORIZED) == (200, ME)
    assert await get(proc, "{ me }", headers=AUTHORIZED) == (200, ME)


@pytest.mark.parametrize("headers", REFUSED_HEADERS.values(), ids=REFUSED_HEADERS.keys())
async def test_http_without_the_token_is_forbidden(
    proc: ServerProcess, headers: dict[str, str]
) -> None:
    assert await post(proc, "{ me }", headers=headers) == (403, FORBIDDEN)
    assert await get(proc, "{ me }", headers=headers) == (403, FORBIDDEN)


async def test_the_fastapi_route_beside_it(proc: ServerProcess) -> None:
    assert await get(proc, "", path="/health") == (200, {"status": "ok"})


# --------------------------------------------------------------------------- WebSocket


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_with_the_token_subscribes(proc: ServerProcess, protocol: str) -> None:
    params = {"token": TOKEN}
    subscription, query = await asyncio.gather(
        subscribe(proc, protocol, COUNTDOWN, connection_params=params),
        subscribe(proc, protocol, "{ me }", connection_params=params),
    )
    assert (subscription, query) == (COUNTDOWN_EVENTS, [ME])


@pytest.mark.parametrize("params", REFUSED_PARAMS.values(), ids=REFUSED_PARAMS.keys())
async def test_transport_ws_without_the_token_is_refused(
    proc: ServerProcess, params: dict[str, Any] | None
) -> None:
    # A token in the handshake's headers does not count: a browser could not send it
    # there, so the example reads a WebSocket's token from connection_init only.
    with pytest.raises(Refused) as refused:
        await subscribe(proc, TRANSPORT_WS, connection_params=params, headers=AUTHORIZED)
    assert refused.value.message is None  # nothing sent, closed:
    assert refused.value.closed[0] == 4403


@pytest.mark.parametrize("params", REFUSED_PARAMS.values(), ids=REFUSED_PARAMS.keys())
async def test_legacy_without_the_token_is_refused(
    proc: ServerProcess, server_name: str, params: dict[str, Any] | None
) -> None:
    with pytest.raises(Refused) as refused:
        await subscribe(proc, LEGACY_WS, connection_params=params)
    assert refused.value.message is not None
    assert refused.value.message["type"] == "connection_error"
    # daphne cannot send 1011: gqlwire closes with 1000 there.
    assert refused.value.closed[0] == (1000 if server_name == "daphne" else 1011)


async def test_it_stops_cleanly(proc: ServerProcess) -> None:
    assert await asyncio.to_thread(proc.stop) == 0, proc.log()
