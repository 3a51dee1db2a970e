"""graphql-core behind one small interface: schemas, cached documents, results.

Everything that depends on which graphql-core release or which schema library is in
use lives here, so the rest of gqlwire speaks only in ``GraphQLSchema``,
``DocumentNode``, ``ExecutionArgs`` and formatted (JSON-ready) results.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Final, Protocol

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    specified_rules,
    validate,
)
from graphql import execute as graphql_execute
from graphql.language.parser import Parser, nested_too_deeply_error
from graphql.validation import ASTValidationRule

from .errors import RequestErrors
from .execution_budget import ExecutionBudget, budgeted_executor_class, current_budget
from .incremental import (
    IncrementalResults,
    choose_executor_class,
    declares_incremental,
    execute_function,
    is_incremental_response,
    refusal,
)
from .limits import OperationLimits, limit_errors, without_suggestions
from .protocol.messages import JSONObject
from .response_stream import (
    EXECUTOR_CLASS_KEYWORD,
    EventCompiler,
    EventResults,
    ExecutorBase,
    build_executor,
    open_response_stream,
)


class _Unset:
    """The type of :data:`UNSET`: an argument that was not given at all."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()
"""Marks ``root_value``/``context_value`` as not provided (``None`` is a real value)."""


@dataclass(slots=True)
class ExecutionArgs:
    """What graphql-core's ``execute``/``subscribe`` need for one operation.

    ``on_subscribe`` may return one to bypass parsing and validation; when it leaves
    ``root_value`` or ``context_value`` unset, the ``roots`` and ``context`` options
    fill them, exactly as graphql-ws does with missing keys.
    """

    schema: GraphQLSchema
    document: DocumentNode
    root_value: Any = UNSET
    context_value: Any = UNSET
    variable_values: dict[str, Any] | None = None
    operation_name: str | None = None
    execution_context_class: type[Any] | None = None
    """A schema library's own execution context (graphql-core's ``Executor`` in 3.3)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further keyword arguments for graphql-core (``middleware`` and the like)."""
    incremental_delivery: bool = False
    """Set by the transport before the operation executes: whether it carries an
    incremental response (``@defer``, ``@stream``) as a stream of results. Where it does
    not, deferred fragments and streamed lists are executed in place and one result
    answers (see :mod:`gqlwire.incremental`)."""


OperationResult = ExecutionResult | AsyncIterable[ExecutionResult]
ExecuteFunction = Callable[[ExecutionArgs], "OperationResult | Awaitable[OperationResult]"]


# -- schemas ----------------------------------------------------------------------------


def unwrap_schema(schema: Any) -> GraphQLSchema | None:
    """The graphql-core schema behind a graphql-core, Strawberry, Ariadne or Graphene
    schema, or ``None`` if ``schema`` is none of these."""
    if isinstance(schema, GraphQLSchema):
        return schema  # graphql-core, and Ariadne's make_executable_schema
    inner = getattr(schema, "_schema", None)  # strawberry.Schema
    if isinstance(inner, GraphQLSchema):
        return inner
    inner = getattr(schema, "graphql_schema", None)  # graphene.Schema
    if isinstance(inner, GraphQLSchema):
        return inner
    return None


def execution_context_class(schema: Any) -> type[Any] | None:
    """A schema library's own execution context class, when it has one (Strawberry)."""
    cls = getattr(schema, "execution_context_class", None)
    if isinstance(cls, type) and issubclass(cls, ExecutorBase):
        return cls
    return None


def validation_rules(schema: Any) -> tuple[type[ASTValidationRule], ...] | None:
    """The validation rules a schema library adds to graphql-core's, or ``None``.

    Strawberry validates ``Maybe`` arguments and ``@oneOf`` inputs with rules of its
    own; without them such mistakes would surface as field errors, not as validation
    errors.
    """
    if unwrap_schema(schema) is schema or not hasattr(schema, "_schema"):
        return None
    try:
        from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
        from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
    except ImportError:
        return None
    return (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)


# -- documents ------------------------------------------------------------------------


