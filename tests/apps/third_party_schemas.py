"""One small API written three times, in Strawberry, Ariadne and Graphene, each served by
an unchanged ``GraphQLServer(schema)``, its resolvers reading ``info.context`` the way
their library's own integrations fill it.

The API (SDL as every library exposes it)::

    type Query {
      hello(name: String! = "world"): String!
      whoami: String            # connection_params["user"] (WebSocket), x-user header (HTTP)
      context: String!          # what info.context is, as JSON (see describe_context)
      fail: String              # raises RuntimeError(RESOLVER_ERROR)
    }
    type Mutation {
      shout(text: String!): String!
      remember(name: String!): String!  # sets status 201, a header and a cookie (HTTP)
    }
    type Subscription { count(to: Int!): Int! }   # an async generator: 1, 2, ... to

Strawberry's Query has two fields more: ``deep: Deep`` (``type Deep { deep: Deep, leaf:
Int! }``, for depth limits) and ``secret: String!``, which a permission class
(:class:`IsAdmin`) reserves to the user ``admin``.

Endpoints (WebSocket and HTTP on each; ``app`` for ASGI, ``aiohttp_app`` for aiohttp):

- ``/strawberry``, ``/ariadne``, ``/graphene``: no ``context`` option, so resolvers get
  gqlwire's default context; ``/strawberry-pipeline`` is ``/strawberry`` through
  Strawberry's own pipeline (``strawberry_pipeline=True``). Graphene is served only
  where it is installed (it holds graphql-core below 3.3).
- ``/<library>/own-context`` and ``/<library>/context-value``: the same with a
  ``context`` function (``{"own": ctx.transport}``) and a ``context`` value
  (``{"fixed": "value"}``), which replace the default.
- ``/extended`` and ``/extended-fast``: a Strawberry schema with two schema extensions
  (:class:`Stamp`, which adds ``{"stamp": "strawberry"}`` to every result's
  ``extensions``, and a depth limit of 3), on the default execution (Strawberry's
  pipeline, since the schema has extensions) and with ``strawberry_pipeline=False``.
- ``/extended/hooks`` and ``/extended-fast/hooks``: the same with gqlwire hooks
  (:func:`hook_options`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import ariadne
import strawberry
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import QueryDepthLimiter, SchemaExtension
from strawberry.permission import BasePermission

from gqlwire import ExecutionArgs, GraphQLServer
from tests.harness.routes import Routes

try:
    import graphene
except ImportError:  # it requires graphql-core < 3.3
    graphene = None
GRAPHENE_INSTALLED = graphene is not None

RESOLVER_ERROR = "resolver exploded"
GRAPHENE_MISSING = (
    "graphene is not installed: it requires graphql-core < 3.3; "
    "the graphql-core 3.2 cell runs these"
)
REFUSED_BY_ON_SUBSCRIBE = "refused by on_subscribe"
NOT_ADMIN = "admins only"
SECRET = "s3cret"


# -- what every library's resolvers do with info.context ---------------------------------


def whoami(context: dict[str, Any]) -> str | None:
    """The user as a resolver written for Strawberry or Ariadne finds it."""
    params = context.get("connection_params")
    if params is not None:
        user: str | None = params.get("user")
        return user
    header: str | None = context["request"].headers.get("x-user")
    return header


def describe_context(context: Any) -> str:
    """``info.context`` as JSON: for a dict, each key with its value when that is plain
    data, else the qualified name of the value's type."""
    if not isinstance(context, dict):
        return json.dumps({"type": _type_name(context)})
    return json.dumps(
        {
            key: value if isinstance(value, str | int | dict) else _type_name(value)
            for key, value in sorted(context.items())
        }
    )


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def remember(context: dict[str, Any], name: str) -> str:
    """What a resolver does to the HTTP response (there is none over WebSocket)."""
    response = context.get("response")
    if response is not None:
        response.status_code = 201
        response.headers["x-remembered"] = name
        response.set_cookie("user", name, httponly=True)
    return name


async def _count(to: int) -> AsyncIterator[int]:
    for number in range(1, to + 1):
        await asyncio.sleep(0)  # a real source awaits between events
        yield number


# -- Strawberry ------------------------------------------------------------------------------


@strawberry.type
class Deep:
    @strawberry.field
    def deep(self) -> Deep:
        return Deep()

    @strawberry.field
    def leaf(self) -> int:
        return 1


class IsAdmin(BasePermission):
    """A Strawberry permission class: a field extension, which runs on both paths."""

    message = NOT_ADMIN

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return whoami(info.context) == "admin"


@strawberry.type
class StrawberryQuery:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"Hello {name}!"

    @strawberry.field
    def whoami(self, info: strawberry.Info) -> str | None:
        return whoami(info.context)

    @strawberry.field
    def context(self, info: strawberry.Info) -> str:
        return describe_context(info.context)

    @strawberry.field
    def fail(self) -> str | None:
        raise RuntimeError(RESOLVER_ERROR)

    @strawberry.field
    def deep(self) -> Deep:
        return Deep()

    # Strawberry types field(...) as Any when it is called to make a decorator.
    @strawberry.field(permission_classes=[IsAdmin])  # type: ignore[untyped-decorator]
    def secret(self) -> str:
        return SECRET


@strawberry.type
class StrawberryMutation:
    @strawberry.mutation
    def shout(self, text: str) -> str:
        return text.upper()

    @strawberry.mutation
    def remember(self, info: strawberry.Info, name: str) -> str:
        return remember(info.context, name)


@strawberry.type
class StrawberrySubscription:
    @strawberry.subscription
    async def count(self, to: int) -> AsyncGenerator[int, None]:
        async for number in _count(to):
            yield number


