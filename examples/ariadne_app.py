"""An Ariadne schema served by gqlwire, its resolvers written as for Ariadne's own
integration: ``info.context["request"]`` (the HTTP request, or the WebSocket's
handshake), plus what gqlwire adds: ``info.context["response"]`` over HTTP and
``info.context["connection_params"]`` over WebSocket. Serve it with::

    gqlwire serve examples.ariadne_app:graphql

``examples/strawberry_app.py`` is the same API written with Strawberry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from ariadne import MutationType, QueryType, SubscriptionType, make_executable_schema
from graphql import GraphQLError

from gqlwire import GraphQLServer

type_defs = """
    type Query {
      hello: String!
    }
    type Mutation {
      signIn(name: String!): String!
    }
    type Subscription {
      countdown(start: Int! = 3): String!
    }
"""

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()


@query.field("hello")
def resolve_hello(_obj: Any, info: Any) -> str:
    """Greets whoever the ``user`` cookie names."""
    name = info.context["request"].cookies.get("user", "stranger")
    return f"Hello, {name}!"


@mutation.field("signIn")
def resolve_sign_in(_obj: Any, info: Any, name: str) -> str:
    """Sets the ``user`` cookie on the HTTP response."""
    response = info.context.get("response")  # a WebSocket has no response
    if response is None:
        raise GraphQLError("Sign in over HTTP: a WebSocket cannot set a cookie")
    response.set_cookie("user", name, httponly=True)
    return f"Signed in as {name}"


@subscription.source("countdown")
async def countdown_source(_obj: Any, info: Any, start: int) -> AsyncGenerator[str, None]:
    """Counts down to 0 for the user named in the ``connection_init`` payload."""
    user = info.context["connection_params"].get("user", "stranger")
    for number in range(start, -1, -1):
        yield f"{number}, {user}"


@subscription.field("countdown")
def resolve_countdown(message: str, _info: Any, start: int) -> str:
    return message


schema = make_executable_schema(type_defs, query, mutation, subscription)
graphql = GraphQLServer(schema)
