"""What a schema from Strawberry, Ariadne or Graphene expects of the server that runs it.

Resolvers written for those libraries read ``info.context`` the way the libraries' own
integrations fill it, so when the application passes no ``context`` option gqlwire
fills it the same way (:func:`default_context`). Strawberry can also run an operation
through its own pipeline (``Schema.execute``/``Schema.subscribe``), where its schema
extensions run; :func:`strawberry_pipeline` builds the ``execute``/``subscribe``
functions that do so, and :func:`uses_strawberry_pipeline` decides when they are used.

What the integrations give, read from Strawberry 0.341 and Ariadne 1.1:

- Strawberry (``strawberry.asgi.GraphQL``, ``strawberry.aiohttp.views.GraphQLView``):
  ``{"request": ..., "response": ...}``. Over HTTP the request is Starlette's
  ``Request`` or aiohttp's ``web.Request`` and the response a response object whose
  status, headers and cookies end up in the answer. Over WebSocket the request is the
  handshake (Starlette's ``WebSocket``, aiohttp's ``web.Request``), the response the
  socket itself, and ``connection_init``'s payload is added as ``connection_params``.
- Ariadne (``ariadne.asgi.GraphQL``): ``{"request": ...}``, Starlette's ``Request`` or
  ``WebSocket``; the ``connection_init`` payload goes only to its ``on_connect`` hook.
- Graphene has no server of its own; its ASGI and aiohttp integrations
  (``starlette-graphene3``, ``graphql-server``) give ``{"request": ...}`` as well.

An Ariadne schema *is* a graphql-core ``GraphQLSchema`` (``make_executable_schema``
returns one), so the two cannot be told apart: every schema gets the same default.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from functools import cache
from typing import Any, NoReturn

from graphql import DocumentNode, ExecutionResult, print_ast

from .context import Context, HTTPContext
from .errors import RequestErrors
from .execution import UNSET, ExecuteFunction, ExecutionArgs, OperationResult
from .incremental import IncrementalResults, is_incremental_response

# -- the default context --------------------------------------------------------------


def default_context(ctx: Context, *_: Any) -> dict[str, Any]:
    """``info.context`` when the application passes no ``context`` option.

    Over HTTP ``{"request": ..., "response": ...}``; over WebSocket
    ``{"request": ..., "connection_params": {...}}``, a new dict for each operation:

    - ``request``: the server's own request object: aiohttp's ``web.Request`` (of the
      handshake, on WebSocket); on ASGI servers Starlette's ``Request`` or
      ``WebSocket`` when Starlette is installed, as Strawberry's and Ariadne's ASGI
      integrations give, else the hook context ``ctx`` itself (which has ``headers``,
      ``cookies`` and ``scope`` too).
    - ``response`` (HTTP only): ``ctx.response``; the ``status_code``, ``headers`` and
      cookies (``set_cookie``) a resolver sets on it are merged into the answer.
    - ``connection_params`` (WebSocket only): the ``connection_init`` payload, ``{}``
      when the client sent none.

    Extra positional arguments are ignored, so this can be the ``context`` option
    itself, or be extended: ``context=lambda ctx, *_: {**default_context(ctx), ...}``.
    """
    request = native_request(ctx)
    if isinstance(ctx, HTTPContext):
        return {"request": request, "response": ctx.response}
    params = ctx.connection_params
    return {"request": request, "connection_params": params if params is not None else {}}


def native_request(ctx: Context) -> Any:
    """The request object resolvers of Strawberry and Ariadne know (see
    :func:`default_context`)."""
    request = ctx.request
    if request is not None:
        return request  # aiohttp
    scope = ctx.scope
    starlette = _starlette()
    if scope is None or starlette is None:
        return ctx
    if scope.get("type") == "websocket":
        return starlette.WebSocket(scope, _refuse_receive, _refuse_send)
    return starlette.Request(scope)


@dataclass(frozen=True)
class _Starlette:
    Request: type[Any]
    WebSocket: type[Any]


@cache
def _starlette() -> _Starlette | None:
    try:
        from starlette.requests import Request
        from starlette.websockets import WebSocket
    except ImportError:
        return None
    return _Starlette(Request, WebSocket)


_SOCKET_OWNED = (
    "gqlwire owns this WebSocket: resolvers cannot read or write it through "
    "info.context['request'] (close it from a hook with ctx.close(code, reason))"
)


async def _refuse_receive() -> NoReturn:
    raise RuntimeError(_SOCKET_OWNED)


async def _refuse_send(_message: Any) -> NoReturn:
    raise RuntimeError(_SOCKET_OWNED)


# -- Strawberry's own pipeline ----------------------------------------------------------


def is_strawberry_schema(schema: Any) -> bool:
    """Whether ``schema`` is a ``strawberry.Schema`` (without importing Strawberry)."""
    return any(
        cls.__module__.startswith("strawberry.") and cls.__name__ == "Schema"
        for cls in type(schema).__mro__
    )


def uses_strawberry_pipeline(schema: Any, choice: bool | None) -> bool:
    """Whether operations on ``schema`` run through Strawberry's ``execute``/``subscribe``.

    ``choice`` is the ``strawberry_pipeline`` option: ``True`` or ``False`` decide;
    ``None`` (the default) picks Strawberry's pipeline exactly when the schema uses
    something only that pipeline runs: schema extensions, custom operation directives
    (run by an extension Strawberry adds), or a ``process_errors`` of its own.
    Everything else (permission classes and other field extensions included, which
    Strawberry runs inside each resolver) works the same on gqlwire's faster path.
    """
    if choice is not None and not isinstance(choice, bool):
        raise TypeError(f"strawberry_pipeline must be True, False or None, not {choice!r}")
    if not is_strawberry_schema(schema):
        if choice:
            raise TypeError(
                f"strawberry_pipeline=True needs a strawberry.Schema, not {type(schema).__name__}"
            )
        return False
    if choice is not None:
        return choice
    base = next(cls for cls in type(schema).__mro__ if cls.__module__.startswith("strawberry."))
    return bool(
        getattr(schema, "extensions", None)
        or getattr(schema, "directives", None)
        or getattr(type(schema), "process_errors", None)
        is not getattr(base, "process_errors", None)
    )


@dataclass(frozen=True)
class StrawberryPipeline:
    """``execute`` and ``subscribe`` functions that hand each operation to Strawberry."""

    execute: ExecuteFunction
    subscribe: ExecuteFunction


def strawberry_pipeline(schema: Any) -> StrawberryPipeline:
    """Run operations through ``schema.execute``/``schema.subscribe``.

    Strawberry parses and validates again (its extensions may add rules or cache), and
    its errors before execution (a query too deep, a failed validation) are raised as
    :class:`~gqlwire.operation.RequestErrors`, so that they are answered like gqlwire's
    own validation errors: an ``error`` message, or HTTP 422.
    """

    from strawberry.types.execution import PreExecutionError

    def converted(result: Any) -> ExecutionResult:
        """Strawberry's result as graphql-core's; its errors before execution raised."""
        if isinstance(result, ExecutionResult):
            return result
        if isinstance(result, PreExecutionError):
            raise RequestErrors(list(result.errors or ()))
        return ExecutionResult(result.data, result.errors, result.extensions or None)

    async def converted_stream(stream: AsyncGenerator[Any, Any]) -> AsyncIterator[ExecutionResult]:
        try:
            async for result in stream:
                yield converted(result)
        finally:
            await stream.aclose()

    async def execute(args: ExecutionArgs) -> OperationResult:
        result = await schema.execute(
            _query_text(args.document),
            variable_values=args.variable_values,
            context_value=_given(args.context_value),
            root_value=_given(args.root_value),
            operation_name=args.operation_name,
        )
        if is_incremental_response(result):  # enable_experimental_incremental_execution
            stream = IncrementalResults(result)
            return stream if args.incremental_delivery else await stream.whole_result()
        return converted(result)

    async def subscribe(args: ExecutionArgs) -> OperationResult:
        stream = await schema.subscribe(
            _query_text(args.document),
            variable_values=args.variable_values,
            context_value=_given(args.context_value),
            root_value=_given(args.root_value),
            operation_name=args.operation_name,
        )
        if not inspect.isasyncgen(stream):
            return converted(stream)  # older releases: errors as a result
        return converted_stream(stream)

    return StrawberryPipeline(execute, subscribe)


def _given(value: Any) -> Any:
    return None if value is UNSET else value


def _query_text(document: DocumentNode) -> str:
    """The text a document was parsed from (``on_subscribe`` may hand over a document
    built otherwise: then its printed form)."""
    location = document.loc
    if location is not None and location.source is not None:
        return str(location.source.body)
    return print_ast(document)
