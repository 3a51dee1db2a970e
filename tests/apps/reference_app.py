"""One ASGI app holding every server configuration the ported reference tests need.

The reference suites start a fresh server per test with the options under test. Starting a
process per test and per ASGI server would be slow, so this app is started once per server
name and routes by path to many ``GraphQLServer(...).asgi()`` instances, one per configuration
(``/graphql`` is the reference fixture with default options).

Observing hooks from a test in another process: every hook of a recording configuration
appends ``[hook_name, jsonable_args]`` to a list keyed by the ``token`` query parameter of the
websocket URL, and so does the router when the server delivers ``websocket.disconnect``.
Functions that get no connection context (``execute``, ``subscribe``, ``parse``, ``validate``)
find the token in a context variable that the recording ``on_subscribe`` sets in the
operation's task. Helper endpoints (plain HTTP on the same port):

- ``GET /_events?token=T``: the recorded events, a JSON list of ``[name, args]``;
- ``POST /_pong?key=K``: publish one pong to the fixture's ``ping(key: K)`` subscription;
- ``POST /_release?key=K``: open the gate ``K`` that a held hook waits on (see :func:`gate`);
- ``GET /_pending_pongs?key=K``: how many pongs for ``K`` no subscription consumed.

Everything here is per process, which is why the test server runs as a single worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLFormattedError,
    GraphQLSchema,
    build_schema,
    parse,
    subscribe,
)
from graphql import execute as graphql_execute

from gqlwire import UNSET, ConnectionContext, ExecutionArgs, GraphQLServer
from gqlwire.asgi_types import ASGIApplication, Message, Receive, Scope, Send

from .fixture_schema import make_schema, pending_pongs, pong, schema

# Timing of the configurations that test timers. The reference uses 10-50 ms; these are wider
# so a loaded 2-core CI machine keeps the order of events the tests rely on.
INIT_TIMEOUT_SHORT = 0.01  # /init-timeout-10ms: nothing is ever sent, so tightness is harmless
SLOW_CONNECT_INIT_TIMEOUT = 0.5  # /slow-connect: the init arrives well within this...
SLOW_CONNECT_DELAY = 1.0  # ...and on_connect outlives the timeout
KEEP_ALIVE_INTERVAL = 0.2  # /keepalive-200ms: a ping every 0.2 s...
PONG_TIMEOUT = 0.6  # ...each of which must be answered within 0.6 s

LONG_REASON = "i am exactly 124 characters long " * 3 + "i am exactly 124 characte"
REASON_123 = LONG_REASON[:123]
assert len(LONG_REASON) == 124 and len(REASON_123) == 123


# -- what tests observe -------------------------------------------------------------------

_events: dict[str, list[list[Any]]] = {}
_gates: dict[str, asyncio.Event] = {}
_token: contextvars.ContextVar[str | None] = contextvars.ContextVar("token", default=None)


def token_of(ctx: ConnectionContext) -> str | None:
    """The ``token`` query parameter of the websocket request, if any."""
    scope = ctx.extra.get("scope") or {}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


def record(token: str | None, name: str, args: dict[str, Any] | None = None) -> None:
    if token is not None:
        _events.setdefault(token, []).append([name, args or {}])


def record_here(name: str, args: dict[str, Any] | None = None) -> None:
    """Record for the operation running in this task (set by the recording ``on_subscribe``)."""
    record(_token.get(), name, args)


def _gate_event(key: str) -> asyncio.Event:
    return _gates.setdefault(key, asyncio.Event())


async def gate(key: str | None) -> None:
    """Wait until a test posts ``/_release?key=<key>`` (maybe it already did). Held hooks use
    the connection's token as the key."""
    await _gate_event(str(key)).wait()


# -- execute / subscribe with graphql-core -------------------------------------------------


def _core_kwargs(args: ExecutionArgs) -> dict[str, Any]:
    return {
        "schema": args.schema,
        "document": args.document,
        "root_value": None if args.root_value is UNSET else args.root_value,
        "context_value": None if args.context_value is UNSET else args.context_value,
        "variable_values": args.variable_values,
        "operation_name": args.operation_name,
    }


