"""The app of ``tests/security/test_operation_cost.py``: a schema where a short query can
ask for a great deal, served with gqlwire's defaults and with some limits changed.

Schema (graphql-core)::

    type Query {
      person: Person!                          # the root of every nested query
      hello: String!                           # a cheap query, for the other clients
    }
    type Person {
      name: String!
      friends(first: Int!): [Person!]!         # `first` copies of a person, synchronously
    }
    type Subscription { ticks(every: Float!): Int! }   # one event every `every` seconds

Paths (plain HTTP and WebSocket on each):

- ``/graphql``: every default;
- ``/slow``: ``max_execution_time=0.5`` (the time budget without waiting 10 s);
- ``/closed``: ``introspection=False`` (suggestions then hidden by default);
- ``/open``: every cost limit and the time budget off, and ``max_tokens=None``, as before
  they existed (for the measurements of the README, not for the tests' assertions).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLSchema, build_schema

from gqlwire import GraphQLServer
from tests.harness.routes import Routes

schema: GraphQLSchema = build_schema(
    """
    type Query {
      person: Person!
      hello: String!
    }
    type Person {
      name: String!
      friends(first: Int!): [Person!]!
    }
    type Subscription {
      ticks(every: Float!): Int!
    }
    """
)

_PERSON: dict[str, Any] = {"name": "ada"}


def _friends(_person: Any, _info: Any, first: int) -> list[dict[str, Any]]:
    return [_PERSON] * first


async def _ticks(_root: Any, _info: Any, every: float) -> AsyncIterator[int]:
    tick = 0
    while True:
        yield tick
        tick += 1
        await asyncio.sleep(every)


schema.query_type.fields["person"].resolve = lambda _root, _info: _PERSON  # type: ignore[union-attr]
schema.query_type.fields["hello"].resolve = lambda _root, _info: "hello"  # type: ignore[union-attr]
_person_type: Any = schema.type_map["Person"]
_person_type.fields["friends"].resolve = _friends
_ticks_field = schema.subscription_type.fields["ticks"]  # type: ignore[union-attr]
_ticks_field.subscribe = _ticks
_ticks_field.resolve = lambda tick, _info, **_args: tick

servers = {
    "/graphql": GraphQLServer(schema),
    "/slow": GraphQLServer(schema, max_execution_time=0.5),
    "/closed": GraphQLServer(schema, introspection=False),
    "/open": GraphQLServer(
        schema,
        max_tokens=None,
        document_cache_bytes=None,
        max_depth=None,
        max_aliases=None,
        max_root_fields=None,
        max_fields=None,
        max_directives=None,
        max_execution_time=None,
        execution_time_slice=None,
    ),
}

routes = Routes(servers)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
