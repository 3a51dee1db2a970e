"""The app behind the legacy ``graphql-ws`` tests: several server configurations by path.

One process per server serves every configuration, so the tests need one server
process each and not one per configuration. ``app`` is the ASGI app, ``aiohttp_app`` the
same routes for aiohttp (see :mod:`tests.harness.routes`). WebSocket paths:

``/graphql``
    defaults, except that keep-alive is off so message sequences are exact.
``/refuse``
    ``on_connect`` returns ``False``.
``/raise``
    ``on_connect`` raises ``Exception("Error")`` (``debug=True``: the message is shown).
``/raise-masked``
    ``on_connect`` raises an exception carrying a secret, with ``debug=False``.
``/keepalive``
    ``keep_alive=0.1`` seconds.
``/events``
    every hook records its calls under the connection's ``?token=`` query parameter.
``/slow-connect``
    as ``/events``, but ``on_connect`` takes ``SLOW_CONNECT_DELAY`` seconds.
``/init-timeout``
    as ``/events``, with ``connection_init_wait_timeout=SHORT_INIT_TIMEOUT``.

HTTP paths:

``GET /_events?token=T``
    what was recorded for ``T``: a JSON list of ``{"event": ..., ...}`` objects, in order.
``POST /_pong?key=K``
    one ``pong`` to the fixture's ``ping(key: K)`` subscription.
``GET /_stats?route=/events``
    ``server.stats()`` of one configuration (of all of them summed without ``route``).

Besides the fixture schema's fields, ``Subscription.tracked(token)`` yields ``"ready"``
once and then waits forever; it records ``source_start`` and, in its ``finally``,
``source_finally`` under ``token``, so a test can see the server really ended the
source's iteration.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qs

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

from gqlwire import GraphQLServer
from gqlwire.asgi_types import ASGIApplication, Receive, Scope, Send
from tests.apps.fixture_schema import make_schema, pong
from tests.harness.routes import Routes, asgi_scope, respond

SECRET = "the secret in an on_connect exception"
SLOW_CONNECT_DELAY = 0.3
SHORT_INIT_TIMEOUT = 0.5

EVENTS: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
"""Hook calls and source events, by test token (one server process serves many tests)."""


def record(token: str, event: str, **details: Any) -> None:
    EVENTS[token].append({"event": event, **details})


def query_param(scope: Mapping[str, Any], name: str) -> str:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else ""


def _token(ctx: Any) -> str:
    return query_param(asgi_scope(ctx.extra), "token")


# -- the schema: the fixture plus an observable source ---------------------------------------


async def _tracked(_root: Any, _info: Any, token: str) -> AsyncIterator[dict[str, str]]:
    record(token, "source_start")
    try:
        yield {"tracked": "ready"}
        await asyncio.Event().wait()  # runs until the server ends the iteration
    finally:
        record(token, "source_finally")


def make_instrumented_schema() -> GraphQLSchema:
    """The fixture schema with ``Subscription.tracked(token)`` added."""
    fixture = make_schema()
    assert fixture.subscription_type is not None
    subscription = GraphQLObjectType(
        "Subscription",
        {
            **fixture.subscription_type.fields,
            "tracked": GraphQLField(
                GraphQLNonNull(GraphQLString),
                args={"token": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                subscribe=_tracked,
            ),
        },
    )
    return GraphQLSchema(query=fixture.query_type, subscription=subscription)


SCHEMA = make_instrumented_schema()


# -- hooks that record what they were called with ---------------------------------------------


def _on_connect(ctx: Any) -> bool:
    record(_token(ctx), "connect", params=ctx.connection_params, protocol=ctx.protocol)
    return True


def _on_disconnect(ctx: Any, code: int, reason: str) -> None:
    record(_token(ctx), "disconnect", code=code)


def _on_close(ctx: Any, code: int, reason: str) -> None:
    record(_token(ctx), "close", code=code)


def _on_subscribe(ctx: Any, id: Any, payload: Any) -> None:
    record(_token(ctx), "subscribe", id=id)


def _on_operation(ctx: Any, id: Any, payload: Any, args: Any, result: Any) -> None:
    record(_token(ctx), "operation", id=id)


def _on_complete(ctx: Any, id: Any, payload: Any) -> None:
    record(_token(ctx), "complete", id=id)


RECORDING_HOOKS: dict[str, Any] = {
    "on_connect": _on_connect,
    "on_disconnect": _on_disconnect,
    "on_close": _on_close,
    "on_subscribe": _on_subscribe,
    "on_operation": _on_operation,
    "on_complete": _on_complete,
}


async def _slow_on_connect(ctx: Any) -> bool:
    await asyncio.sleep(SLOW_CONNECT_DELAY)
    return _on_connect(ctx)


def _refuse(ctx: Any) -> bool:
    return False


def _raise_error(ctx: Any) -> None:
    raise Exception("Error")


def _raise_secret(ctx: Any) -> None:
    raise RuntimeError(SECRET)


# -- the control endpoints ----------------------------------------------------------------------


async def respond_json(send: Send, body: Any, status: int = 200) -> None:
    await respond(send, status, json.dumps(body).encode())


async def _events_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    await respond_json(send, EVENTS.get(query_param(scope, "token"), []))


async def _pong_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    pong(query_param(scope, "key"))
    await respond_json(send, {"ok": True})


def stats_endpoint(servers: Mapping[str, GraphQLServer]) -> ASGIApplication:
    """``GET /_stats?route=R``: ``stats()`` of the server at ``R``, of all summed without."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        route = query_param(scope, "route")
        chosen = [servers[route]] if route else list(servers.values())
        totals = {"connections": 0, "operations": 0}
        for server in chosen:
            stats = server.stats()
            for key in totals:  # the two counts the tests wait on; stats() has more
                totals[key] += stats[key]
        await respond_json(send, totals)

    return endpoint


def instrumented_routes(servers: Mapping[str, GraphQLServer]) -> Routes:
    """``servers`` by path, plus ``/_events``, ``/_pong`` and ``/_stats``."""
    return Routes(
        servers,
        http={
            "/_events": _events_endpoint,
            "/_pong": _pong_endpoint,
            "/_stats": stats_endpoint(servers),
        },
    )


def _server(**options: Any) -> GraphQLServer:
    # keep_alive is off by default here so each test sees an exact message sequence
    return GraphQLServer(SCHEMA, **{"keep_alive": None, **options})


routes = instrumented_routes(
    {
        "/graphql": _server(),
        "/refuse": _server(on_connect=_refuse),
        "/raise": _server(on_connect=_raise_error, debug=True),
        "/raise-masked": _server(on_connect=_raise_secret),
        "/keepalive": _server(keep_alive=0.1),
        "/events": _server(**RECORDING_HOOKS),
        "/slow-connect": _server(**{**RECORDING_HOOKS, "on_connect": _slow_on_connect}),
        "/init-timeout": _server(
            **RECORDING_HOOKS, connection_init_wait_timeout=SHORT_INIT_TIMEOUT
        ),
    }
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