async def core_execute(args: ExecutionArgs) -> ExecutionResult:
    result = graphql_execute(**_core_kwargs(args))
    if isinstance(result, ExecutionResult):
        return result
    return await result


async def core_subscribe(args: ExecutionArgs) -> Any:
    # graphql-core 3.2's subscribe() is a coroutine function; 3.3's returns the stream
    # (or an awaitable of it when the source is made asynchronously).
    result = subscribe(**_core_kwargs(args))
    return await result if inspect.isawaitable(result) else result


# -- recording hooks -------------------------------------------------------------------------


def _reason(reason: Any) -> Any:
    return reason if reason is None or isinstance(reason, str) else str(reason)


def _describe(hook: str, ctx: ConnectionContext, args: tuple[Any, ...]) -> dict[str, Any]:
    if hook == "on_connect":
        scope = ctx.extra.get("scope") or {}
        return {
            "connection_params": ctx.connection_params,
            "connection_init_received": ctx.connection_init_received,
            "acknowledged": ctx.acknowledged,
            "protocol": ctx.protocol,
            "scope_type": scope.get("type"),
            "path": scope.get("path"),
            "query_string": scope.get("query_string", b"").decode("latin-1"),
            "has_headers": bool(scope.get("headers")),
        }
    if hook in ("on_disconnect", "on_close"):
        code, reason = args
        return {"code": code, "reason": _reason(reason)}
    described: dict[str, Any] = {"id": args[0]}
    if hook == "on_subscribe":
        described["payload"] = args[1]
    if hook == "on_error":
        described["messages"] = [error.message for error in args[2]]
    return described


RECORDED_HOOKS = (
    "on_connect",
    "on_subscribe",
    "on_operation",
    "on_next",
    "on_error",
    "on_complete",
    "on_disconnect",
    "on_close",
)


def _recording(hook: str, user_hook: Callable[..., Any] | None) -> Callable[..., Any]:
    """``user_hook`` (or no-op behaviour) with its call recorded under the connection's token."""

    async def recording_hook(ctx: ConnectionContext, *args: Any) -> Any:
        token = token_of(ctx)
        if hook == "on_subscribe":
            _token.set(token)  # for execute/subscribe/parse/validate in this operation's task
        record(token, hook, _describe(hook, ctx, args))
        if user_hook is None:
            return None
        result = user_hook(ctx, *args)
        if inspect.isawaitable(result):
            result = await result
        return result

    recording_hook.__name__ = hook
    return recording_hook


def recorded_server(*, record_hooks: bool = True, **options: Any) -> GraphQLServer:
    """A ``GraphQLServer`` for the fixture schema, ``debug=True`` (the reference reports the
    thrown message as the 4500 reason), with every hook recorded unless ``record_hooks`` is
    false."""
    options.setdefault("debug", True)
    server_schema = options.pop("schema", schema)
    if record_hooks:
        for hook in RECORDED_HOOKS:
            options[hook] = _recording(hook, options.get(hook))
    return GraphQLServer(server_schema, **options)


# -- configurations: top level of server.test.ts ------------------------------------------

_own_schema = make_schema()  # a distinct object, so identity checks prove which schema was used


async def _schema_from_fn(
    ctx: ConnectionContext, id: str, payload: dict[str, Any], args: Any
) -> GraphQLSchema:
    record(token_of(ctx), "schema", {"id": id})
    await asyncio.sleep(0)  # resolved like the reference's Promise.resolve(schema)
    return _own_schema


async def _execute_checking_schema(args: ExecutionArgs) -> ExecutionResult:
    record_here("execute", {"schema_is_resolved": args.schema is _own_schema})
    return await core_execute(args)


def _recording_parse(query: str) -> Any:
    record_here("parse", {"query": query})
    return parse(query)


def _nothing_is_valid(_schema: GraphQLSchema, _document: Any) -> list[GraphQLError]:
    return [GraphQLError("Nothing is valid")]


_roots_schema = build_schema(
    """
    type Query {
      hello: String
    }
    type Subscription {
      count: Int
    }
    """
)


