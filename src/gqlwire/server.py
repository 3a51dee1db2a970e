"""GraphQLServer: the options, checked when it is built, and the apps that serve them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .connection import SHUTDOWN, ConnectionRegistry
from .execution import (
    DEFAULT_DOCUMENT_CACHE_BYTES,
    DEFAULT_EXECUTION_TIME_SLICE,
    DEFAULT_MAX_EXECUTION_TIME,
    DEFAULT_MAX_TOKENS,
)
from .limits import (
    DEFAULT_MAX_ALIASES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_DIRECTIVES,
    DEFAULT_MAX_FIELDS,
    DEFAULT_MAX_ROOT_FIELDS,
)
from .observe import chain
from .options import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_SSE_MAX_STREAMS,
    ServerOptions,
)
from .outbox import OverflowPolicy
from .protocol import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS
from .protocol.machine import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_MESSAGES_PER_SECOND,
    DEFAULT_MESSAGE_BURST,
)
from .runtime import ServerRuntime
from .schema_libraries import default_context
from .sse_single import SingleConnectionMode

if TYPE_CHECKING:
    from aiohttp import web
    from graphql import DocumentNode, GraphQLError, GraphQLSchema
    from starlette.routing import BaseRoute

    from .adapters.asgi import ASGIApp
    from .execution import ExecuteFunction
    from .hooks import Hook
    from .http import HTTPRoute
    from .observe import Instrumentation


class GraphQLServer:
    """GraphQL over WebSocket (``graphql-transport-ws`` and legacy ``graphql-ws``) and
    over HTTP, for one schema.

    ``schema`` is a graphql-core ``GraphQLSchema``; a Strawberry, Ariadne or Graphene
    schema; a function ``(ctx, id, payload, args) -> schema`` (sync or async) for a
    schema chosen per operation; or ``None`` when ``on_subscribe`` always returns
    complete :class:`~gqlwire.ExecutionArgs`.

    The options and hooks are graphql-ws's ``ServerOptions`` in snake_case, with the
    same arguments and the same meaning of return values; hooks may be plain functions
    or coroutine functions. Every option is keyword-only and checked here, when the
    server is built: a misspelt name is a ``TypeError``, a hook that cannot be called or
    a value out of range a ``TypeError`` or ``ValueError`` naming the option. The
    README's configuration reference gives each one in full; in short (``ctx`` is a
    :class:`~gqlwire.Context`, ``id`` the operation id, ``None`` over HTTP):

    Executing
        - ``context``: the resolvers' ``context_value``, or ``(ctx, id, payload, args)
          -> value`` per operation (default: what Strawberry and Ariadne give).
        - ``roots``: the root value by operation type (``{"query": ..., ...}``).
        - ``parse``, ``validate``, ``execute``, ``subscribe``: replace graphql-core's.
        - ``strawberry_pipeline``: run a Strawberry schema through Strawberry's own
          ``execute``/``subscribe`` (``None``: only when its extensions need it).
        - ``compile_subscriptions``: run each subscription's events through a plan
          compiled once per subscription (results identical to graphql-core's);
          ``False`` runs graphql-core's executor for every event.
        - ``compile_queries``: run queries (over HTTP and WebSocket) through a plan
          compiled once per query text and variables, under the same time budget
          (results identical to graphql-core's); ``False`` runs graphql-core's
          executor for every query.

    Hooks
        - ``on_connect(ctx)``: ``False`` refuses, a dict is the ack payload.
        - ``on_subscribe(ctx, id, payload)``: ``ExecutionArgs`` to run, a list of
          ``GraphQLError`` to answer with, or ``None``.
        - ``on_operation(ctx, id, payload, args, result)``, ``on_next(...)``: a truthy
          return replaces the result; ``on_error(ctx, id, payload, errors)``: the errors.
        - ``on_complete(ctx, id, payload)``; on WebSocket only, ``on_disconnect(ctx,
          code, reason)`` (acknowledged connections) and ``on_close(ctx, code, reason)``.
        - ``share_key(ctx)``: subscriptions with an equal key (and document, operation
          name, variables) share one source; ``None`` never shares.

    Protocol (seconds; ``None`` disables)
        - ``protocols``: the subprotocols served (both by default).
        - ``connection_init_wait_timeout`` (3), ``keep_alive`` (12), ``pong_timeout``
          (``keep_alive``). Each fires after its delay, and at most a sixteenth of it
          later (up to 1/256 s for short ones, never more than 1 s): the timers of every
          connection share one timer wheel (:mod:`gqlwire.timers`).
        - ``max_subscriptions_per_connection`` (100), ``max_message_size`` (1 MiB; HTTP
          bodies too), ``max_messages_per_second`` (100) with bursts of
          ``message_burst`` (200).

    Security
        - ``allowed_origins``: browser origins accepted (``None``: any);
          ``csrf_prevention`` (``True``): refuse HTTP requests a cross-site page could
          send without a preflight.
        - ``graphiql`` (``True``): a browser opening the endpoint gets GraphiQL, offline.
        - ``debug``: show application exceptions' messages to clients;
          ``mask_errors``: hide unexpected resolver errors' messages.
        - ``introspection`` (``True``), ``hide_suggestions`` (``None``: hidden exactly
          when introspection is off).
        - Documents: ``document_cache_size`` (1000 entries), ``document_cache_bytes``
          (64 MiB), ``max_tokens``, ``max_depth``, ``max_aliases``, ``max_root_fields``,
          ``max_fields``, ``max_directives``; execution: ``max_execution_time`` (10 s) in slices of
          ``execution_time_slice`` (0.02 s).
        - ``max_connections`` (10 000 WebSockets and HTTP streams), ``max_operations``
          (on all of them).

    Streams over HTTP (docs/streams.md)
        - ``websocket`` (``True``): both WebSocket subprotocols; ``False`` refuses every
          handshake with 403.
        - ``http_json`` (``True``): GraphQL over HTTP with one JSON result per request;
          ``False`` leaves the streaming transports, and a request that accepts only JSON
          gets 406.
        - ``sse`` (``True``): GraphQL over Server-Sent Events, with a keep-alive comment
          every ``sse_keep_alive`` seconds (12).
        - ``multipart`` (``True``): multipart HTTP (Apollo's subscriptions, incremental
          delivery), with a heartbeat every ``multipart_heartbeat`` seconds (5).

    GraphQL over SSE, single connection mode (docs/streams.md)
        - ``sse_single_connection`` (``False``: needs sticky sessions behind a load
          balancer), ``sse_reservation_timeout`` (10 s for a reserved stream to open),
          ``sse_max_streams`` (10 000 reservations and streams per process).

    Slow clients
        - ``max_pending_messages`` (1000) and ``max_pending_bytes`` (4 MiB) queued per
          socket; ``slow_consumer_timeout`` (2 s) without progress closes it with 1013;
          ``overflow_policy`` (``"close"`` or ``"drop_oldest"``) for shared events.
        - ``cleanup_timeout`` (5 s): how long a closing connection waits for its
          operations' cleanup before the last hooks.

    Metrics and tracing (README, "Metrics and tracing"; off by default, and then no
    hook of theirs runs)
        - ``metrics``: a :class:`gqlwire.metrics.PrometheusMetrics`, which also answers
          ``GET /metrics`` on this server's apps.
        - ``tracing``: a :class:`gqlwire.tracing.OpenTelemetryTracing`: a span per
          operation.
    """

    def __init__(
        self,
        schema: Any,
        *,
        context: Any = default_context,
        roots: Mapping[str, Any] | None = None,
        parse: Callable[[str], DocumentNode] | None = None,
        validate: Callable[[GraphQLSchema, DocumentNode], Sequence[GraphQLError]] | None = None,
        execute: ExecuteFunction | None = None,
        subscribe: ExecuteFunction | None = None,
        on_connect: Hook | None = None,
        on_disconnect: Hook | None = None,
        on_close: Hook | None = None,
        on_subscribe: Hook | None = None,
        on_operation: Hook | None = None,
        on_next: Hook | None = None,
        on_error: Hook | None = None,
        on_complete: Hook | None = None,
        connection_init_wait_timeout: float | None = 3.0,
        keep_alive: float | None = 12.0,
        pong_timeout: float | None = None,
        max_subscriptions_per_connection: int | None = 100,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_messages_per_second: float | None = DEFAULT_MAX_MESSAGES_PER_SECOND,
        message_burst: int = DEFAULT_MESSAGE_BURST,
        allowed_origins: Sequence[str] | None = None,
        csrf_prevention: bool = True,
        graphiql: bool = True,
        debug: bool = False,
        mask_errors: bool = False,
        protocols: Sequence[str] = (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS),
        document_cache_size: int = 1000,
        document_cache_bytes: int | None = DEFAULT_DOCUMENT_CACHE_BYTES,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
        max_depth: int | None = DEFAULT_MAX_DEPTH,
        max_aliases: int | None = DEFAULT_MAX_ALIASES,
        max_root_fields: int | None = DEFAULT_MAX_ROOT_FIELDS,
        max_fields: int | None = DEFAULT_MAX_FIELDS,
        max_directives: int | None = DEFAULT_MAX_DIRECTIVES,
        max_execution_time: float | None = DEFAULT_MAX_EXECUTION_TIME,
        execution_time_slice: float | None = DEFAULT_EXECUTION_TIME_SLICE,
        introspection: bool = True,
        hide_suggestions: bool | None = None,
        cleanup_timeout: float = 5.0,
        max_pending_messages: int | None = 1000,
        max_pending_bytes: int | None = DEFAULT_MAX_PENDING_BYTES,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        max_operations: int | None = None,
        share_key: Hook | None = None,
        slow_consumer_timeout: float = 2.0,
        overflow_policy: OverflowPolicy | Literal["close", "drop_oldest"] = OverflowPolicy.CLOSE,
        sse_single_connection: bool = False,
        sse_reservation_timeout: float | None = 10.0,
        sse_max_streams: int | None = DEFAULT_SSE_MAX_STREAMS,
        strawberry_pipeline: bool | None = None,
        compile_subscriptions: bool = True,
        compile_queries: bool = True,
        websocket: bool = True,
        http_json: bool = True,
        sse: bool = True,
        sse_keep_alive: float = 12.0,
        multipart: bool = True,
        multipart_heartbeat: float = 5.0,
        metrics: Instrumentation | None = None,
        tracing: Instrumentation | None = None,
    ) -> None:
        self._build(
            ServerOptions(
                schema=schema,
                context=context,
                roots=roots,
                parse=parse,
                validate=validate,
                execute=execute,
                subscribe=subscribe,
                on_connect=on_connect,
                on_disconnect=on_disconnect,
                on_close=on_close,
                on_subscribe=on_subscribe,
                on_operation=on_operation,
                on_next=on_next,
                on_error=on_error,
                on_complete=on_complete,
                connection_init_wait_timeout=connection_init_wait_timeout,
                keep_alive=keep_alive,
                pong_timeout=pong_timeout,
                max_subscriptions_per_connection=max_subscriptions_per_connection,
                max_message_size=max_message_size,
                max_messages_per_second=max_messages_per_second,
                message_burst=message_burst,
                allowed_origins=allowed_origins,
                csrf_prevention=csrf_prevention,
                graphiql=graphiql,
                debug=debug,
                mask_errors=mask_errors,
                protocols=protocols,
                document_cache_size=document_cache_size,
                document_cache_bytes=document_cache_bytes,
                max_tokens=max_tokens,
                max_depth=max_depth,
                max_aliases=max_aliases,
                max_root_fields=max_root_fields,
                max_fields=max_fields,
                max_directives=max_directives,
                max_execution_time=max_execution_time,
                execution_time_slice=execution_time_slice,
                introspection=introspection,
                hide_suggestions=hide_suggestions,
                cleanup_timeout=cleanup_timeout,
                max_pending_messages=max_pending_messages,
                max_pending_bytes=max_pending_bytes,
                max_connections=max_connections,
                max_operations=max_operations,
                share_key=share_key,
                slow_consumer_timeout=slow_consumer_timeout,
                overflow_policy=overflow_policy,
                sse_single_connection=sse_single_connection,
                sse_reservation_timeout=sse_reservation_timeout,
                sse_max_streams=sse_max_streams,
                strawberry_pipeline=strawberry_pipeline,
                compile_subscriptions=compile_subscriptions,
                compile_queries=compile_queries,
                websocket=websocket,
                http_json=http_json,
                sse=sse,
                sse_keep_alive=sse_keep_alive,
                multipart=multipart,
                multipart_heartbeat=multipart_heartbeat,
                metrics=metrics,
                tracing=tracing,
            )
        )

    @classmethod
    def _from_options(cls, options: ServerOptions) -> GraphQLServer:
        server = cls.__new__(cls)
        server._build(options)
        return server

    def _build(self, options: ServerOptions) -> None:
        self.options = options
        """The configuration, as given (checked)."""
        self.runtime = ServerRuntime(options)
        """What the apps of this server run with, built from :attr:`options`."""
        self._registry = ConnectionRegistry()
        self._sse_single = (
            SingleConnectionMode(self.runtime, self._registry)
            if options.sse_single_connection
            else None
        )
        self._routes: tuple[HTTPRoute, ...] = (
            (self._sse_single,) if self._sse_single is not None else ()
        )
        self.extra_paths: tuple[str, ...] = ()
        """Paths the apps answer besides the endpoint's (the metrics endpoint)."""
        if options.metrics is not None or options.tracing is not None:
            self._instrument(options)

    def _instrument(self, options: ServerOptions) -> None:
        """Ask the metrics and tracing objects what to run (only when there are some:
        without them, nothing of theirs is on any path)."""
        runners = []
        for instrumentation in (options.metrics, options.tracing):
            if instrumentation is None:
                continue
            instruments = instrumentation.instrument(self)
            if instruments.run_operation is not None:
                runners.append(instruments.run_operation)
            if instruments.route is not None:
                self._routes = (instruments.route, *self._routes)
            if instruments.path is not None:
                self.extra_paths = (*self.extra_paths, instruments.path)
        self.runtime.observe = chain(runners)

    def replace(self, **changes: Any) -> GraphQLServer:
        """A new server with the same options except ``changes``."""
        return self._from_options(self.options.replace(**changes))

    def asgi(self) -> ASGIApp:
        """An ASGI 3 application serving WebSocket, HTTP and lifespan on any path it
        is mounted at."""
        from .adapters.asgi import ASGIApp

        return ASGIApp(self.runtime, self._registry, self._routes)

    def routes(self, path: str = "/graphql") -> list[BaseRoute]:
        """Starlette routes serving WebSocket and HTTP at exactly ``path``.

        ``Starlette(routes=[*graphql.routes("/graphql"), ...])``; FastAPI takes the same
        routes (``app.router.routes.extend(graphql.routes("/graphql"))``). A ``Mount``
        cannot do this: it matches only the paths below its own (``/graphql/...``), and
        Starlette then redirects an HTTP request for ``/graphql`` and refuses a WebSocket
        handshake there with 403. Starlette is imported only here, so it stays optional.
        """
        try:
            from starlette.routing import Route, WebSocketRoute
        except ImportError:
            raise ImportError(
                "GraphQLServer.routes() builds Starlette routes, but Starlette is not "
                "installed (pip install starlette); any other ASGI framework can mount "
                "GraphQLServer.asgi()"
            ) from None
        app = self.asgi()
        return [
            Route(path, app),
            WebSocketRoute(path, app),
            *(Route(extra, app) for extra in self.extra_paths),
        ]

    def aiohttp(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """An aiohttp request handler (``app.router.add_route("*", "/graphql", handler)``)
        serving WebSocket and HTTP on its route."""
        from .adapters.aiohttp import AiohttpHandler

        return AiohttpHandler(self.runtime, self._registry, self._routes).handle

    def aiohttp_app(self, path: str = "/graphql") -> web.Application:
        """A ready aiohttp ``Application`` with the handler at ``path``; on shutdown it
        closes every WebSocket with 1001 ``Going away``."""
        from .adapters.aiohttp import AiohttpHandler, application

        return application(
            AiohttpHandler(self.runtime, self._registry, self._routes), path, self.extra_paths
        )

    def stats(self) -> dict[str, int]:
        """Open connections (WebSocket) and HTTP streams (SSE, multipart), running
        operations on all of them, across every app of this server."""
        registry = self._registry
        return {
            "connections": len(registry.connections),
            "http_streams": len(registry.streams),
            "operations": registry.operations(),
            "dropped_messages": registry.dropped_messages(),
            "slow_consumers_closed": registry.slow_consumers_closed,
            **self.runtime.sharing.stats(),
            **self.runtime.compiler.stats(),
            **(
                self._sse_single.stats()
                if self._sse_single is not None
                else {"sse_streams": 0, "sse_operations": 0}
            ),
        }

    async def close_all(self, code: int = SHUTDOWN.code, reason: str = SHUTDOWN.reason) -> None:
        """Close every open connection and end every HTTP stream (for a graceful
        shutdown)."""
        await self._registry.close_all(code, reason)

    def __repr__(self) -> str:
        return f"<GraphQLServer schema={type(self.options.schema).__name__}>"
