"""Server options: what the user configures, as data, checked once.

What follows from them (the document cache, the execute functions, the engine of shared
subscriptions) is built by :class:`~gqlwire.runtime.ServerRuntime`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema

from .execution import (
    DEFAULT_DOCUMENT_CACHE_BYTES,
    DEFAULT_EXECUTION_TIME_SLICE,
    DEFAULT_MAX_EXECUTION_TIME,
    DEFAULT_MAX_TOKENS,
    ExecuteFunction,
    unwrap_schema,
)
from .hooks import Hook
from .limits import (
    DEFAULT_MAX_ALIASES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_DIRECTIVES,
    DEFAULT_MAX_FIELDS,
    DEFAULT_MAX_ROOT_FIELDS,
)
from .observe import Instrumentation
from .outbox import OverflowPolicy
from .protocol import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS
from .protocol.machine import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_MESSAGES_PER_SECOND,
    DEFAULT_MESSAGE_BURST,
)
from .schema_libraries import default_context

_FUNCTION_OPTIONS = (
    "parse",
    "validate",
    "execute",
    "subscribe",
    "on_connect",
    "on_disconnect",
    "on_close",
    "on_subscribe",
    "on_operation",
    "on_next",
    "on_error",
    "on_complete",
    "share_key",
)
"""Options that are called: refused when the server is built if they cannot be, rather
than when the first connection or operation needs them."""

_KINDS: tuple[tuple[tuple[str, ...], tuple[type, ...], bool, str], ...] = (
    (
        (
            "connection_init_wait_timeout",
            "keep_alive",
            "pong_timeout",
            "max_execution_time",
            "execution_time_slice",
        ),
        (int, float),
        True,
        "a number of seconds or None",
    ),
    (
        ("cleanup_timeout", "slow_consumer_timeout", "sse_keep_alive", "multipart_heartbeat"),
        (int, float),
        False,
        "a number of seconds",
    ),
    (
        (
            "max_subscriptions_per_connection",
            "max_message_size",
            "max_pending_messages",
            "document_cache_bytes",
            "max_tokens",
        ),
        (int,),
        True,
        "an int or None",
    ),
    (("document_cache_size",), (int,), False, "an int"),
    (
        (
            "debug",
            "mask_errors",
            "compile_subscriptions",
            "compile_queries",
            "introspection",
            "graphiql",
            "websocket",
            "http_json",
            "sse",
            "multipart",
        ),
        (bool,),
        False,
        "True or False",
    ),
    (("hide_suggestions", "strawberry_pipeline"), (bool,), True, "True, False or None"),
)
"""(names, accepted types, whether None is accepted, what to say): the options whose
type nothing else checks when the server is built (the others have checks of their
own below, or in ProtocolSettings and OperationLimits, whose messages say more)."""

DEFAULT_MAX_PENDING_BYTES = 4 * 1024 * 1024
"""Bytes of outgoing frames one socket may have queued: a burst of a thousand ordinary
results, or a few results of the largest message a client may send, while a thousand
stalled clients cost at most 4 GiB, and only until ``slow_consumer_timeout`` ends them."""

DEFAULT_MAX_CONNECTIONS = 10_000
"""WebSockets one server (one process) keeps open at once: far more than one process
serves well, so only a flood meets it, while it bounds what idle and slow connections
may hold together."""


DEFAULT_SSE_MAX_STREAMS = 10_000
"""Reservations and open streams of SSE's single connection mode in one process, like
``max_connections`` for WebSockets."""


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """Every option of :class:`gqlwire.GraphQLServer`; see its docstring."""

    schema: Any
    context: Any = default_context
    roots: Mapping[str, Any] | None = None
    parse: Callable[[str], DocumentNode] | None = None
    validate: Callable[[GraphQLSchema, DocumentNode], Sequence[GraphQLError]] | None = None
    execute: ExecuteFunction | None = None
    subscribe: ExecuteFunction | None = None
    on_connect: Hook | None = None
    on_disconnect: Hook | None = None
    on_close: Hook | None = None
    on_subscribe: Hook | None = None
    on_operation: Hook | None = None
    on_next: Hook | None = None
    on_error: Hook | None = None
    on_complete: Hook | None = None
    connection_init_wait_timeout: float | None = 3.0
    keep_alive: float | None = 12.0
    pong_timeout: float | None = None
    max_subscriptions_per_connection: int | None = 100
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    max_messages_per_second: float | None = DEFAULT_MAX_MESSAGES_PER_SECOND
    message_burst: int = DEFAULT_MESSAGE_BURST
    allowed_origins: Sequence[str] | None = None
    csrf_prevention: bool = True
    graphiql: bool = True
    debug: bool = False
    mask_errors: bool = False
    protocols: Sequence[str] = (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS)
    document_cache_size: int = 1000
    document_cache_bytes: int | None = DEFAULT_DOCUMENT_CACHE_BYTES
    max_tokens: int | None = DEFAULT_MAX_TOKENS
    max_depth: int | None = DEFAULT_MAX_DEPTH
    max_aliases: int | None = DEFAULT_MAX_ALIASES
    max_root_fields: int | None = DEFAULT_MAX_ROOT_FIELDS
    max_fields: int | None = DEFAULT_MAX_FIELDS
    max_directives: int | None = DEFAULT_MAX_DIRECTIVES
    max_execution_time: float | None = DEFAULT_MAX_EXECUTION_TIME
    execution_time_slice: float | None = DEFAULT_EXECUTION_TIME_SLICE
    introspection: bool = True
    hide_suggestions: bool | None = None
    cleanup_timeout: float = 5.0
    max_pending_messages: int | None = 1000
    max_pending_bytes: int | None = DEFAULT_MAX_PENDING_BYTES
    max_connections: int | None = DEFAULT_MAX_CONNECTIONS
    max_operations: int | None = None
    share_key: Hook | None = None
    slow_consumer_timeout: float = 2.0
    overflow_policy: OverflowPolicy | str = OverflowPolicy.CLOSE
    sse_single_connection: bool = False
    sse_reservation_timeout: float | None = 10.0
    sse_max_streams: int | None = DEFAULT_SSE_MAX_STREAMS
    strawberry_pipeline: bool | None = None
    compile_subscriptions: bool = True
    compile_queries: bool = True
    websocket: bool = True
    http_json: bool = True
    sse: bool = True
    sse_keep_alive: float = 12.0
    multipart: bool = True
    multipart_heartbeat: float = 5.0
    metrics: Instrumentation | None = None
    tracing: Instrumentation | None = None

    def __post_init__(self) -> None:
        for names, types, optional, expected in _KINDS:
            for name in names:
                value = getattr(self, name)
                if (value is None and optional) or (
                    isinstance(value, types) and (bool in types or not isinstance(value, bool))
                ):
                    continue
                raise TypeError(f"{name} must be {expected}, got {value!r}")
        if isinstance(self.allowed_origins, str):  # a sequence too, of one-letter origins
            raise TypeError(
                f"allowed_origins must be a list of origins or None, got {self.allowed_origins!r}"
            )
        if self.roots is not None and not isinstance(self.roots, Mapping):
            raise TypeError(f"roots must be a mapping or None, got {self.roots!r}")
        unknown = [p for p in self.protocols if p not in (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS)]
        if unknown or not self.protocols:
            raise ValueError(
                f"protocols must name {GRAPHQL_TRANSPORT_WS!r} and/or {GRAPHQL_WS!r}, "
                f"got {list(self.protocols)!r}"
            )
        if not (
            self.websocket
            or self.http_json
            or self.sse
            or self.multipart
            or self.sse_single_connection
        ):
            raise ValueError(
                "every transport is turned off: keep one of websocket, http_json, sse, "
                "multipart or sse_single_connection"
            )
        for name in _FUNCTION_OPTIONS:
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(
                    f"GraphQLServer option {name} must be a function or a coroutine "
                    f"function, got {value!r}"
                )
        graphql_schema = unwrap_schema(self.schema)
        if graphql_schema is None and self.schema is not None and not callable(self.schema):
            raise TypeError(
                "schema must be a graphql-core GraphQLSchema, a Strawberry, Ariadne or "
                "Graphene schema, a function returning one, or None; "
                f"got {type(self.schema).__name__}"
            )
        if self.cleanup_timeout < 0:
            raise ValueError("cleanup_timeout must be >= 0")
        if self.max_pending_messages is not None and self.max_pending_messages < 1:
            raise ValueError("max_pending_messages must be >= 1 or None")
        for name in ("max_connections", "max_operations"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} must be an int >= 1 or None, got {value!r}")
        _check_single_connection_mode(self)
        if not isinstance(self.csrf_prevention, bool):
            raise TypeError(f"csrf_prevention must be True or False, got {self.csrf_prevention!r}")
        if self.max_pending_bytes is not None and (
            isinstance(self.max_pending_bytes, bool)
            or not isinstance(self.max_pending_bytes, int)
            or self.max_pending_bytes < 1
        ):
            raise ValueError(
                f"max_pending_bytes must be an int >= 1 or None, got {self.max_pending_bytes!r}"
            )
        for name in ("max_execution_time", "execution_time_slice"):
            seconds = getattr(self, name)
            if seconds is not None and not seconds > 0:
                raise ValueError(f"{name} must be > 0 or None, got {seconds!r}")
        for name in ("sse_keep_alive", "multipart_heartbeat"):
            seconds = getattr(self, name)
            if not seconds > 0:
                raise ValueError(f"{name} must be > 0, got {seconds!r}")
        OverflowPolicy(self.overflow_policy)  # a ValueError naming the value
        for name in ("metrics", "tracing"):
            value = getattr(self, name)
            if value is not None and not callable(getattr(value, "instrument", None)):
                raise TypeError(
                    f"{name} must be None or an object with an instrument() method "
                    f"(gqlwire.metrics.PrometheusMetrics, gqlwire.tracing.OpenTelemetryTracing), "
                    f"got {value!r}"
                )

    def replace(self, **changes: Any) -> ServerOptions:
        """A copy with ``changes`` applied (and checked anew)."""
        return dataclasses.replace(self, **changes)

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a handshake or an HTTP request with this ``Origin`` header may proceed.

        Non-browser clients send no Origin and are always allowed: the check exists
        to stop another site's page from using a visitor's cookies (cross-site
        WebSocket hijacking), which only a browser can be made to do.
        """
        allowed = self.allowed_origins
        if allowed is None or origin is None:
            return True
        return "*" in allowed or origin in allowed

    @property
    def trusted_origins(self) -> frozenset[str]:
        """The origins ``allowed_origins`` names one by one (``"*"`` names none): their
        pages may send cross-site ``GET`` requests without a preflight header."""
        return frozenset(origin for origin in self.allowed_origins or () if origin != "*")


def _check_single_connection_mode(options: ServerOptions) -> None:
    """The options of SSE's single connection mode (docs/streams.md)."""
    if not isinstance(options.sse_single_connection, bool):
        raise TypeError(
            f"sse_single_connection must be True or False, got {options.sse_single_connection!r}"
        )
    timeout = options.sse_reservation_timeout
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise ValueError(f"sse_reservation_timeout must be > 0 or None, got {timeout!r}")
    streams = options.sse_max_streams
    if streams is not None and (
        isinstance(streams, bool) or not isinstance(streams, int) or streams < 1
    ):
        raise ValueError(f"sse_max_streams must be an int >= 1 or None, got {streams!r}")
