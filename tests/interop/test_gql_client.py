"""The gql Python client against gqlwire, on every server name for what servers change.

gql has two WebSocket transports (``WebsocketsTransport`` on websockets,
``AIOHTTPWebsocketsTransport`` on aiohttp) that both speak both subprotocols. Every
scenario runs on each transport with each subprotocol offered alone; gql's default offer
(legacy ``graphql-ws`` first) must still get ``graphql-transport-ws``.

gql is strict about what it parses (integer-string ids, a list as a graphql-transport-ws
``error`` payload, one object as a legacy one, ``data`` or ``errors`` in every result) and
raises on anything else, so every passing scenario is also a conformance check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.aiohttp_websockets import AIOHTTPWebsocketsTransport
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportQueryError,
    TransportServerError,
)
from gql.transport.websockets import WebsocketsTransport
from gql.transport.websockets_protocol import WebsocketsProtocolTransportBase

from tests.apps.interop_app import FAIL_MESSAGE, KEEP_ALIVE, TICK, boom_message, flaky_message
from tests.harness.closes import expected_close
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, TRANSPORT_WS

from .support import WAIT, InteropServer


class HeaderCaseWebsocketsTransport(WebsocketsTransport):
    """gql's ``WebsocketsTransport`` reading the handshake response's
    ``Sec-WebSocket-Protocol`` header case-insensitively, as HTTP requires.

    gql 4.x looks the header up by its exact spelling in a plain dict of the raw header
    names, and takes its absence for the legacy protocol. hypercorn and granian send it
    as ``sec-websocket-protocol``, so the stock transport then speaks legacy
    ``graphql-ws`` (``start``...) on a graphql-transport-ws socket. That is gql's bug
    (see ``test_stock_websockets_transport_...`` below); every other test uses this
    one-line correction so that they still check gqlwire on those servers.
    """

    async def _after_connect(self) -> None:
        headers = {name.lower(): value for name, value in self.response_headers.items()}
        self.subprotocol = headers.get("sec-websocket-protocol", self.APOLLO_SUBPROTOCOL)


TRANSPORTS: dict[str, type[WebsocketsProtocolTransportBase]] = {
    "websockets": HeaderCaseWebsocketsTransport,
    "aiohttp": AIOHTTPWebsocketsTransport,
}

LOWERCASE_HEADER_SERVERS = frozenset({"hypercorn", "granian"})
"""Servers that send the handshake's header names in lower case."""

GQL_FALLS_BACK_TO_ITS_SUBPROTOCOL = tuple(int(part) for part in version("gql").split(".")[:2]) >= (
    4,
    4,
)
"""gql 4.4 still reads ``Sec-WebSocket-Protocol`` case-sensitively, but when the header
seems missing it uses the one subprotocol it offered instead of assuming the legacy one."""

# What gql checks (its parsing of every message) does not depend on the server, so most
# scenarios run on one server per adapter (tests/conftest.py). Those marked every_server
# touch what servers do differently (the handshake's headers and subprotocol, close
# codes and reasons, the end of a connection) and run on every server.
pytestmark = pytest.mark.per_adapter

HELLO = GraphQLRequest(
    "query Hello($name: String) { hello(name: $name) }",
    variable_values={"name": "gql"},
    operation_name="Hello",
)
COUNT = "subscription Count($to: Int!, $delayMs: Int) { count(to: $to, delayMs: $delayMs) }"
FOREVER = "subscription Forever($token: String!) { forever(token: $token) }"


def count(to: int, delay_ms: int = 0) -> GraphQLRequest:
    return GraphQLRequest(COUNT, variable_values={"to": to, "delayMs": delay_ms})


@pytest.fixture(params=list(TRANSPORTS))
def transport_class(request: pytest.FixtureRequest) -> type[WebsocketsProtocolTransportBase]:
    return TRANSPORTS[request.param]


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_transport(
    transport_class: type[WebsocketsProtocolTransportBase],
    url: str,
    protocols: list[str] | None,
    init_payload: dict[str, Any],
    **options: Any,
) -> WebsocketsProtocolTransportBase:
    # `subprotocols=None` is gql's default offer: legacy first.
    return transport_class(  # type: ignore[call-arg]
        url=url, subprotocols=protocols, init_payload=init_payload, **options
    )


@contextlib.asynccontextmanager
async def gql_session(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocols: list[str] | None,
    init_payload: dict[str, Any],
    path: str = "/graphql",
    **options: Any,
) -> AsyncIterator[tuple[AsyncClientSession, WebsocketsProtocolTransportBase]]:
    transport = make_transport(
        transport_class, interop.url(path), protocols, init_payload, **options
    )
    async with Client(transport=transport) as session:
        assert isinstance(session, AsyncClientSession)
        yield session, transport