async def _count(_info: Any) -> AsyncIterator[dict[str, int]]:
    for number in (1, 2, 3):
        yield {"count": number}


_roots = {"query": {"hello": lambda _info: "Hello World!"}, "subscription": {"count": _count}}


class _Marker:
    """An object only identity can match (the reference's ``const context = {}``)."""


_config_context = _Marker()


async def _execute_checking_context(args: ExecutionArgs) -> ExecutionResult:
    record_here("execute", {"context_is_config": args.context_value is _config_context})
    return await core_execute(args)


async def _subscribe_checking_context(args: ExecutionArgs) -> Any:
    record_here("subscribe", {"context_is_config": args.context_value is _config_context})
    return await core_subscribe(args)


_getvalue_document = parse("query { getValue }")
_fn_context = _Marker()


def _args_without_context(*_: Any) -> ExecutionArgs:
    return ExecutionArgs(schema=schema, document=_getvalue_document)


def _context_fn(ctx: ConnectionContext, id: str, payload: Any, args: ExecutionArgs) -> Any:
    record(
        token_of(ctx),
        "context",
        {"document_from_on_subscribe": args.document is _getvalue_document},
    )
    return _fn_context


async def _execute_checking_injected_context(args: ExecutionArgs) -> ExecutionResult:
    record_here(
        "execute",
        {
            "document_from_on_subscribe": args.document is _getvalue_document,
            "context_injected": args.context_value is _fn_context,
        },
    )
    return await core_execute(args)


_roots_query_root = _Marker()


async def _execute_checking_root(args: ExecutionArgs) -> ExecutionResult:
    record_here(
        "execute",
        {
            "document_from_on_subscribe": args.document is _getvalue_document,
            "root_is_roots_query": args.root_value is _roots_query_root,
        },
    )
    return await core_execute(args)


def _args_with_context(*_: Any) -> ExecutionArgs:
    return ExecutionArgs(schema=schema, document=_getvalue_document, context_value="me-me")


async def _execute_recording_context(args: ExecutionArgs) -> ExecutionResult:
    record_here("execute", {"context_value": args.context_value})
    return await core_execute(args)


# -- configurations: Subscribe of server.test.ts --------------------------------------------

_nope_document = parse("query Nope { getValue }")


def _nope_args(*_: Any) -> ExecutionArgs:
    return ExecutionArgs(
        schema=schema, document=_nope_document, operation_name="Nope", root_value=None
    )


async def _execute_checking_nope(args: ExecutionArgs) -> ExecutionResult:
    record_here(
        "execute",
        {
            "schema_is_fixture": args.schema is schema,
            "root_value_is_none": args.root_value is None,
            "operation_name": args.operation_name,
            "variable_values": args.variable_values,
        },
    )
    return await core_execute(args)


def _report_me(*_: Any) -> list[GraphQLError]:
    return [GraphQLError("Report"), GraphQLError("Me")]


def _hey_there(*_: Any) -> dict[str, Any]:
    return {"data": {"hey": "there"}}


def _itsa_me(*_: Any) -> list[GraphQLFormattedError]:
    return [GraphQLError("Itsa me!").formatted, GraphQLError("Anda me!").formatted]


async def _replaced_results() -> AsyncIterator[ExecutionResult]:
    for _ in range(3):
        yield ExecutionResult(data={"replaced": "with me"})


def _replace_with_stream(*_: Any) -> AsyncIterator[ExecutionResult]:
    return _replaced_results()


async def _live_query(_args: ExecutionArgs) -> AsyncIterator[ExecutionResult]:
    for value in ("Hi", "Hello", "Sup"):
        yield ExecutionResult(data={"getValue": value})


async def _held_execute(args: ExecutionArgs) -> ExecutionResult:
    token = _token.get()
    record(token, "execute")
    await gate(token)
    record(token, "execute_resolved")
    return ExecutionResult(data={"getValue": "nope"})


async def _never(*_: Any) -> None:
    await asyncio.Event().wait()


_persisted_queries = {"iWantTheValue": parse("query GetValue { getValue }")}


