"""The app of ``tests/test_context.py``: hooks that report what their context holds.

``{ seen }`` answers, as a JSON string, what the ``context`` function saw of its context:
``transport``, the ``X-Probe`` header, ``cookies``, whether ``request`` and ``scope`` are
set, the names in ``extra`` (each with whether its value is set),
``connection_params``, ``state`` (which ``on_connect`` filled) and ``method`` (HTTP).

``on_connect`` records ``ctx.transport`` in ``ctx.state``; over HTTP it also sets an
``X-Seen`` header and a ``visited`` cookie on ``ctx.response``. A request whose
``X-Refuse`` header is ``401`` is refused with 401 and a ``WWW-Authenticate`` header
(any other value: refused as it is, 403); ``X-Bad-Header`` makes it set a header value
that no response can carry.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import build_schema

from gqlwire import Context, ExecutionArgs, GraphQLServer, HTTPContext
from tests.harness.routes import Routes

BAD_HEADER_VALUE = "two\r\nlines"

schema = build_schema("type Query { seen: String! }")
query_type = schema.query_type
assert query_type is not None
query_type.fields["seen"].resolve = lambda _root, info: json.dumps(info.context)


def on_connect(ctx: Context) -> bool | None:
    ctx.state["connected"] = ctx.transport
    if not isinstance(ctx, HTTPContext):
        return None
    ctx.response.headers["X-Seen"] = "yes"
    ctx.response.set_cookie("visited", "1", httponly=True, samesite="lax")
    if "x-bad-header" in ctx.headers:
        ctx.response.headers["X-Bad"] = BAD_HEADER_VALUE
    refuse = ctx.headers.get("x-refuse")
    if refuse == "401":
        ctx.response.status_code = 401
        ctx.response.headers["WWW-Authenticate"] = 'Bearer realm="gqlwire"'
    return refuse is None


def context(ctx: Context, id: Any, payload: Any, args: ExecutionArgs) -> dict[str, Any]:
    return {
        "transport": ctx.transport,
        "probe": ctx.headers.get("X-PROBE"),
        "cookies": ctx.cookies,
        "request": ctx.request is not None,
        "scope": ctx.scope is not None,
        "extra": {name: value is not None for name, value in ctx.extra.items()},
        "params": ctx.connection_params,
        "state": ctx.state,
        "method": ctx.method if isinstance(ctx, HTTPContext) else None,
    }


routes = Routes(
    {"/graphql": GraphQLServer(schema, on_connect=on_connect, context=context, keep_alive=None)}
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
