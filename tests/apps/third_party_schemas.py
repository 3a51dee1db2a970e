"""One small API written three times, in Strawberry, Ariadne and Graphene, each served by
an unchanged ``GraphQLServer(schema)``.

The API (SDL as every library exposes it)::

    type Query {
      hello(name: String! = "world"): String!
      whoami: String            # info.context["user"], from the context function
      fail: String              # raises RuntimeError(RESOLVER_ERROR)
    }
    type Mutation { shout(text: String!): String! }
    type Subscription { count(to: Int!): Int! }   # an async generator: 1, 2, ... to

``app`` serves the three at ``/strawberry``, ``/ariadne`` and ``/graphene`` (WebSocket
and HTTP on each), so one server process covers every library; ``aiohttp_app`` does the
same on aiohttp.

The context function gives every resolver ``{"user": ...}``: the ``x-user`` header over
HTTP, the ``connection_init`` payload's ``user`` over WebSocket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import ariadne
import graphene
import strawberry

from gqlwire import ExecutionArgs, GraphQLServer, HTTPContext
from tests.harness.routes import Routes

RESOLVER_ERROR = "resolver exploded"


def context(ctx: Any, id: Any, payload: dict[str, Any], args: ExecutionArgs) -> dict[str, Any]:
    if isinstance(ctx, HTTPContext):
        return {"user": ctx.headers.get("x-user")}
    return {"user": (ctx.connection_params or {}).get("user")}


async def _count(to: int) -> AsyncIterator[int]:
    for number in range(1, to + 1):
        await asyncio.sleep(0)  # a real source awaits between events
        yield number


# -- Strawberry ------------------------------------------------------------------------------


@strawberry.type
class StrawberryQuery:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"Hello {name}!"

    @strawberry.field
    def whoami(self, info: strawberry.Info) -> str | None:
        user: str | None = info.context["user"]
        return user

    @strawberry.field
    def fail(self) -> str | None:
        raise RuntimeError(RESOLVER_ERROR)


@strawberry.type
class StrawberryMutation:
    @strawberry.mutation
    def shout(self, text: str) -> str:
        return text.upper()


@strawberry.type
class StrawberrySubscription:
    @strawberry.subscription
    async def count(self, to: int) -> AsyncGenerator[int, None]:
        async for number in _count(to):
            yield number


strawberry_schema = strawberry.Schema(
    query=StrawberryQuery, mutation=StrawberryMutation, subscription=StrawberrySubscription
)


# -- Ariadne ---------------------------------------------------------------------------------

_ariadne_sdl = """
    type Query {
      hello(name: String! = "world"): String!
      whoami: String
      fail: String
    }
    type Mutation {
      shout(text: String!): String!
    }
    type Subscription {
      count(to: Int!): Int!
    }
"""

_ariadne_query = ariadne.QueryType()
_ariadne_mutation = ariadne.MutationType()
_ariadne_subscription = ariadne.SubscriptionType()


@_ariadne_query.field("hello")
def _ariadne_hello(_obj: Any, _info: Any, name: str) -> str:
    return f"Hello {name}!"


@_ariadne_query.field("whoami")
def _ariadne_whoami(_obj: Any, info: Any) -> str | None:
    user: str | None = info.context["user"]
    return user


@_ariadne_query.field("fail")
def _ariadne_fail(_obj: Any, _info: Any) -> str:
    raise RuntimeError(RESOLVER_ERROR)


@_ariadne_mutation.field("shout")
def _ariadne_shout(_obj: Any, _info: Any, text: str) -> str:
    return text.upper()


@_ariadne_subscription.source("count")
async def _ariadne_count_source(_obj: Any, _info: Any, to: int) -> AsyncGenerator[int, None]:
    async for number in _count(to):
        yield number


@_ariadne_subscription.field("count")
def _ariadne_count(number: int, _info: Any, to: int) -> int:
    return number


ariadne_schema = ariadne.make_executable_schema(
    _ariadne_sdl, _ariadne_query, _ariadne_mutation, _ariadne_subscription
)


# -- Graphene --------------------------------------------------------------------------------


class GrapheneQuery(graphene.ObjectType):
    # `name` is also Field's own keyword (the field's name): pass the argument in `args`.
    hello = graphene.String(
        required=True, args={"name": graphene.String(required=True, default_value="world")}
    )
    whoami = graphene.String()
    fail = graphene.String()

    @staticmethod
    def resolve_hello(_root: Any, _info: Any, name: str) -> str:
        return f"Hello {name}!"

    @staticmethod
    def resolve_whoami(_root: Any, info: Any) -> str | None:
        user: str | None = info.context["user"]
        return user

    @staticmethod
    def resolve_fail(_root: Any, _info: Any) -> str:
        raise RuntimeError(RESOLVER_ERROR)


class GrapheneMutation(graphene.ObjectType):
    shout = graphene.String(required=True, text=graphene.String(required=True))

    @staticmethod
    def resolve_shout(_root: Any, _info: Any, text: str) -> str:
        return text.upper()


class GrapheneSubscription(graphene.ObjectType):
    count = graphene.Int(required=True, to=graphene.Int(required=True))

    @staticmethod
    async def subscribe_count(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
        async for number in _count(to):
            yield number


graphene_schema = graphene.Schema(
    query=GrapheneQuery, mutation=GrapheneMutation, subscription=GrapheneSubscription
)


# -- served --------------------------------------------------------------------------------

servers = {
    "/strawberry": GraphQLServer(strawberry_schema, context=context),
    "/ariadne": GraphQLServer(ariadne_schema, context=context),
    "/graphene": GraphQLServer(graphene_schema, context=context),
}
LIBRARIES = tuple(path.lstrip("/") for path in servers)


routes = Routes(servers)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