def session_for(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
    path: str = "/graphql",
    **options: Any,
) -> contextlib.AbstractAsyncContextManager[
    tuple[AsyncClientSession, WebsocketsProtocolTransportBase]
]:
    return gql_session(interop, transport_class, [protocol], {"token": token}, path, **options)


async def collect(session: AsyncClientSession, request: GraphQLRequest) -> list[dict[str, Any]]:
    return [result async for result in session.subscribe(request)]


@pytest.mark.every_server
async def test_query(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
) -> None:
    async with session_for(interop, transport_class, protocol, token) as (session, transport):
        assert transport.subprotocol == protocol
        if protocol == TRANSPORT_WS:  # gql keeps the ack payload of this one only
            assert transport.payloads["connection_ack"] == {"welcome": token}
        assert await session.execute(HELLO) == {"hello": "Hello, gql!"}


async def test_mutation(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
) -> None:
    greeting = f"hi from gql over {protocol}"
    set_greeting = GraphQLRequest(
        "mutation Set($token: String!, $greeting: String!) "
        "{ setGreeting(token: $token, greeting: $greeting) }",
        variable_values={"token": token, "greeting": greeting},
    )
    get_greeting = GraphQLRequest(
        "query Get($token: String!) { greeting(token: $token) }", variable_values={"token": token}
    )
    async with session_for(interop, transport_class, protocol, token) as (session, _):
        assert await session.execute(set_greeting) == {"setGreeting": greeting}
        assert await session.execute(get_greeting) == {"greeting": greeting}


async def test_subscription_with_variables_to_its_end(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
) -> None:
    async with session_for(interop, transport_class, protocol, token) as (session, _):
        assert await collect(session, count(5, 5)) == [{"count": n} for n in range(1, 6)]


async def test_errors(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
) -> None:
    interop.expect_errors_scenario_log()
    async with session_for(interop, transport_class, protocol, token) as (session, _):
        # Validation (graphql-transport-ws: `error`; legacy: `data {errors}`).
        with pytest.raises(TransportQueryError) as validation:
            await session.execute(GraphQLRequest("{ nope }"))
        assert validation.value.errors is not None and len(validation.value.errors) == 1
        assert "nope" in validation.value.errors[0]["message"]
        assert validation.value.data is None

        # A resolver error: the data and the error, in one result.
        with pytest.raises(TransportQueryError) as resolver:
            await session.execute(GraphQLRequest("{ hello fail }"))
        assert resolver.value.data == {"hello": "Hello, world!", "fail": None}
        assert [e["message"] for e in resolver.value.errors or []] == [FAIL_MESSAGE]

        # A resolver error in the second event of a subscription.
        seen: list[dict[str, Any]] = []
        with pytest.raises(TransportQueryError) as flaky:
            async for result in session.subscribe(GraphQLRequest("subscription { flaky(to: 3) }")):
                seen.append(result)
        assert seen == [{"flaky": 1}]
        assert flaky.value.data == {"flaky": None}
        assert [e["message"] for e in flaky.value.errors or []] == [flaky_message(2)]

        # The source raising mid-stream: an `error` for the operation.
        seen = []
        with pytest.raises(TransportQueryError) as boom:
            async for result in session.subscribe(
                GraphQLRequest("subscription { boom(after: 2) }")
            ):
                seen.append(result)
        assert seen == [{"boom": 1}, {"boom": 2}]
        assert boom.value.errors == [{"message": boom_message(2)}]

        # The socket outlived them all.
        assert await session.execute(HELLO) == {"hello": "Hello, gql!"}


@pytest.mark.every_server
async def test_client_stops_a_running_subscription(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
) -> None:
    forever = GraphQLRequest(FOREVER, variable_values={"token": token})
    async with session_for(interop, transport_class, protocol, token) as (session, _):
        results = session.subscribe(forever)
        async for result in results:
            assert result == {"forever": 0}
            break
        await results.aclose()  # graphql-transport-ws: `complete`; legacy: `stop`
        events = await interop.wait_for(token, "source_finally")
        assert "on_close" not in [name for name, _ in events], events
        assert ("on_complete", {"id": "1"}) in events  # gql numbers operations from 1
        assert await session.execute(HELLO) == {"hello": "Hello, gql!"}
    await interop.wait_for(token, "on_close")


async def test_connection_params_reach_on_connect(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
) -> None:
    params = {"token": token, "client": "gql", "nested": {"list": [1, "two", None], "flag": True}}
    async with gql_session(interop, transport_class, [protocol], params) as (session, _):
        assert await session.execute(HELLO) == {"hello": "Hello, gql!"}
    [(name, details), *_] = await interop.events_async(token)
    assert (name, details) == ("on_connect", {"connection_params": params, "protocol": protocol})


