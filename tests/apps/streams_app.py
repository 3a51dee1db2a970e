"""The app behind the HTTP stream tests (Server-Sent Events, multipart HTTP), served on
every server name.

Hooks and sources record under the request's ``x-token`` header (read back with
``GET /_events?token=T``, see :mod:`tests.harness.control`); ``GET /_stats?route=R`` is
``stats()`` of the server at ``R``, whole.

Paths:

``/graphql``
    defaults, every hook recording (``connect`` with the context's transport,
    ``context``, ``operation``, ``next``, ``error``, ``complete``).
``/keepalive``
    ``sse_keep_alive`` and ``multipart_heartbeat`` of ``KEEP_ALIVE`` seconds.
``/refuse``
    ``on_connect`` returns ``False``.
``/limited``
    ``max_depth=2``, ``max_aliases=1``; ``max_execution_time=LIMIT``.
``/masked``
    ``mask_errors=True``.
``/origins``
    ``allowed_origins=[GOOD_ORIGIN]``.
``/small``
    ``max_message_size=SMALL``.
``/off``
    ``sse=False, multipart=False``.
``/no-websocket``
    ``websocket=False``.
``/streams-only``
    ``http_json=False``.
``/capped``
    ``max_operations=1``.
``/shared``
    ``share_key``: every identical subscription shares one source.
``/slow``
    ``slow_consumer_timeout=SLOW_CONSUMER_TIMEOUT``.

The schema::

    type Query {
      hello: String!
      deep: Deep!                    # deep { deep { deep ... } } for the depth limit
      fail: String                   # raises FAIL_MESSAGE
      spin: String                   # takes longer than LIMIT, a slice at a time
      person: Person!
      numbers(to: Int!): [Int!]!
    }
    type Mutation { increment: Int! }
    type Subscription {
      count(to: Int!): Int!
      tracked(token: String!): String!  # "ready", then waits; records source_finally
      broken: Int!                      # 1, then its source raises FAIL_MESSAGE
      flood(token: String!): String!    # a large result as fast as it is taken
      ticks(token: String!): Int!       # 1, 2, 3... on each POST /_tick?token=T
    }
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from typing import Any

from graphql import build_schema

from gqlwire import GraphQLServer
from gqlwire.asgi_types import ASGIApplication, Receive, Scope, Send
from tests.apps.legacy_app import EVENTS, query_param, record, respond_json
from tests.harness.routes import Routes

KEEP_ALIVE = 0.2
LIMIT = 0.3
SMALL = 512
SLOW_CONSUMER_TIMEOUT = 0.5
GOOD_ORIGIN = "https://good.example"
FAIL_MESSAGE = "the resolver failed on purpose (a secret)"
FLOOD_SIZE = 64 * 1024

SDL = """
directive @defer(label: String, if: Boolean! = true) on FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @stream(label: String, if: Boolean! = true, initialCount: Int = 0) on FIELD

type Query {
  hello: String!
  deep: Deep!
  fail: String
  spin: String
  person: Person!
  numbers(to: Int!): [Int!]!
}

type Deep {
  deep: Deep
  leaf: String
}

type Person {
  name: String!
  friends: [Person!]!
}

type Mutation {
  increment: Int!
}

