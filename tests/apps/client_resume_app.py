"""A server whose subscription honours the resume contract by itself, for the client's
resume tests (tests/client/test_resume.py).

The subscription ``numbers`` reads a per-token log of numbers that the test publishes.
Its resolver does what a history broker does for the server: it reads the request's
``extensions.cursor`` (the ``context`` hook hands it over), starts after it, and each
result carries ``extensions.cursor`` (the number, as a string, added by ``on_next``).
Numbers that the test expired are no longer in the log: resuming before them yields the
oldest one left with ``extensions.gap`` (reason ``expired``); a cursor that is not a
number gets reason ``invalid``. Without a cursor the subscription starts at "now".

A connection's *token* is the ``token`` query parameter of its URL (WebSocket or HTTP).

HTTP control paths:

``POST /_publish?token=T&count=N``
    appends the next N numbers (1, 2, ... per token) to T's log.
``POST /_expire?token=T&before=N``
    drops the numbers below N from T's log (a broker's retention).
``GET /_state?token=T``
    ``{"subscribes": [{"payload": request payload, "last_event_id": its
    Last-Event-ID header or null}, in order], "starts": sources started, "active":
    sources running}``.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from graphql import GraphQLField, GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema

from gqlwire import GraphQLServer
from gqlwire.asgi_types import Receive, Scope, Send
from tests.harness.routes import Routes, asgi_scope, respond

TOPIC = "numbers"


@dataclass
class NumberLog:
    """What a history broker keeps of one topic: the numbers still retained."""

    retained: list[int] = field(default_factory=list)
    last: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    subscribes: list[dict[str, Any]] = field(default_factory=list)
    starts: int = 0
    active: int = 0

    def has_after(self, position: int) -> bool:
        return self.last > position

    def oldest(self) -> int:
        return self.retained[0] if self.retained else self.last + 1


LOGS: defaultdict[str, NumberLog] = defaultdict(NumberLog)


def _query_param(scope: Any, name: str) -> str:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else ""


def _token(ctx: Any) -> str:
    return _query_param(asgi_scope(ctx.extra), "token")


def _start_position(log: NumberLog, cursor: Any) -> tuple[int, dict[str, Any] | None]:
    """The number to start after, and the gap to report (if any), for `cursor`."""
    if cursor is None:
        return log.last, None  # a new subscription: from now on
    try:
        after = int(cursor)
    except (TypeError, ValueError):
        gap = {"topic": TOPIC, "after": cursor, "reason": "invalid"}
        return log.oldest() - 1, gap
    if after + 1 < log.oldest():
        return log.oldest() - 1, {"topic": TOPIC, "after": cursor, "reason": "expired"}
    return after, None


async def _numbers(_root: Any, info: Any) -> AsyncIterator[dict[str, int]]:
    context: dict[str, Any] = info.context
    log = LOGS[context["token"]]
    position, gap = _start_position(log, context["cursor"])
    context["gap"] = gap
    log.starts += 1
    log.active += 1
    try:
        while True:
            async with log.changed:
                await log.changed.wait_for(functools.partial(log.has_after, position))
                pending = [number for number in log.retained if number > position]
            for number in pending:
                position = number
                yield {"numbers": number}
    finally:
        log.active -= 1


SCHEMA = GraphQLSchema(
    query=GraphQLObjectType("Query", {"ready": GraphQLField(GraphQLInt, resolve=lambda *_: 1)}),
    subscription=GraphQLObjectType(
        "Subscription",
        {"numbers": GraphQLField(GraphQLNonNull(GraphQLInt), subscribe=_numbers)},
    ),
)


def _on_subscribe(ctx: Any, id: str, payload: dict[str, Any]) -> None:
    last_event_id = ctx.headers.get("last-event-id")
    LOGS[_token(ctx)].subscribes.append({"payload": payload, "last_event_id": last_event_id})


def _context(ctx: Any, id: str, payload: dict[str, Any], args: Any) -> dict[str, Any]:
    extensions = payload.get("extensions") or {}
    return {"token": _token(ctx), "cursor": extensions.get("cursor"), "gap": None}


def _on_next(ctx: Any, id: str, payload: Any, args: Any, result: Any) -> dict[str, Any]:
    number = result.data["numbers"]
    extensions: dict[str, Any] = {"cursor": str(number)}
    gap = args.context_value.pop("gap", None)
    if gap is not None:
        extensions["gap"] = gap  # on the first result after the resume only
    return {"data": result.data, "extensions": extensions}


# -- control endpoints -----------------------------------------------------------------------


async def _respond_json(send: Send, body: Any) -> None:
    await respond(send, 200, json.dumps(body).encode())


async def _publish(scope: Scope, receive: Receive, send: Send) -> None:
    log = LOGS[_query_param(scope, "token")]
    async with log.changed:
        for _ in range(int(_query_param(scope, "count") or 1)):
            log.last += 1
            log.retained.append(log.last)
        log.changed.notify_all()
    await _respond_json(send, {"last": log.last})


async def _expire(scope: Scope, receive: Receive, send: Send) -> None:
    log = LOGS[_query_param(scope, "token")]
    before = int(_query_param(scope, "before"))
    log.retained = [number for number in log.retained if number >= before]
    await _respond_json(send, {"oldest": log.oldest()})


async def _state(scope: Scope, receive: Receive, send: Send) -> None:
    log = LOGS[_query_param(scope, "token")]
    await _respond_json(
        send, {"subscribes": log.subscribes, "starts": log.starts, "active": log.active}
    )


routes = Routes(
    {
        "/graphql": GraphQLServer(
            SCHEMA,
            context=_context,
            on_subscribe=_on_subscribe,
            on_next=_on_next,
            keep_alive=None,
            debug=True,
        )
    },
    http={"/_publish": _publish, "/_expire": _expire, "/_state": _state},
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