DEFAULT_MAX_TOKENS: Final = 15_000
"""Tokens a document may have (Apollo Router's default)."""

DEFAULT_DOCUMENT_CACHE_BYTES: Final = 64 * 1024 * 1024
"""The estimated memory all cached documents may hold together."""

BYTES_PER_TOKEN: Final = 600
"""What a parsed token keeps alive, with its node and location: measured at 340 to 570
bytes with tracemalloc on graphql-core 3.2 and 3.3, rounded up."""

_ENTRY_OVERHEAD: Final = 1024
"""An entry's own objects and its validation results, roughly."""


class DocumentCache:
    """A bounded LRU of parsed, validated and analysed documents, keyed by the query text.

    Parsing and validating cost far more than executing a small operation, and
    subscriptions repeat the same few documents, so both outcomes are cached, syntax
    errors included (a client retrying a bad document costs one lookup).

    What a client can make the cache hold is bounded in bytes, not only in entries: a
    parsed document keeps hundreds of bytes per token, so each entry is charged an
    estimate from its token count and length, and the least recently used entries leave
    until the total fits ``max_bytes`` (an entry larger than the whole budget is not
    kept). ``max_tokens`` bounds both the parse's cost and any one entry.
    """

    def __init__(
        self,
        maxsize: int = 1000,
        rules: tuple[type[ASTValidationRule], ...] | None = None,
        *,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
        max_bytes: int | None = DEFAULT_DOCUMENT_CACHE_BYTES,
        limits: OperationLimits | None = None,
        hide_suggestions: bool = False,
    ) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("max_tokens must be >= 1 or None")
        if max_bytes is not None and max_bytes < 0:
            raise ValueError("max_bytes must be >= 0 or None")
        self.maxsize = maxsize
        self.rules = rules
        self.max_tokens = max_tokens
        self.max_bytes = max_bytes
        self.limits = limits or OperationLimits(
            max_depth=None,
            max_aliases=None,
            max_root_fields=None,
            max_fields=None,
            max_directives=None,
        )
        self.hide_suggestions = hide_suggestions
        self._entries: OrderedDict[str, CachedDocument] = OrderedDict()
        self.bytes = 0
        """The estimated size of the entries held now."""
        self.hits = 0
        self.misses = 0

    def parse(self, query: str) -> DocumentNode:
        """Parse ``query``; raise its syntax error as a :class:`GraphQLError`."""
        return self._entry(query).document()

    def validate(
        self, schema: GraphQLSchema, query: str
    ) -> tuple[DocumentNode, list[GraphQLError]]:
        """The parsed document and its validation errors against ``schema``, those of
        the operation limits included.

        Raises the syntax error if ``query`` does not parse. Validation results are
        kept per schema; the schema object is held by the entry, so its ``id`` cannot
        be reused while the entry lives.
        """
        entry = self._entry(query)
        return entry.document(), self.errors_of(schema, entry)

    def lookup(self, query: str) -> CachedDocument:
        """The cache's entry for ``query`` (parsed now if it was not): its document, or
        the syntax error, and its validations (see :meth:`errors_of`)."""
        return self._entry(query)

    def errors_of(self, schema: GraphQLSchema, entry: CachedDocument) -> list[GraphQLError]:
        """The validation errors of a parsed ``entry`` against ``schema``, those of the
        operation limits included, validated once per schema."""
        cached = entry.validations.get(id(schema))
        if cached is not None and cached[0] is schema:
            return cached[1]
        errors = self.check(schema, entry.document())
        entry.validations[id(schema)] = (schema, errors)
        return errors

    def check(self, schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
        """Hold ``document`` to the operation limits, then validate it (uncached).

        The limits come first: they cost one pass over the document, while validating
        thousands of fields costs a tenth of a second or more.
        """
        exceeded = self.limit_errors(document)
        if exceeded:
            return exceeded
        hide: dict[str, Any] = (
            {"hide_suggestions": True} if self.hide_suggestions and _VALIDATE_HIDES else {}
        )
        try:
            errors = validate(schema, document, self.rules, **hide)
        except RecursionError:
            errors = [_too_deep(document)]
        if self.hide_suggestions:
            errors = without_suggestions(errors)
        return errors

    def limit_errors(self, document: DocumentNode) -> list[GraphQLError]:
        """The operation limits' errors alone (for a document validated elsewhere)."""
        try:
            return limit_errors(document, self.limits)
        except RecursionError:
            return [_too_deep(document)]

    def _entry(self, query: str) -> CachedDocument:
        entry = self._entries.get(query)
        if entry is not None:
            self.hits += 1
            self._entries.move_to_end(query)
            return entry
        self.misses += 1
        entry = self._parsed(query)
        if self.maxsize and (self.max_bytes is None or entry.size <= self.max_bytes):
            self._entries[query] = entry
            self.bytes += entry.size
            while len(self._entries) > self.maxsize or (
                self.max_bytes is not None and self.bytes > self.max_bytes
            ):
                self.bytes -= self._entries.popitem(last=False)[1].size
        return entry

    def _parsed(self, query: str) -> CachedDocument:
        parser = Parser(query, max_tokens=self.max_tokens)
        parsed: DocumentNode | GraphQLError
        try:
            try:
                parsed = parser.parse_document()
            except RecursionError:
                parsed = nested_too_deeply_error(parser)
        except GraphQLError as error:
            # Without its traceback, which would keep the parser and its tokens alive.
            parsed = error.with_traceback(None)
        tokens = getattr(parser, "token_count", None)
        if not isinstance(tokens, int):  # a graphql-core 3.2 release before token_count
            tokens = len(query)
        size = _ENTRY_OVERHEAD + 2 * len(query) + BYTES_PER_TOKEN * tokens
        return CachedDocument(parsed, size)

    def __len__(self) -> int:
        return len(self._entries)


_VALIDATE_HIDES: Final = "hide_suggestions" in inspect.signature(validate).parameters
"""Whether graphql-core's ``validate`` can leave out suggestions itself (newer releases)."""


def _too_deep(document: DocumentNode) -> GraphQLError:
    """The error for a document whose fragments nest too deeply to follow."""
    return GraphQLError("The document's fragments are nested too deeply", document)


@dataclass(slots=True)
class CachedDocument:
    """A query as :class:`DocumentCache` keeps it."""

    parsed: DocumentNode | GraphQLError
    size: int = 0
    """Estimated bytes held (see :data:`BYTES_PER_TOKEN`)."""
    validations: dict[int, tuple[GraphQLSchema, list[GraphQLError]]] = field(default_factory=dict)
    last_operation: tuple[str | None, OperationDefinitionNode | None] | None = None
    """The last operation name asked for, and the operation it selects."""

    def document(self) -> DocumentNode:
        if isinstance(self.parsed, GraphQLError):
            raise self.parsed
        return self.parsed

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        """The operation ``name`` selects in the document, as :func:`operation_of` finds
        it, remembered for the last name asked for: a query is nearly always sent with
        the same name, and remembering one name costs nothing, whatever names clients
        send."""
        last = self.last_operation
        if last is not None and last[0] == name:
            return last[1]
        found = get_operation_ast(self.document(), name)
        self.last_operation = (name, found)
        return found


# -- executing --------------------------------------------------------------------------


def operation_of(args: ExecutionArgs) -> OperationDefinitionNode | None:
    """The operation ``args`` selects, or ``None`` if it cannot be identified."""
    return get_operation_ast(args.document, args.operation_name)


def _graphql_kwargs(args: ExecutionArgs) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "schema": args.schema,
        "document": args.document,
        "root_value": None if args.root_value is UNSET else args.root_value,
        "context_value": None if args.context_value is UNSET else args.context_value,
        "variable_values": args.variable_values,
        "operation_name": args.operation_name,
    }
    if args.execution_context_class is not None:
        kwargs[EXECUTOR_CLASS_KEYWORD] = args.execution_context_class
    kwargs.update(args.extra)
    return kwargs


