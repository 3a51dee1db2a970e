"""A tiny schema module for the command-line tests.

- ``schema``: graphql-core; ``Query.hello`` is ``"world"``; ``Query.serverPackagesLoaded``
  lists the ASGI server packages imported in the serving process; ``Subscription.count(to)``
  yields 1..to and ends; ``Subscription.forever`` yields 1, then runs until cancelled.
- ``server``: a ``GraphQLServer`` of that schema with ``keep_alive=None``, so the CLI's
  options can be seen replacing its own.
- ``plain_app``: a plain ASGI app (HTTP answers ``plain`` on every path, WebSockets echo),
  served as it is; ``plain_aiohttp_app``: the same as an aiohttp Application.
- ``not_an_app``: neither a schema, a server nor an app.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

from aiohttp import WSMsgType, web
from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

from gqlwire import GraphQLServer
from gqlwire.asgi_types import Receive, Scope, Send

SERVER_PACKAGES = ("uvicorn", "hypercorn", "daphne", "granian", "twisted", "wsproto", "websockets")
"""Packages only the ASGI servers need: none is imported when serving on aiohttp."""


async def _count(_root: object, _info: object, to: int) -> AsyncIterator[int]:
    for value in range(1, to + 1):
        yield value


async def _forever(_root: object, _info: object) -> AsyncIterator[int]:
    yield 1
    await asyncio.Event().wait()


def _server_packages_loaded(_root: object, _info: object) -> list[str]:
    return [name for name in SERVER_PACKAGES if name in sys.modules]


def _event(value: object, _info: object, **_args: object) -> object:
    return value


schema = GraphQLSchema(
    query=GraphQLObjectType(
        "Query",
        {
            "hello": GraphQLField(GraphQLString, resolve=lambda *_: "world"),
            "serverPackagesLoaded": GraphQLField(
                GraphQLNonNull(GraphQLList(GraphQLNonNull(GraphQLString))),
                resolve=_server_packages_loaded,
            ),
        },
    ),
    subscription=GraphQLObjectType(
        "Subscription",
        {
            "count": GraphQLField(
                GraphQLInt,
                args={"to": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                subscribe=_count,
                resolve=_event,
            ),
            "forever": GraphQLField(GraphQLInt, subscribe=_forever, resolve=_event),
        },
    ),
)

server = GraphQLServer(schema, keep_alive=None)


async def plain_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"plain"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": f"echo:{message.get('text')}"})


not_an_app = 42


async def _plain_aiohttp(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return web.Response(text="plain")
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            await ws.send_str(f"echo:{message.data}")
    return ws


plain_aiohttp_app = web.Application()
plain_aiohttp_app.router.add_route("*", "/{tail:.*}", _plain_aiohttp)
