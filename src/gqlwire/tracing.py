"""OpenTelemetry spans, one per operation (the ``otel`` extra).

``GraphQLServer(schema, tracing=OpenTelemetryTracing())`` runs every operation inside a
span named as OpenTelemetry's GraphQL semantic conventions say: ``"<type> <name>"``
(``"subscription OnMessage"``), ``"<type>"`` for an anonymous operation, and
``"GraphQL Operation"`` when the type is unknown (the document did not parse). Its
attributes are ``graphql.operation.type``, ``graphql.operation.name`` (when there is
one) and, only with ``include_document=True``, ``graphql.document`` (documents may
carry literals a deployment does not want in its traces). The span is current while the
operation runs, so spans of resolvers and brokers nest under it; a subscription's span
lasts as long as the subscription. Its status is ERROR when the operation ends in
errors (a refused document, a failed source, an exception) or a result carries errors,
with the exception recorded when there is one; a cancelled operation (the client
stopped it) keeps the status unset.

Nothing here runs unless a server is given an instance (see :mod:`gqlwire.observe`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from graphql import print_ast

from .execution import operation_of
from .observe import Instruments, OperationBody
from .protocol import ErrorStage

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

    from .operation import Operation, ResultSink
    from .protocol.messages import JSONObject
    from .server import GraphQLServer

__all__ = ["OpenTelemetryTracing"]

UNKNOWN_OPERATION: Final = "GraphQL Operation"
"""The span's name while (or when) the operation's type is unknown."""


class OpenTelemetryTracing:
    """One OpenTelemetry span per operation.

    ``tracer_provider``: the provider to take the tracer from (default: the global one,
    as set by ``opentelemetry.trace.set_tracer_provider``); ``include_document``: add
    the operation's document as ``graphql.document``.
    """

    def __init__(
        self, *, tracer_provider: TracerProvider | None = None, include_document: bool = False
    ) -> None:
        try:
            from opentelemetry import trace
        except ImportError:
            raise ImportError(
                "OpenTelemetryTracing needs opentelemetry-api: pip install 'gqlwire[otel]'"
            ) from None
        self._trace = trace
        self.tracer = trace.get_tracer("gqlwire", tracer_provider=tracer_provider)
        self.include_document = include_document

    def __repr__(self) -> str:
        return f"<OpenTelemetryTracing include_document={self.include_document}>"

    def instrument(self, server: GraphQLServer) -> Instruments:
        return Instruments(run_operation=self._run_operation)

    async def _run_operation(self, operation: Operation, body: OperationBody) -> None:
        trace = self._trace
        with self.tracer.start_as_current_span(
            UNKNOWN_OPERATION, record_exception=False, set_status_on_exception=False
        ) as span:
            operation.sink = _TracingSink(operation.sink, span, trace)
            try:
                await body()
            except asyncio.CancelledError:
                raise
            except BaseException as error:
                span.record_exception(error)
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
                raise
            finally:
                self._describe(span, operation)

    def _describe(self, span: Span, operation: Operation) -> None:
        """Name the span and set its attributes, once the document is known."""
        args = operation.args
        found = operation_of(args) if args is not None else None
        if found is None:
            return
        kind = found.operation.value
        name = found.name.value if found.name is not None else None
        span.update_name(f"{kind} {name}" if name else kind)
        span.set_attribute("graphql.operation.type", kind)
        if name:
            span.set_attribute("graphql.operation.name", name)
        if self.include_document and args is not None:
            query = operation.payload.get("query")
            span.set_attribute(
                "graphql.document", query if isinstance(query, str) else print_ast(args.document)
            )


class _TracingSink:
    """An operation's :class:`~gqlwire.operation.ResultSink`, marking the span failed
    when errors pass."""

    __slots__ = ("_sink", "_span", "_trace")

    def __init__(self, sink: ResultSink, span: Span, trace: Any) -> None:
        self._sink = sink
        self._span = span
        self._trace = trace

    def is_active(self) -> bool:
        return self._sink.is_active()

    async def next(self, payload: JSONObject) -> None:
        errors = payload.get("errors")
        if errors:
            self._error(errors)
        await self._sink.next(payload)

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        self._error(errors)
        await self._sink.errors(errors, stage)

    async def complete(self) -> None:
        await self._sink.complete()

    async def failed(self, error: Exception) -> None:
        self._span.record_exception(error)
        self._span.set_status(
            self._trace.Status(self._trace.StatusCode.ERROR, type(error).__name__)
        )
        await self._sink.failed(error)

    def _error(self, errors: Any) -> None:
        first = errors[0] if isinstance(errors, list) and errors else None
        message = first.get("message") if isinstance(first, dict) else None
        trace = self._trace
        self._span.set_status(
            trace.Status(trace.StatusCode.ERROR, message if isinstance(message, str) else None)
        )