def _persisted(ctx: ConnectionContext, id: str, payload: dict[str, Any]) -> ExecutionArgs:
    return ExecutionArgs(
        schema=schema,
        document=_persisted_queries[payload["query"]],
        variable_values=payload.get("variables"),
    )


async def _stalled_subscribe(args: ExecutionArgs) -> Any:
    token = _token.get()
    record(token, "subscribe")
    await gate(token)
    record(token, "subscribe_resumed")
    return await core_subscribe(args)


async def _held_oopsie(ctx: ConnectionContext, id: str, payload: Any) -> list[GraphQLError]:
    await gate(token_of(ctx))
    record(token_of(ctx), "on_subscribe_resumed")
    return [GraphQLError("Oopsie!")]


# -- configurations: Disconnect/close of server.test.ts -------------------------------------


async def _held_on_operation(ctx: ConnectionContext, *_: Any) -> None:
    await gate(token_of(ctx))
    record(token_of(ctx), "on_operation_resumed")


class _ReturnTracking:
    """Wraps a subscription's stream and records its closing; a ``slow`` one closes only once
    its connection's gate is released."""

    def __init__(self, inner: Any, token: str | None, slow: bool) -> None:
        self._inner = inner
        self._token = token
        self._slow = slow

    def __aiter__(self) -> _ReturnTracking:
        return self

    async def __anext__(self) -> Any:
        return await self._inner.__anext__()

    async def aclose(self) -> None:
        record(self._token, "aclose", {"slow": self._slow})
        if self._slow:
            await gate(self._token)
        await self._inner.aclose()
        record(self._token, "aclosed", {"slow": self._slow})


async def _tracking_subscribe(args: ExecutionArgs) -> Any:
    """graphql-core's subscribe, with the closing of the resulting stream recorded."""
    result = await core_subscribe(args)
    if isinstance(result, ExecutionResult):
        return result
    return _ReturnTracking(result, _token.get(), slow=False)


_wrapped_per_token: dict[str | None, int] = {}


def _problematic_return(
    ctx: ConnectionContext, id: str, payload: Any, args: Any, result: Any
) -> Any:
    token = token_of(ctx)
    count = _wrapped_per_token[token] = _wrapped_per_token.get(token, 0) + 1
    return _ReturnTracking(result, token, slow=count == 1)


# -- configurations: use.test.ts ------------------------------------------------------------


def _stop(*_: Any) -> Any:
    raise RuntimeError("Stop")


def _teapot(*_: Any) -> Any:
    raise RuntimeError("I'm a teapot")


def _long_reason(*_: Any) -> Any:
    raise RuntimeError(LONG_REASON)


def _reason_123(*_: Any) -> Any:
    raise RuntimeError(REASON_123)


def _empty_errors(*_: Any) -> list[GraphQLError]:
    return []


def _raise_for_operation_raise(ctx: ConnectionContext, id: str, payload: dict[str, Any]) -> None:
    if payload.get("operationName") == "Raise":
        raise RuntimeError("A secret the client must not see")


THROWING_HOOKS = (
    "on_connect",
    "on_subscribe",
    "on_operation",
    "execute",
    "subscribe",
    "on_next",
    "on_error",
    "on_complete",
)


