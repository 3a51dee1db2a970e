"""FastAPI with gqlwire at ``/graphql``, behind one token on both transports.

Serve it from the checkout::

    gqlwire serve examples.fastapi_app:app --server uvicorn
    uvicorn examples.fastapi_app:app                  # or the server's own command

Over HTTP, a client sends ``Authorization: Bearer s3cret``. Over WebSocket, where a browser
cannot set headers, the token travels in the ``connection_init`` payload,
``{"token": "s3cret"}``. ``on_connect`` runs once per WebSocket connection and once per
HTTP request; returning ``False`` refuses: 4403 ``Forbidden`` on a WebSocket (legacy
protocol: ``connection_error``, then a close), 403 on HTTP. ``/health`` is an ordinary
FastAPI route beside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI
from graphql import GraphQLResolveInfo, build_schema

from gqlwire import Context, GraphQLServer

TOKENS = {"s3cret": "ada"}  # token -> user; look tokens up in your own store

schema = build_schema(
    """
    type Query { me: String! }
    type Subscription { countdown(start: Int!): Int! }
    """
)


def token_of(ctx: Context) -> str | None:
    """The token of a WebSocket's ``connection_init``, or of an HTTP request's
    ``Authorization: Bearer`` header."""
    if ctx.transport == "websocket":
        token = (ctx.connection_params or {}).get("token")
        return token if isinstance(token, str) else None
    scheme, _, token = ctx.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def authenticate(ctx: Context) -> bool:
    """``on_connect``: who is calling, once per WebSocket and once per HTTP request."""
    user = TOKENS.get(token_of(ctx) or "")
    if user is None:
        return False  # WebSocket: 4403 Forbidden; HTTP: 403
    ctx.state["user"] = user
    return True


def me(info: GraphQLResolveInfo) -> str:
    return str(info.context["user"])


async def countdown(info: GraphQLResolveInfo, start: int) -> AsyncIterator[dict[str, int]]:
    for number in range(start, 0, -1):
        yield {"countdown": number}


graphql = GraphQLServer(
    schema,
    on_connect=authenticate,
    context=lambda ctx, id, payload, args: {"user": ctx.state["user"]},
    roots={"query": {"me": me}, "subscription": {"countdown": countdown}},
)

app = FastAPI()
app.router.routes.extend(graphql.routes("/graphql"))


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
