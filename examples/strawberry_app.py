"""A Strawberry schema served by gqlwire, its resolvers written as for Strawberry's own
integrations: ``info.context["request"]`` (the HTTP request, or the WebSocket's
handshake), ``info.context["response"]`` over HTTP and ``info.context["connection_params"]``
over WebSocket. Serve it with::

    gqlwire serve examples.strawberry_app:graphql

``examples/ariadne_app.py`` is the same API written with Ariadne.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError

from gqlwire import GraphQLServer


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, info: strawberry.Info) -> str:
        """Greets whoever the ``user`` cookie names."""
        name = info.context["request"].cookies.get("user", "stranger")
        return f"Hello, {name}!"


@strawberry.type
class Mutation:
    @strawberry.mutation
    def sign_in(self, info: strawberry.Info, name: str) -> str:
        """Sets the ``user`` cookie on the HTTP response."""
        response = info.context.get("response")  # a WebSocket has no response
        if response is None:
            raise GraphQLError("Sign in over HTTP: a WebSocket cannot set a cookie")
        response.set_cookie("user", name, httponly=True)
        return f"Signed in as {name}"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def countdown(self, info: strawberry.Info, start: int = 3) -> AsyncGenerator[str, None]:
        """Counts down to 0 for the user named in the ``connection_init`` payload."""
        user = info.context["connection_params"].get("user", "stranger")
        for number in range(start, -1, -1):
            yield f"{number}, {user}"


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
graphql = GraphQLServer(schema)