@pytest.mark.every_server
async def test_refused_connection(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
) -> None:
    params = {"token": token, "reject": True}
    if protocol == LEGACY_WS:
        # `connection_error {"message": "Prohibited connection!"}`, then the close.
        with pytest.raises(TransportServerError, match="Prohibited connection!"):
            async with gql_session(interop, transport_class, [protocol], params):
                pytest.fail("connected although on_connect refused")
    else:
        with pytest.raises(TransportConnectionFailed) as refused:
            async with gql_session(interop, transport_class, [protocol], params):
                pytest.fail("connected although on_connect refused")
        closed = getattr(refused.value.__cause__, "rcvd", None)  # websockets keeps the frame
        if closed is not None:
            assert {"code": closed.code, "reason": closed.reason} == expected_close(
                interop.name, 4403, "Forbidden"
            )
    events = await interop.wait_for(token, "on_close")
    assert [name for name, _ in events] == ["on_connect", "on_close"]


async def test_concurrent_subscriptions_on_one_socket(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    protocol: str,
    token: str,
) -> None:
    async with session_for(interop, transport_class, protocol, token) as (session, _):
        a, b, c, hello = await asyncio.gather(
            collect(session, count(3, 30)),
            collect(session, count(6, 10)),
            collect(session, count(2, 50)),
            session.execute(HELLO),
        )
    assert a == [{"count": n} for n in range(1, 4)]
    assert b == [{"count": n} for n in range(1, 7)]
    assert c == [{"count": n} for n in range(1, 3)]
    assert hello == {"hello": "Hello, gql!"}
    assert [name for name, _ in await interop.events_async(token)].count("on_connect") == 1


async def test_keepalive_pings_are_answered(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    token: str,
) -> None:
    # graphql-transport-ws: gqlwire sends `ping`, gql answers `pong` (the server would close
    # an unanswered one). Not combined with gql's keep_alive_timeout: with it, gql's own
    # close waits out its whole close_timeout (10 s) against any server that pings.
    async with session_for(interop, transport_class, TRANSPORT_WS, token, path="/keepalive") as (
        session,
        transport,
    ):
        for _ in range(5):
            await asyncio.wait_for(transport.ping_received.wait(), WAIT)
            transport.ping_received.clear()
        assert await session.execute(HELLO) == {"hello": "Hello, gql!"}


async def test_ka_keeps_the_connection_alive(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    token: str,
) -> None:
    # Legacy: gql fails the connection when keep_alive_timeout passes without a `ka`.
    keep_alive_timeout = 0.8
    assert keep_alive_timeout > 3 * KEEP_ALIVE  # room for a loaded machine
    async with session_for(
        interop,
        transport_class,
        LEGACY_WS,
        token,
        path="/keepalive",
        keep_alive_timeout=keep_alive_timeout,
    ) as (session, _):
        # Hold a subscription open across two of gql's windows, its values as the clock:
        # a missing `ka` fails the connection, and the subscription with it.
        wanted = round(2 * keep_alive_timeout / TICK)
        forever = GraphQLRequest(FOREVER, variable_values={"token": token})
        seen = 0
        async for _ in session.subscribe(forever):
            seen += 1
            if seen == wanted:
                break
        assert await session.execute(HELLO) == {"hello": "Hello, gql!"}


@pytest.mark.every_server
async def test_default_offer_gets_graphql_transport_ws(
    interop: InteropServer,
    transport_class: type[WebsocketsProtocolTransportBase],
    token: str,
) -> None:
    # gql offers ["graphql-ws", "graphql-transport-ws"]; the newer protocol wins.
    async with gql_session(interop, transport_class, None, {"token": token}) as (session, t):
        assert t.subprotocol == TRANSPORT_WS
        assert await session.execute(HELLO) == {"hello": "Hello, gql!"}
        assert await collect(session, count(3)) == [{"count": n} for n in range(1, 4)]
    [(name, details), *_] = await interop.events_async(token)
    assert (name, details["protocol"]) == ("on_connect", TRANSPORT_WS)


@pytest.mark.every_server
async def test_stock_websockets_transport_detects_the_subprotocol(
    interop: InteropServer, token: str, request: pytest.FixtureRequest
) -> None:
    if interop.name in LOWERCASE_HEADER_SERVERS and not GQL_FALLS_BACK_TO_ITS_SUBPROTOCOL:
        request.applymarker(
            pytest.mark.xfail(
                reason="gql looks up Sec-WebSocket-Protocol case-sensitively; this server "
                "sends header names in lower case",
                strict=True,
            )
        )
    transport = WebsocketsTransport(
        url=interop.url(), subprotocols=[TRANSPORT_WS], init_payload={"token": token}
    )
    async with Client(transport=transport) as session:
        assert transport.subprotocol == TRANSPORT_WS
        assert await session.execute(HELLO) == {"hello": "Hello, gql!"}
