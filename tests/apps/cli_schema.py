"""A tiny schema module for the command-line tests.

- ``schema``: graphql-core; ``Query.hello`` is ``"world"``, ``Subscription.count(to)``
  yields 1..to and ends.
- ``server``: a ``GraphQLServer`` of that schema with ``keep_alive=None``, so the CLI's
  options can be seen replacing its own.
- ``plain_app``: a plain ASGI app (HTTP ``GET`` answers ``plain``, WebSockets echo), served
  as it is.
- ``not_an_app``: neither a schema, a server nor an app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

from gqlwire import GraphQLServer


async def _count(_root: object, _info: object, to: int) -> AsyncIterator[int]:
    for value in range(1, to + 1):
        yield value


schema = GraphQLSchema(
    query=GraphQLObjectType(
        "Query", {"hello": GraphQLField(GraphQLString, resolve=lambda *_: "world")}
    ),
    subscription=GraphQLObjectType(
        "Subscription",
        {
            "count": GraphQLField(
                GraphQLInt,
                args={"to": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                subscribe=_count,
                resolve=lambda value, _info, **_args: value,
            )
        },
    ),
)

server = GraphQLServer(schema, keep_alive=None)

Message = MutableMapping[str, Any]


async def plain_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
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
