"""A server for hostile WebSocket clients at the protocol level, with default options.

Routes:

- ``/graphql``: every option at its default but keep-alive (off, so that the only frames a
  test sees are the ones it asked for). ``on_connect`` accepts only the params
  ``{"token": "user"}``; ``whoami`` answers the ``token`` of the params the operation
  runs with, so an operation that ran with params ``on_connect`` did not accept shows.
- ``/no-rate``: the same with ``max_messages_per_second=None``, so that what bounds a
  flood of pings there is the outgoing byte budget alone.

Control endpoint: ``GET /_stats?route=/graphql`` returns the server's ``stats()`` and the
process id (the worker's on granian).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs

import orjson
from graphql import build_schema

from gqlwire import GraphQLServer
from gqlwire.context import ConnectionContext
from tests.harness.routes import Routes, respond

schema = build_schema("type Query { whoami: String }")


def resolve_whoami(_root: Any, info: Any) -> Any:
    return info.context["connection_params"].get("token")


query_type = schema.query_type
assert query_type is not None
query_type.fields["whoami"].resolve = resolve_whoami


def on_connect(ctx: ConnectionContext) -> bool:
    params = ctx.connection_params or {}
    return params.get("token") == "user"


servers = {
    "/graphql": GraphQLServer(schema, keep_alive=None, on_connect=on_connect),
    "/no-rate": GraphQLServer(
        schema, keep_alive=None, on_connect=on_connect, max_messages_per_second=None
    ),
}


async def stats(scope: Any, receive: Any, send: Any) -> None:
    raw = bytes(scope.get("query_string") or b"").decode()
    route = parse_qs(raw).get("route", ["/graphql"])[-1]
    body = {**servers[route].stats(), "pid": os.getpid()}
    await respond(send, 200, orjson.dumps(body))


routes = Routes(servers, http={"/_stats": stats})
app = routes.asgi()
aiohttp_app = routes.aiohttp()