def _configurations() -> dict[str, GraphQLServer]:
    configs: dict[str, GraphQLServer] = {
        # the reference fixture with default options
        "/graphql": recorded_server(),
        # no hooks at all ("not implemented")
        "/bare": recorded_server(record_hooks=False),
        # top level of server.test.ts
        "/schema-fn": recorded_server(schema=_schema_from_fn, execute=_execute_checking_schema),
        "/custom-parse": recorded_server(parse=_recording_parse),
        "/custom-validate": recorded_server(validate=_nothing_is_valid),
        "/roots": recorded_server(schema=_roots_schema, roots=_roots),
        "/context-value": recorded_server(
            context=_config_context,
            execute=_execute_checking_context,
            subscribe=_subscribe_checking_context,
        ),
        "/onsubscribe-context-fn": recorded_server(
            on_subscribe=_args_without_context,
            context=_context_fn,
            execute=_execute_checking_injected_context,
            subscribe=core_subscribe,
        ),
        "/onsubscribe-roots": recorded_server(
            roots={"query": _roots_query_root},
            on_subscribe=_args_without_context,
            execute=_execute_checking_root,
            subscribe=core_subscribe,
        ),
        "/onsubscribe-context-preferred": recorded_server(
            context="not-me",
            on_subscribe=_args_with_context,
            execute=_execute_recording_context,
            subscribe=core_subscribe,
        ),
        # Connect
        "/connect-false": recorded_server(on_connect=lambda _ctx: False),
        "/connect-true": recorded_server(on_connect=lambda _ctx: True),
        "/connect-none": recorded_server(on_connect=lambda _ctx: None),
        "/connect-payload": recorded_server(on_connect=lambda _ctx: {"itsa": "me"}),
        "/init-timeout-10ms": recorded_server(connection_init_wait_timeout=INIT_TIMEOUT_SHORT),
        "/slow-connect": recorded_server(
            connection_init_wait_timeout=SLOW_CONNECT_INIT_TIMEOUT,
            on_connect=_slow_connect,
        ),
        # Subscribe
        "/onsubscribe-args": recorded_server(
            schema=None,
            roots={"query": {"not": "me"}},
            execute=_execute_checking_nope,
            on_subscribe=_nope_args,
        ),
        "/onsubscribe-errors": recorded_server(on_subscribe=_report_me),
        "/on-next": recorded_server(on_next=_hey_there),
        "/on-error": recorded_server(on_error=_itsa_me),
        "/on-operation": recorded_server(on_operation=_replace_with_stream),
        "/live-query": recorded_server(execute=_live_query),
        "/held-execute": recorded_server(execute=_held_execute),
        "/onsubscribe-never": recorded_server(on_subscribe=_never),
        "/persisted": recorded_server(on_subscribe=_persisted),
        "/stalled-subscribe": recorded_server(subscribe=_stalled_subscribe),
        "/onsubscribe-held-errors": recorded_server(on_subscribe=_held_oopsie),
        # Disconnect/close
        "/on-operation-held": recorded_server(
            on_operation=_held_on_operation, subscribe=_tracking_subscribe
        ),
        "/problematic-return": recorded_server(on_operation=_problematic_return),
        # use.test.ts
        "/no-schema": recorded_server(schema=None),
        "/empty-array-onsubscribe": recorded_server(on_subscribe=_empty_errors),
        "/teapot": recorded_server(on_connect=_teapot),
        "/long-reason": recorded_server(on_connect=_long_reason),
        "/reason-123": recorded_server(on_connect=_reason_123),  # addition: the boundary
        "/keepalive-200ms": recorded_server(
            keep_alive=KEEP_ALIVE_INTERVAL, pong_timeout=PONG_TIMEOUT
        ),
        "/no-keepalive": recorded_server(keep_alive=None),
        # addition: debug=False masks exceptions from user code, never GraphQL errors
        "/debug-off": recorded_server(debug=False, on_subscribe=_raise_for_operation_raise),
    }
    for hook in THROWING_HOOKS:
        throwing: dict[str, Any] = {hook: _stop}
        configs[f"/throwing-{hook}"] = recorded_server(**throwing)
    return configs


async def _slow_connect(_ctx: ConnectionContext) -> bool:
    await asyncio.sleep(SLOW_CONNECT_DELAY)
    return True


# -- the router ------------------------------------------------------------------------------


