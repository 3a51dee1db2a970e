"""The app of ``tests/test_http.py``: one schema, a few server configurations by path.

Schema (graphql-core)::

    type Query {
      hello(name: String! = "world"): String!
      add(a: Int!, b: Int!): Int!
      whoami: Who!            # what the context function saw
      partial: String         # raises: a field error next to data
      broken: String!         # raises: the error nulls the whole data
      counter: Int!           # how many times `increment` ran in this process
    }
    type Mutation { increment: Int! }
    type Subscription { count(to: Int!): Int! }

Paths (plain HTTP and WebSocket on each, as a user would mount them):

- ``/graphql``: defaults (``debug=False``) with the ``context`` function below;
- ``/debug``: the same with ``debug=True``;
- ``/hooks``: ``on_subscribe`` serving persisted documents (``extensions.persisted``) and
  refusing operations named ``Forbidden``; ``on_error`` marking the errors it formats;
- ``/small``: ``max_message_size=1024``;
- ``/live``: an ``execute`` that answers every query with a stream of two results
  (``hello: "first"``, then ``hello: "second"``), as a live-query engine would.

``app`` serves them on ASGI servers, ``aiohttp_app`` on aiohttp (see
:mod:`tests.harness.routes`).

The context function raises when the user (``x-user`` header over HTTP, the
``connection_init`` payload's ``user`` over WebSocket) is ``explode``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from graphql import ExecutionResult, GraphQLError, GraphQLSchema, build_schema, parse

from gqlwire import ExecutionArgs, GraphQLServer, HTTPContext
from tests.harness.routes import Routes, asgi_scope

EXPLODING_USER = "explode"
CONTEXT_SECRET = "the context function exploded (a secret)"

schema: GraphQLSchema = build_schema(
    """
    type Query {
      hello(name: String! = "world"): String!
      add(a: Int!, b: Int!): Int!
      whoami: Who!
      partial: String
      broken: String!
      counter: Int!
    }
    type Who {
      transport: String!
      user: String
      operationId: String
      method: String
      scopeType: String
    }
    type Mutation {
      increment: Int!
    }
    type Subscription {
      count(to: Int!): Int!
    }
    """
)

_increments = 0


def _hello(_root: Any, _info: Any, name: str) -> str:
    return f"Hello {name}!"


def _add(_root: Any, _info: Any, a: int, b: int) -> int:
    return a + b


def _whoami(_root: Any, info: Any) -> dict[str, Any]:
    return dict(info.context)


def _raise(_root: Any, _info: Any) -> str:
    raise RuntimeError("resolver failed")


def _counter(_root: Any, _info: Any) -> int:
    return _increments


def _increment(_root: Any, _info: Any) -> int:
    global _increments
    _increments += 1
    return _increments


async def _count(_root: Any, _info: Any, to: int) -> AsyncIterator[dict[str, int]]:
    for number in range(1, to + 1):
        yield {"count": number}


_resolvers: dict[str, dict[str, Callable[..., Any]]] = {
    "query": {
        "hello": _hello,
        "add": _add,
        "whoami": _whoami,
        "partial": _raise,
        "broken": _raise,
        "counter": _counter,
    },
    "mutation": {"increment": _increment},
    "subscription": {"count": _count},
}


def _install_resolvers() -> None:
    for type_name, fields in _resolvers.items():
        graphql_type = getattr(schema, f"{type_name}_type")
        for field_name, resolver in fields.items():
            field = graphql_type.fields[field_name]
            if type_name == "subscription":
                field.subscribe = resolver
                field.resolve = lambda event, _info, **_args: event["count"]
            else:
                field.resolve = resolver


_install_resolvers()


def context(ctx: Any, id: Any, payload: dict[str, Any], args: ExecutionArgs) -> dict[str, Any]:
    """What the resolvers see as ``info.context``: how the operation arrived."""
    if isinstance(ctx, HTTPContext):
        transport, user, method = "http", ctx.headers.get("x-user"), ctx.method
    else:
        transport, user, method = ctx.protocol, (ctx.connection_params or {}).get("user"), None
    if user == EXPLODING_USER:
        raise RuntimeError(CONTEXT_SECRET)
    return {
        "transport": transport,
        "user": user,
        "operationId": None if id is None else str(id),
        "method": method,
        "scopeType": asgi_scope(ctx.extra)["type"],
    }


PERSISTED = {
    "hello": parse("query { hello }"),
    "increment": parse("mutation { increment }"),
    "count": parse("subscription { count(to: 2) }"),
}


def _on_subscribe(ctx: Any, id: Any, payload: dict[str, Any]) -> Any:
    persisted = (payload.get("extensions") or {}).get("persisted")
    if persisted is not None:
        return ExecutionArgs(schema=schema, document=PERSISTED[persisted])
    if payload.get("operationName") == "Forbidden":
        return [GraphQLError("Forbidden by on_subscribe")]
    return None


def _on_error(ctx: Any, id: Any, payload: dict[str, Any], errors: list[GraphQLError]) -> Any:
    return [{**error.formatted, "extensions": {"hooked": True}} for error in errors]


async def _live_execute(args: ExecutionArgs) -> AsyncIterator[ExecutionResult]:
    for value in ("first", "second"):
        yield ExecutionResult(data={"hello": value})


servers = {
    "/graphql": GraphQLServer(schema, context=context),
    "/debug": GraphQLServer(schema, context=context, debug=True),
    "/hooks": GraphQLServer(
        schema, context=context, on_subscribe=_on_subscribe, on_error=_on_error
    ),
    "/small": GraphQLServer(schema, context=context, max_message_size=1024),
    "/live": GraphQLServer(schema, context=context, execute=_live_execute),
}


routes = Routes(servers)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