def _prepared(args: ExecutionArgs) -> tuple[Callable[..., Any], dict[str, Any]]:
    """graphql-core's function for ``args`` and its keyword arguments: the executor
    class chosen for incremental delivery (:mod:`gqlwire.incremental`).

    Raises :class:`RequestErrors` for a document graphql-core 3.2 cannot run (it defers
    or streams), as validation would have."""
    declared = declares_incremental(args.schema)
    refused = refusal(declared, args.document)
    if refused is not None:
        raise RequestErrors([refused])
    kwargs = _graphql_kwargs(args)
    kwargs[EXECUTOR_CLASS_KEYWORD] = choose_executor_class(
        kwargs.get(EXECUTOR_CLASS_KEYWORD), args.incremental_delivery, declared
    )
    return execute_function(declared), kwargs


async def default_execute(args: ExecutionArgs) -> OperationResult:
    """graphql-core ``execute``, awaited when resolvers are asynchronous: one result, or
    the stream of an incremental response (:class:`~gqlwire.incremental.IncrementalResults`)."""
    run, kwargs = _prepared(args)
    result = run(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    if is_incremental_response(result):
        stream = IncrementalResults(result)
        if not args.incremental_delivery:
            return await stream.whole_result()
        return stream
    assert isinstance(result, ExecutionResult)
    return result


DEFAULT_MAX_EXECUTION_TIME: Final = 10.0
"""Seconds a query or mutation may run (see :mod:`gqlwire.execution_budget`)."""

DEFAULT_EXECUTION_TIME_SLICE: Final = 0.02
"""Seconds an operation may hold the event loop before letting it run."""


QueryCompiler = Callable[[dict[str, Any]], "CompiledQuery | None"]
"""``(graphql-core's execute keyword arguments) -> compiled plan or None``: a query
compiled in place of graphql-core's executor (``None``: graphql-core runs it)."""


class CompiledQuery(Protocol):
    """A compiled query's plan, bound to the executor built for it."""

    def execute(self, root_value: Any) -> ExecutionResult | Awaitable[ExecutionResult]: ...


def budgeted_execute(
    max_time: float | None = DEFAULT_MAX_EXECUTION_TIME,
    time_slice: float | None = DEFAULT_EXECUTION_TIME_SLICE,
    *,
    hide_suggestions: bool = False,
    compile_query: QueryCompiler | None = None,
) -> Callable[[ExecutionArgs], Awaitable[OperationResult]]:
    """graphql-core ``execute`` within a time budget: the operation lets the event loop
    run every ``time_slice`` seconds, and its result is one error once it has run for
    ``max_time`` seconds (its asynchronous resolvers are cancelled then). ``None``
    turns either off; with both off (and nothing to compile) this is
    :func:`default_execute`.

    ``compile_query``: a query it gives a plan for runs compiled (see
    :mod:`gqlwire.compiled`), under the same budget; the rest, mutations included, on
    graphql-core's executor."""
    if max_time is None and time_slice is None and not hide_suggestions and not compile_query:
        return default_execute
    if hide_suggestions and _EXECUTE_HIDES:
        extra: dict[str, Any] = {"hide_suggestions": True}
    else:
        extra = {}

    async def execute(args: ExecutionArgs) -> OperationResult:
        run, kwargs = _prepared(args)
        kwargs.update(extra)
        plan = _compiled_query(compile_query, args, kwargs)
        budget = None
        if max_time is not None or time_slice is not None:
            if plan is None:
                kwargs[EXECUTOR_CLASS_KEYWORD] = budgeted_executor_class(
                    kwargs[EXECUTOR_CLASS_KEYWORD]
                )
            budget = ExecutionBudget(max_time, time_slice)
        token = current_budget.set(budget)
        try:
            result = run(**kwargs) if plan is None else plan.execute(kwargs.get("root_value"))
            if inspect.isawaitable(result):
                if budget is None or budget.deadline is None:
                    result = await result
                else:
                    # Fields stop being started at the deadline, which ends a busy
                    # operation by itself; this ends one whose resolvers still wait.
                    grace = budget.deadline - monotonic() + _CANCEL_GRACE
                    async with asyncio.timeout(max(grace, 0)):
                        result = await result
        except TimeoutError:
            assert budget is not None
            return ExecutionResult(None, [budget.error()])
        finally:
            current_budget.reset(token)
        if is_incremental_response(result):
            stream = IncrementalResults(result, budget, _CANCEL_GRACE)
            if budget is not None and budget.exceeded:
                await stream.aclose()
                return ExecutionResult(None, [budget.error()])
            if not args.incremental_delivery:
                return await stream.whole_result()
            return stream
        assert isinstance(result, ExecutionResult)
        if budget is not None and budget.exceeded:
            return ExecutionResult(None, [budget.error()])
        return result

    return execute


def _compiled_query(
    compile_query: QueryCompiler | None, args: ExecutionArgs, kwargs: dict[str, Any]
) -> CompiledQuery | None:
    """The compiled plan of a query operation, if ``compile_query`` gives one."""
    if compile_query is None:
        return None
    operation = operation_of(args)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None  # a mutation, or a document graphql-core will refuse itself
    return compile_query(kwargs)


_CANCEL_GRACE: Final = 1.0
"""Seconds after ``max_execution_time`` before waiting resolvers are cancelled."""

_EXECUTE_HIDES: Final = "hide_suggestions" in inspect.signature(graphql_execute).parameters


async def default_subscribe(args: ExecutionArgs) -> ExecutionResult | EventResults:
    """graphql-core's ``subscribe``: a stream of results, or a result holding errors.

    The source stream is graphql-core's own (``create_source_event_stream``); its events
    are executed by :class:`~gqlwire.response_stream.EventResults`, on either release.
    """
    stream: ExecutionResult | EventResults = await open_response_stream(_graphql_kwargs(args))
    return stream


def compiling_subscribe(
    compile_events: EventCompiler,
) -> Callable[[ExecutionArgs], Awaitable[ExecutionResult | EventResults]]:
    """:func:`default_subscribe` whose events run on a compiled executor where
    ``compile_events`` (a :class:`~gqlwire.compiled.cache.SubscriptionCompiler`'s
    ``event_executor``) gives one."""

    async def subscribe(args: ExecutionArgs) -> ExecutionResult | EventResults:
        stream: ExecutionResult | EventResults = await open_response_stream(
            _graphql_kwargs(args), compile_events
        )
        return stream

    return subscribe


def coercion_failed(args: ExecutionArgs) -> bool:
    """Whether the operation failed before executing (e.g. bad variables).

    graphql-js then answers ``{errors}`` with no ``data`` key, while graphql-core always
    reports ``data: None``. Called only on results without data, so the cost of
    building a second executor is paid only on the error path.
    """
    kwargs = _graphql_kwargs(args)
    kwargs.pop("middleware", None)  # it cannot make the build fail differently
    executor_class: type[Any] = kwargs.pop(EXECUTOR_CLASS_KEYWORD, None) or ExecutorBase
    try:
        built = build_executor(executor_class, kwargs)
    except Exception:  # a custom class that cannot be built this way: keep `data`
        return False
    return isinstance(built, list)


# -- results --------------------------------------------------------------------------
#
# An *unexpected* error is an exception the application did not mean as a GraphQL error:
# an ordinary exception raised by a resolver (a field error whose original error is not
# itself a GraphQLError) or thrown by a subscription's source. Formatting a result logs
# each of its unexpected errors once, with its traceback, and with ``mask`` replaces
# their messages; deliberate errors (syntax, validation, a resolver raising
# GraphQLError) are neither logged nor masked.

UNEXPECTED_ERROR_MESSAGE: Final = "Unexpected error."
"""What a client sees of an unexpected error when errors are masked."""


def is_unexpected(error: GraphQLError) -> bool:
    """Whether ``error`` wraps an ordinary exception rather than a GraphQL error."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def format_error(error: GraphQLError, *, mask: bool = False) -> JSONObject:
    """The JSON form of one error (``message``, ``locations``, ``path``, ``extensions``);
    with ``mask``, an unexpected error's message becomes :data:`UNEXPECTED_ERROR_MESSAGE`
    and leaves its extensions too."""
    formatted: JSONObject = error.formatted  # type: ignore[assignment]
    if mask and is_unexpected(error):
        formatted["message"] = UNEXPECTED_ERROR_MESSAGE
        extensions = formatted.get("extensions")
        if extensions:
            formatted["extensions"] = _without_text(extensions, error.message)
    return formatted


def format_errors(errors: list[GraphQLError], *, mask: bool = False) -> list[JSONObject]:
    """Errors reported on their own (syntax, validation, a source that failed). ``mask``
    applies to every unexpected one: pass it only for errors :func:`source_error` made,
    since those of validation may wrap a scalar's ordinary exception on purpose."""
    return [format_error(error, mask=mask) for error in errors]


def format_result(
    result: ExecutionResult, *, include_data: bool = True, mask: bool = False
) -> JSONObject:
    """The JSON form of a result: ``errors`` only when there are some, ``data`` unless
    ``include_data`` is false and there is none (the operation never executed).

    Each field error that a resolver's ordinary exception caused is logged here, once
    per result, and masked with ``mask``. Errors without a path (variables that did not
    coerce) describe the request, not a failure, and are left alone."""
    formatted: JSONObject = {}
    if include_data or result.data is not None:
        formatted["data"] = result.data
    if result.errors:
        formatted["errors"] = _format_field_errors(result.errors, mask)
    if result.extensions is not None:
        formatted["extensions"] = result.extensions
    return formatted


def format_incremental_result(result: Any, *, mask: bool = False) -> JSONObject:
    """The JSON form of one result of an incremental response (``@defer``, ``@stream``):
    graphql-core's own (``.formatted``), in the format of graphql-js 17, with every
    error in it (the initial result's, an increment's, a completed fragment's) logged
    and masked as :func:`format_result` does."""
    formatted: JSONObject = dict(result.formatted)
    if getattr(result, "errors", None):
        formatted["errors"] = _format_field_errors(result.errors, mask)
    for key in ("incremental", "completed"):
        entries = getattr(result, key, None) or ()
        for entry, raw in zip(formatted.get(key) or (), entries, strict=True):
            if raw.errors:
                entry["errors"] = _format_field_errors(raw.errors, mask)
    return formatted


def _format_field_errors(errors: list[GraphQLError], mask: bool) -> list[JSONObject]:
    formatted = []
    for error in errors:
        unexpected = error.path is not None and is_unexpected(error)
        if unexpected:
            _log_resolver_error(error)
        formatted.append(format_error(error, mask=mask and unexpected))
    return formatted


def as_graphql_error(error: Exception) -> GraphQLError:
    """Wrap an exception raised by a subscription source as a GraphQL error."""
    if isinstance(error, GraphQLError):
        return error
    return GraphQLError(str(error), original_error=error)


def source_error(error: Exception) -> GraphQLError:
    """The GraphQL error for an exception a subscription's source threw mid-stream,
    logged here (once, where it was caught) unless it was a GraphQL error already."""
    if not isinstance(error, GraphQLError):
        _logger.error(
            "A subscription source raised %s: %s", type(error).__name__, error, exc_info=error
        )
    return as_graphql_error(error)


def _log_resolver_error(error: GraphQLError) -> None:
    original = error.original_error
    assert original is not None
    path = ".".join(str(key) for key in error.path or ())
    _logger.error(
        "The resolver of %s raised %s: %s",
        path,
        type(original).__name__,
        original,
        exc_info=original,
    )


def _without_text(value: Any, text: str) -> Any:
    """``value`` (JSON) without the entries whose string contains ``text``."""
    if isinstance(value, dict):
        return {
            key: _without_text(item, text) for key, item in value.items() if not _holds(item, text)
        }
    if isinstance(value, list):
        return [_without_text(item, text) for item in value if not _holds(item, text)]
    return value


def _holds(value: Any, text: str) -> bool:
    return bool(text) and isinstance(value, str) and text in value


_logger: Final = logging.getLogger("gqlwire")
