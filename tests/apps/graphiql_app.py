"""The app of the GraphiQL tests (``tests/graphiql``): endpoints a browser opens.

Schema::

    type Query { hello(name: String! = "world"): String! }
    type Subscription {
      countdown(from: Int!, token: String!): Int!   # from, from-1, ... 0; each value
                                                    # after the first waits for a release
    }

``countdown`` yields its first value at once and every further one only when the test
releases it (``POST /_release?token=T``), so a test sees each value arrive in the page
without waiting for a clock.

Paths:

- ``/graphql``: the defaults (GraphiQL on);
- ``/deeply/mounted/api``: the same server at another path (the page's URLs are relative);
- ``/off``: ``graphiql=False``;
- ``/guarded``: an ``on_connect`` that refuses every request (the page is still served).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from graphql import build_schema

from gqlwire import GraphQLServer
from gqlwire.asgi_types import Receive, Scope, Send
from tests.harness.routes import Routes

schema = build_schema(
    """
    type Query { hello(name: String! = "world"): String! }
    type Subscription { countdown(from: Int!, token: String!): Int! }
    """
)

_releases: defaultdict[str, asyncio.Queue[None]] = defaultdict(asyncio.Queue)


def _hello(_root: Any, _info: Any, name: str) -> str:
    return f"Hello, {name}!"


async def _countdown(_root: Any, _info: Any, token: str, **args: int) -> AsyncIterator[int]:
    start = args["from"]  # a Python keyword
    releases = _releases[token]
    for value in range(start, -1, -1):
        if value != start:
            await releases.get()
        yield value


def _install_resolvers() -> None:
    schema.query_type.fields["hello"].resolve = _hello  # type: ignore[union-attr]
    countdown = schema.subscription_type.fields["countdown"]  # type: ignore[union-attr]
    countdown.subscribe = _countdown
    countdown.resolve = lambda value, _info, **_args: value


_install_resolvers()


async def release(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /_release?token=T``: let the countdown under ``T`` yield its next value."""
    token = parse_qs(scope["query_string"].decode()).get("token", [""])[0]
    _releases[token].put_nowait(None)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _refuse(_ctx: Any) -> bool:
    return False


server = GraphQLServer(schema)
routes = Routes(
    {
        "/graphql": server,
        "/deeply/mounted/api": server,
        "/off": GraphQLServer(schema, graphiql=False),
        "/guarded": GraphQLServer(schema, on_connect=_refuse),
    },
    http={"/_release": release},
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