async def _respond(send: Send, status: int, body: Any = None) -> None:
    data = b"" if body is None else json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _drain_body(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


def _recording_disconnect(scope: Scope, receive: Receive) -> Receive:
    """``receive``, recording ``websocket.disconnect`` under the connection's token: the moment
    the server tells the app the client has gone, before any hook runs."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    token = query.get("token", [None])[0]
    if token is None:
        return receive

    async def recording_receive() -> Message:
        message = await receive()
        if message.get("type") == "websocket.disconnect":
            record(token, "websocket.disconnect", {"code": message.get("code")})
        return message

    return recording_receive


class ReferenceApp:
    """Routes websocket and HTTP requests by path; answers the test helper endpoints."""

    def __init__(self, configs: dict[str, GraphQLServer]) -> None:
        self.servers = configs
        self.apps: dict[str, ASGIApplication] = {
            path: server.asgi() for path, server in configs.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/_"):
            await self._helper(scope, receive, send, path)
            return
        app = self.apps.get(path)
        if app is not None and scope["type"] == "websocket":
            await app(scope, _recording_disconnect(scope, receive), send)
        elif app is not None:
            await app(scope, receive, send)
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
        else:
            await _drain_body(receive)
            await _respond(send, 404, {"error": f"no configuration at {path}"})

    async def _helper(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        await _drain_body(receive)
        query: dict[str, list[str]] = parse_qs(scope.get("query_string", b"").decode("latin-1"))

        def param(name: str) -> str:
            return query.get(name, [""])[0]

        if path == "/_events":
            await _respond(send, 200, _events.get(param("token"), []))
        elif path == "/_pong":
            pong(param("key"))
            await _respond(send, 200, {"pending": pending_pongs(param("key"))})
        elif path == "/_release":
            _gate_event(param("key")).set()
            await _respond(send, 200, {})
        elif path == "/_pending_pongs":
            await _respond(send, 200, {"pending": pending_pongs(param("key"))})
        else:
            await _respond(send, 404, {"error": f"unknown helper {path}"})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run every configuration's lifespan alongside the server's, step by step."""
        children = [_LifespanChild(app, scope) for app in self.apps.values()]
        while True:
            message = await receive()
            kind = message["type"]  # lifespan.startup or lifespan.shutdown
            failures = [f for f in await asyncio.gather(*(c.step(kind) for c in children)) if f]
            if failures:
                await send({"type": f"{kind}.failed", "message": "; ".join(failures)})
                return
            await send({"type": f"{kind}.complete"})
            if kind == "lifespan.shutdown":
                return


class _LifespanChild:
    """One configuration's lifespan, driven by :class:`ReferenceApp`."""

    def __init__(self, app: ASGIApplication, scope: Scope) -> None:
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task = asyncio.ensure_future(app(dict(scope), self._inbox.get, self._outbox.put))
        self._done = False

    async def step(self, kind: str) -> str | None:
        """Deliver ``kind``; return a failure message, or ``None`` when it went well (an app
        without lifespan support, one that returns or raises, counts as well)."""
        if self._done:
            return None
        await self._inbox.put({"type": kind})
        reply = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({reply, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not reply.done():
            reply.cancel()
            self._done = True
            if not self._task.cancelled():
                self._task.exception()  # unsupported lifespan: mark the error as read
            return None
        answer = reply.result()
        if answer["type"].endswith(".failed"):
            return str(answer.get("message", ""))
        return None


app = ReferenceApp(_configurations())


# -- aiohttp ------------------------------------------------------------------------------------
# The same configurations and helper endpoints for the aiohttp server (tests.harness.routes).
# The hooks above find the handshake in ``ctx.extra["scope"]``; on aiohttp ``ctx.extra`` holds
# the aiohttp request instead. ``token_of`` and ``_describe`` are looked up when a hook runs,
# so rebinding them here makes every hook read an ASGI-shaped view of that request.

from tests.harness.routes import Routes, with_asgi_scope  # noqa: E402

_token_of_scope = token_of
_describe_scope = _describe


def token_of(ctx: ConnectionContext) -> str | None:  # type: ignore[no-redef]  # rebound
    return _token_of_scope(with_asgi_scope(ctx))


def _describe(  # type: ignore[no-redef]  # rebound, see above
    hook: str, ctx: ConnectionContext, args: tuple[Any, ...]
) -> dict[str, Any]:
    return _describe_scope(hook, with_asgi_scope(ctx), args)


aiohttp_app = Routes(
    app.servers,
    http={path: app for path in ("/_events", "/_pong", "/_release", "/_pending_pongs")},
).aiohttp()