class Stamp(SchemaExtension):
    """A schema extension whose mark on each result shows that Strawberry's pipeline ran."""

    def get_results(self) -> dict[str, Any]:
        return {"stamp": "strawberry"}


def _strawberry_schema(**options: Any) -> strawberry.Schema:
    return strawberry.Schema(
        query=StrawberryQuery,
        mutation=StrawberryMutation,
        subscription=StrawberrySubscription,
        **options,
    )


strawberry_schema = _strawberry_schema()
extended_schema = _strawberry_schema(extensions=[Stamp, lambda: QueryDepthLimiter(max_depth=3)])


# -- Ariadne ---------------------------------------------------------------------------------

_ariadne_sdl = """
    type Query {
      hello(name: String! = "world"): String!
      whoami: String
      context: String!
      fail: String
    }
    type Mutation {
      shout(text: String!): String!
      remember(name: String!): String!
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
    return whoami(info.context)


@_ariadne_query.field("context")
def _ariadne_context(_obj: Any, info: Any) -> str:
    return describe_context(info.context)


@_ariadne_query.field("fail")
def _ariadne_fail(_obj: Any, _info: Any) -> str:
    raise RuntimeError(RESOLVER_ERROR)


@_ariadne_mutation.field("shout")
def _ariadne_shout(_obj: Any, _info: Any, text: str) -> str:
    return text.upper()


@_ariadne_mutation.field("remember")
def _ariadne_remember(_obj: Any, info: Any, name: str) -> str:
    return remember(info.context, name)


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


def _graphene_schema() -> Any:
    assert graphene is not None

    class GrapheneQuery(graphene.ObjectType):  # type: ignore[misc]
        # `name` is also Field's own keyword (the field's name): pass the argument in `args`.
        hello = graphene.String(
            required=True, args={"name": graphene.String(required=True, default_value="world")}
        )
        whoami = graphene.String()
        context = graphene.String(required=True)
        fail = graphene.String()

        @staticmethod
        def resolve_hello(_root: Any, _info: Any, name: str) -> str:
            return f"Hello {name}!"

        @staticmethod
        def resolve_whoami(_root: Any, info: Any) -> str | None:
            return whoami(info.context)

        @staticmethod
        def resolve_context(_root: Any, info: Any) -> str:
            return describe_context(info.context)

        @staticmethod
        def resolve_fail(_root: Any, _info: Any) -> str:
            raise RuntimeError(RESOLVER_ERROR)

    class GrapheneMutation(graphene.ObjectType):  # type: ignore[misc]
        shout = graphene.String(required=True, text=graphene.String(required=True))
        remember = graphene.String(required=True, args={"name": graphene.String(required=True)})

        @staticmethod
        def resolve_shout(_root: Any, _info: Any, text: str) -> str:
            return text.upper()

        @staticmethod
        def resolve_remember(_root: Any, info: Any, name: str) -> str:
            return remember(info.context, name)

    class GrapheneSubscription(graphene.ObjectType):  # type: ignore[misc]
        count = graphene.Int(required=True, to=graphene.Int(required=True))

        @staticmethod
        async def subscribe_count(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
            async for number in _count(to):
                yield number

    return graphene.Schema(
        query=GrapheneQuery, mutation=GrapheneMutation, subscription=GrapheneSubscription
    )


# -- gqlwire hooks, for the pipeline tests ---------------------------------------------------


def _on_subscribe(_ctx: Any, _id: Any, payload: dict[str, Any]) -> list[GraphQLError] | None:
    if "refuse" in payload["query"]:
        return [GraphQLError(REFUSED_BY_ON_SUBSCRIBE)]
    return None


def _on_next(
    _ctx: Any, _id: Any, _payload: Any, _args: ExecutionArgs, result: Any
) -> dict[str, Any] | None:
    if isinstance(result, ExecutionResult) and result.data is not None:
        return {"data": result.data, "extensions": {"on_next": True}}
    return None


def _on_error(
    _ctx: Any, _id: Any, _payload: Any, errors: list[GraphQLError]
) -> list[dict[str, Any]]:
    return [{"message": f"on_error: {error.message}"} for error in errors]


def hook_options() -> dict[str, Any]:
    """``on_subscribe`` refuses a query containing ``refuse``; ``on_next`` replaces a
    result that has data with ``{"data": ..., "extensions": {"on_next": true}}``;
    ``on_error`` prefixes each error's message with ``on_error: ``."""
    return {"on_subscribe": _on_subscribe, "on_next": _on_next, "on_error": _on_error}


# -- served --------------------------------------------------------------------------------


def _own_context(ctx: Any, *_: Any) -> dict[str, Any]:
    return {"own": ctx.transport}


schemas: dict[str, tuple[Any, dict[str, Any]]] = {
    "strawberry": (strawberry_schema, {}),
    "strawberry-pipeline": (strawberry_schema, {"strawberry_pipeline": True}),
    "ariadne": (ariadne_schema, {}),
}
if graphene is not None:
    schemas["graphene"] = (_graphene_schema(), {})

servers: dict[str, GraphQLServer] = {}
for _name, (_schema, _options) in schemas.items():
    servers[f"/{_name}"] = GraphQLServer(_schema, **_options)
    servers[f"/{_name}/own-context"] = GraphQLServer(_schema, context=_own_context, **_options)
    servers[f"/{_name}/context-value"] = GraphQLServer(
        _schema, context={"fixed": "value"}, **_options
    )
_pipelines: tuple[tuple[str, dict[str, Any]], ...] = (
    ("/extended", {}),
    ("/extended-fast", {"strawberry_pipeline": False}),
)
for _path, _options in _pipelines:
    servers[_path] = GraphQLServer(extended_schema, **_options)
    servers[f"{_path}/hooks"] = GraphQLServer(extended_schema, **_options, **hook_options())

routes = Routes(servers)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
