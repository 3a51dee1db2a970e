"""What a server runs with, built once from its :class:`~gqlwire.options.ServerOptions`.

The options are data; this is the machinery they call for: the schema unwrapped, the
document cache, the execute and subscribe functions, the protocol settings and the
engine of shared subscriptions. A :class:`~gqlwire.GraphQLServer` builds one, and every
app of that server (ASGI, aiohttp) and every connection and request shares it.
"""

from __future__ import annotations

import inspect
from typing import Any

from graphql import ExecutionResult, GraphQLSchema, specified_rules
from graphql.validation import ASTValidationRule

from .compiled.cache import SubscriptionCompiler
from .execution import (
    DocumentCache,
    ExecuteFunction,
    ExecutionArgs,
    budgeted_execute,
    compiling_subscribe,
    execution_context_class,
    unwrap_schema,
    validation_rules,
)
from .hooks import resolve
from .incremental import RELEASE_RULES
from .limits import NoIntrospection, OperationLimits
from .observe import OperationRunner
from .options import ServerOptions
from .outbox import OverflowPolicy
from .protocol import ProtocolSettings
from .schema_libraries import strawberry_pipeline, uses_strawberry_pipeline
from .sharing import SharedSubscriptions


class ServerRuntime:
    """The options of one server and what is built from them."""

    __slots__ = (
        "_inline",
        "compiler",
        "documents",
        "execute_function",
        "execution_context_class",
        "graphql_schema",
        "observe",
        "options",
        "overflow_policy",
        "runs_strawberry_pipeline",
        "settings",
        "sharing",
        "subscribe_function",
    )

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.graphql_schema: GraphQLSchema | None = unwrap_schema(options.schema)
        """``None`` when the schema is chosen per operation (or ``on_subscribe`` gives it)."""
        self.execution_context_class: type[Any] | None = execution_context_class(options.schema)
        # Strawberry's pipeline validates each operation itself (with the rules its
        # extensions add): gqlwire then only parses, to learn the operation's type.
        pipeline = (
            strawberry_pipeline(options.schema)
            if uses_strawberry_pipeline(options.schema, options.strawberry_pipeline)
            else None
        )
        self.runs_strawberry_pipeline = pipeline is not None
        # Suggestions name what a client could not see without introspection.
        hide_suggestions = (
            not options.introspection
            if options.hide_suggestions is None
            else options.hide_suggestions
        )
        self.documents = DocumentCache(
            options.document_cache_size,
            _with_introspection(
                () if pipeline else validation_rules(options.schema), options.introspection
            ),
            max_tokens=options.max_tokens,
            max_bytes=options.document_cache_bytes,
            limits=OperationLimits(
                max_depth=options.max_depth,
                max_aliases=options.max_aliases,
                max_root_fields=options.max_root_fields,
                max_fields=options.max_fields,
                max_directives=options.max_directives,
            ),
            hide_suggestions=hide_suggestions,
        )
        self.overflow_policy = OverflowPolicy(options.overflow_policy)
        """The ``overflow_policy`` option as the outboxes take it (a string is accepted)."""
        self.settings = ProtocolSettings(
            connection_init_wait_timeout=options.connection_init_wait_timeout,
            keep_alive=options.keep_alive,
            pong_timeout=options.pong_timeout,
            max_operations=options.max_subscriptions_per_connection,
            max_message_size=options.max_message_size,
            max_messages_per_second=options.max_messages_per_second,
            message_burst=options.message_burst,
        )
        self.compiler = SubscriptionCompiler(
            enabled=options.compile_subscriptions, queries=options.compile_queries
        )
        """Compiles subscriptions' events and queries (:mod:`gqlwire.compiled`), and
        counts which path each took."""
        self.execute_function: ExecuteFunction = options.execute or (
            pipeline.execute
            if pipeline
            else budgeted_execute(
                options.max_execution_time,
                options.execution_time_slice,
                hide_suggestions=hide_suggestions,
                compile_query=self.compiler.query,
            )
        )
        self.subscribe_function: ExecuteFunction
        if options.subscribe is not None:
            self.subscribe_function = _counted(
                options.subscribe, self.compiler, "custom subscribe function"
            )
        elif pipeline is not None:
            self.subscribe_function = _counted(
                pipeline.subscribe, self.compiler, "Strawberry's pipeline"
            )
        else:
            self.subscribe_function = compiling_subscribe(self.compiler.event_executor)
        self.sharing = SharedSubscriptions(
            options.slow_consumer_timeout,
            # A member may fall as far behind as its outbox is long (None: the outbox
            # never refuses, so nobody ever falls behind).
            backlog_limit=options.max_pending_messages or 1,
            backlog_bytes=options.max_pending_bytes,
            mask_errors=options.mask_errors,
        )

        self.observe: OperationRunner | None = None
        """Runs each operation when the server has instruments (metrics, tracing); set
        by the server once it has asked them (``None``: operations run bare)."""
        self._inline: bool | None = None

    def starts_operations_inline(self) -> bool:
        """Whether a WebSocket operation's first steps (hooks, parse, validation, joining
        its shared group) may run in its connection's task, before it has a task of its
        own (:attr:`gqlwire.operation.Operation.inline`): when every hook they call is
        synchronous, so that no application coroutine runs outside the operation's
        task. Operations share (``share_key``) and the server has no instruments,
        which observe each operation in its task."""
        inline = self._inline
        if inline is None:
            options = self.options
            inline = self._inline = (
                self.observe is None
                and self.graphql_schema is not None
                and options.on_subscribe is None
                and options.on_operation is None
                and options.on_next is None
                and options.share_key is not None
                and all(
                    _synchronous(hook)
                    for hook in (options.share_key, options.context, options.on_error)
                )
            )
        return inline

    def __repr__(self) -> str:
        return f"<ServerRuntime schema={type(self.options.schema).__name__}>"


def _synchronous(hook: Any) -> bool:
    """Not a coroutine function (nor an object whose ``__call__`` is one)."""
    call = inspect.getattr_static(type(hook), "__call__", None)
    return not (inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(call))


def _counted(
    subscribe: ExecuteFunction, compiler: SubscriptionCompiler, reason: str
) -> ExecuteFunction:
    """A subscribe function gqlwire does not compile, counting the streams it opens."""

    async def counted(args: ExecutionArgs) -> Any:
        result = await resolve(subscribe(args))
        if not isinstance(result, ExecutionResult):
            compiler.count_interpreted(reason)
        return result

    return counted


def _with_introspection(
    rules: tuple[type[ASTValidationRule], ...] | None, introspection: bool
) -> tuple[type[ASTValidationRule], ...] | None:
    """The validation rules, refusing ``__schema`` and ``__type`` unless ``introspection``,
    with those the installed graphql-core needs (on 3.2, the refusal of ``@defer`` and
    ``@stream``). With an empty tuple (Strawberry's pipeline validates), only these."""
    added = (*RELEASE_RULES, *(() if introspection else (NoIntrospection,)))
    if not added:
        return rules
    return (*(specified_rules if rules is None else rules), *added)