type Subscription {
  count(to: Int!): Int!
  tracked(token: String!): String!
  broken: Int!
  flood(token: String!): String!
  ticks(token: String!): Int!
}
"""

SCHEMA = build_schema(SDL)

_increments = 0
_ticks: dict[str, asyncio.Queue[int]] = defaultdict(asyncio.Queue)
_tick_counts: dict[str, int] = defaultdict(int)


def _increment(*_: Any) -> int:
    global _increments
    _increments += 1
    return _increments


async def _spin(*_: Any) -> str:
    await asyncio.Event().wait()  # until the time budget ends the operation
    return "never"


async def _numbers(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    for n in range(1, to + 1):
        await asyncio.sleep(0)
        yield n


async def _count(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    for n in range(1, to + 1):
        yield n


async def _tracked(_root: Any, _info: Any, token: str) -> AsyncIterator[str]:
    record(token, "source_start")
    try:
        yield "ready"
        await asyncio.Event().wait()
    finally:
        record(token, "source_finally")


async def _broken(*_: Any) -> AsyncIterator[int]:
    yield 1
    raise ValueError(FAIL_MESSAGE)


async def _flood(_root: Any, _info: Any, token: str) -> AsyncIterator[str]:
    record(token, "source_start")
    try:
        while True:
            yield "x" * FLOOD_SIZE
    finally:
        record(token, "source_finally")


async def _tick_source(_root: Any, _info: Any, token: str) -> AsyncIterator[int]:
    queue = _ticks[token]
    record(token, "source_start")
    try:
        while True:
            yield await queue.get()
    finally:
        record(token, "source_finally")


def _fail(*_: Any) -> str:
    raise ValueError(FAIL_MESSAGE)


def _deep(*_: Any) -> dict[str, Any]:
    return {"deep": None, "leaf": "leaf"}


_FRIENDS = [{"name": "Grace", "friends": []}, {"name": "Linus", "friends": []}]

_query = SCHEMA.query_type
_mutation = SCHEMA.mutation_type
_subscription = SCHEMA.subscription_type
assert _query is not None and _mutation is not None and _subscription is not None
_query.fields["hello"].resolve = lambda *_: "world"
_query.fields["deep"].resolve = _deep
_query.fields["fail"].resolve = _fail
_query.fields["spin"].resolve = _spin
_query.fields["person"].resolve = lambda *_: {"name": "Ada", "friends": _FRIENDS}
_query.fields["numbers"].resolve = _numbers
_mutation.fields["increment"].resolve = _increment
for _name, _source in (
    ("count", _count),
    ("tracked", _tracked),
    ("broken", _broken),
    ("flood", _flood),
    ("ticks", _tick_source),
):
    _subscription.fields[_name].subscribe = _source
    _subscription.fields[_name].resolve = lambda value, *_args, **_kwargs: value


def _token(ctx: Any) -> str:
    return str(ctx.headers.get("x-token", ""))


def _on_connect(ctx: Any) -> bool:
    record(_token(ctx), "connect", transport=ctx.transport, type=type(ctx).__name__)
    ctx.state["user"] = ctx.headers.get("x-user")
    return True


def _context(ctx: Any, id: Any, payload: Any, args: Any) -> dict[str, Any]:
    record(_token(ctx), "context", transport=ctx.transport, user=ctx.state.get("user"))
    return {"transport": ctx.transport}


def _on_operation(ctx: Any, id: Any, payload: Any, args: Any, result: Any) -> None:
    record(_token(ctx), "operation", id=id)


def _on_next(ctx: Any, id: Any, payload: Any, args: Any, result: Any) -> None:
    record(_token(ctx), "next")


def _on_error(ctx: Any, id: Any, payload: Any, errors: Any) -> None:
    record(_token(ctx), "error", messages=[error.message for error in errors])


def _on_complete(ctx: Any, id: Any, payload: Any) -> None:
    record(_token(ctx), "complete")


HOOKS: dict[str, Any] = {
    "on_connect": _on_connect,
    "context": _context,
    "on_operation": _on_operation,
    "on_next": _on_next,
    "on_error": _on_error,
    "on_complete": _on_complete,
}


SERVERS: dict[str, GraphQLServer] = {
    "/graphql": GraphQLServer(SCHEMA, **HOOKS),
    "/keepalive": GraphQLServer(
        SCHEMA, sse_keep_alive=KEEP_ALIVE, multipart_heartbeat=KEEP_ALIVE, **HOOKS
    ),
    "/refuse": GraphQLServer(SCHEMA, on_connect=lambda _ctx: False),
    "/limited": GraphQLServer(SCHEMA, max_depth=2, max_aliases=1, max_execution_time=LIMIT),
    "/masked": GraphQLServer(SCHEMA, mask_errors=True),
    "/origins": GraphQLServer(SCHEMA, allowed_origins=[GOOD_ORIGIN]),
    "/small": GraphQLServer(SCHEMA, max_message_size=SMALL),
    "/off": GraphQLServer(SCHEMA, sse=False, multipart=False),
    "/no-websocket": GraphQLServer(SCHEMA, websocket=False),
    "/streams-only": GraphQLServer(SCHEMA, http_json=False),
    "/capped": GraphQLServer(SCHEMA, max_operations=1, on_complete=_on_complete),
    "/shared": GraphQLServer(SCHEMA, share_key=lambda _ctx: "all", on_complete=_on_complete),
    "/slow": GraphQLServer(
        SCHEMA, slow_consumer_timeout=SLOW_CONSUMER_TIMEOUT, on_complete=_on_complete
    ),
}


async def _events_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    await respond_json(send, EVENTS.get(query_param(scope, "token"), []))


def _stats_endpoint(servers: Mapping[str, GraphQLServer]) -> ASGIApplication:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await respond_json(send, servers[query_param(scope, "route")].stats())

    return endpoint


async def _tick_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    token = query_param(scope, "token")
    _tick_counts[token] += 1
    _ticks[token].put_nowait(_tick_counts[token])
    await respond_json(send, {"ok": True})


routes = Routes(
    SERVERS,
    http={
        "/_events": _events_endpoint,
        "/_stats": _stats_endpoint(SERVERS),
        "/_tick": _tick_endpoint,
    },
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
