"""The app behind the incremental delivery tests: a schema that declares ``@defer`` and
``@stream``, served on every server name.

The directives are declared in SDL, so the app loads on graphql-core 3.2 too, where a
document that uses them must be refused. Hooks record under the ``?token=`` query
parameter of the WebSocket URL (read back with ``GET /_events?token=T``, see
:mod:`tests.harness.control`).

Paths (``keep_alive`` off everywhere, so message sequences are exact):

``/graphql``
    default options, with ``on_operation``, ``on_next`` and ``on_complete`` recording
    (``operation``, ``next`` with the result's ``hasNext``, ``complete``).
``/masked``
    ``mask_errors=True``.
``/limited``
    ``max_execution_time=LIMIT`` seconds.

The schema::

    type Query {
      hello: String!
      later: String!                        # "later", after letting the loop run
      numbers(to: Int!): [Int!]!             # 1..to from an async generator
      broken(to: Int!): [Int!]!              # 1..to, then the generator raises FAIL_MESSAGE
      fail: String                          # its resolver raises FAIL_MESSAGE
      hang(token: String!): String          # records hang_start, waits until cancelled,
                                            # records hang_finally
      person: Person!
    }
    type Person { name: String! friends: [Person!]! }
    type Subscription { count(to: Int!): Int! }
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from graphql import build_schema

from gqlwire import GraphQLServer
from tests.apps.legacy_app import instrumented_routes, query_param, record
from tests.harness.routes import asgi_scope

LIMIT = 0.3
FAIL_MESSAGE = "the resolver failed on purpose"

SDL = """
directive @defer(label: String, if: Boolean! = true) on FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @stream(label: String, if: Boolean! = true, initialCount: Int = 0) on FIELD

type Query {
  hello: String!
  later: String!
  numbers(to: Int!): [Int!]!
  broken(to: Int!): [Int!]!
  fail: String
  hang(token: String!): String
  person: Person!
}

type Person {
  name: String!
  friends: [Person!]!
}

type Subscription {
  count(to: Int!): Int!
}
"""

SCHEMA = build_schema(SDL)


async def _later(_root: Any, _info: Any) -> str:
    await asyncio.sleep(0)
    return "later"


async def _numbers(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    for n in range(1, to + 1):
        await asyncio.sleep(0)
        yield n


async def _broken(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    async for n in _numbers(_root, _info, to):
        yield n
    raise ValueError(FAIL_MESSAGE)


def _fail(_root: Any, _info: Any) -> str:
    raise ValueError(FAIL_MESSAGE)


async def _hang(_root: Any, _info: Any, token: str) -> str:
    record(token, "hang_start")
    try:
        await asyncio.Event().wait()
    finally:
        record(token, "hang_finally")
    return "never"


async def _count(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    for n in range(1, to + 1):
        yield n


_FRIENDS = [{"name": "Grace", "friends": []}, {"name": "Linus", "friends": []}]

_query = SCHEMA.query_type
assert _query is not None and SCHEMA.subscription_type is not None
_query.fields["hello"].resolve = lambda *_: "world"
_query.fields["later"].resolve = _later
_query.fields["numbers"].resolve = _numbers
_query.fields["broken"].resolve = _broken
_query.fields["fail"].resolve = _fail
_query.fields["hang"].resolve = _hang
_query.fields["person"].resolve = lambda *_: {"name": "Ada", "friends": _FRIENDS}
_count_field = SCHEMA.subscription_type.fields["count"]
_count_field.subscribe = _count
_count_field.resolve = lambda value, *_args, **_kwargs: value


def _token(ctx: Any) -> str:
    return query_param(asgi_scope(ctx.extra), "token")


def _on_operation(ctx: Any, id: Any, payload: Any, args: Any, result: Any) -> None:
    record(_token(ctx), "operation", id=id)


def _on_next(ctx: Any, id: Any, payload: Any, args: Any, result: Any) -> None:
    record(_token(ctx), "next", id=id, has_next=getattr(result, "has_next", None))


def _on_complete(ctx: Any, id: Any, payload: Any) -> None:
    record(_token(ctx), "complete", id=id)


def _server(**options: Any) -> GraphQLServer:
    return GraphQLServer(SCHEMA, keep_alive=None, **options)


routes = instrumented_routes(
    {
        "/graphql": _server(on_operation=_on_operation, on_next=_on_next, on_complete=_on_complete),
        "/masked": _server(mask_errors=True),
        "/limited": _server(max_execution_time=LIMIT),
    }
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
