"""OpenTelemetry spans (gqlwire.tracing) of operations run by real clients on a real
server (aiohttp, in-process), recorded by the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from gqlwire import Client, GraphQLServer
from gqlwire.client import GraphQLErrors
from gqlwire.metrics import PrometheusMetrics
from gqlwire.tracing import OpenTelemetryTracing
from tests.apps import metrics_app
from tests.harness.inprocess import serve_in_process
from tests.harness.waiting import wait_until


class Traced:
    def __init__(self, base: str, exporter: InMemorySpanExporter) -> None:
        self.base = base
        self.exporter = exporter

    async def post(self, query: str, **extra: object) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(f"{self.base}/graphql", json={"query": query, **extra})

    async def span(self, count: int = 1) -> ReadableSpan:
        """The last span, once ``count`` have ended."""
        await wait_until(
            lambda: len(self.exporter.get_finished_spans()) >= count, f"{count} spans ended"
        )
        return self.exporter.get_finished_spans()[-1]


async def traced_server(include_document: bool = False, **options: object) -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = OpenTelemetryTracing(tracer_provider=provider, include_document=include_document)
    server = GraphQLServer(metrics_app.schema, tracing=tracing, **options)  # type: ignore[arg-type]
    async with serve_in_process(server, "aiohttp") as base:
        yield Traced(base, exporter)
    provider.shutdown()


@pytest.fixture
async def traced() -> AsyncIterator[Traced]:
    async for value in traced_server():
        yield value


async def test_a_named_query_span_follows_the_semantic_conventions(traced: Traced) -> None:
    response = await traced.post("query Greeting { hello }")
    assert response.json() == {"data": {"hello": "world"}}
    span = await traced.span()
    assert span.name == "query Greeting"
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "graphql.operation.type": "query",
        "graphql.operation.name": "Greeting",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.kind is trace.SpanKind.INTERNAL


async def test_an_anonymous_subscription_over_websocket_is_one_span_for_its_life(
    traced: Traced,
) -> None:
    url = traced.base.replace("http", "ws", 1) + "/graphql"
    async with Client(url) as client:
        counts = [
            r["data"]["count"] async for r in client.subscribe("subscription { count(to: 3) }")
        ]
    assert counts == [1, 2, 3]
    span = await traced.span()
    assert span.name == "subscription"
    assert span.attributes is not None
    assert dict(span.attributes) == {"graphql.operation.type": "subscription"}
    assert len(traced.exporter.get_finished_spans()) == 1


async def test_errors_set_the_status(traced: Traced) -> None:
    body = (await traced.post("query Boom { boom }")).json()
    assert body["errors"][0]["message"] == "boom"
    span = await traced.span(1)
    assert span.name == "query Boom"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "boom"

    await traced.post("{ nope")  # does not parse: its type is unknown
    span = await traced.span(2)
    assert span.name == "GraphQL Operation"
    assert span.status.status_code is StatusCode.ERROR
    assert not span.attributes

    url = traced.base.replace("http", "ws", 1) + "/graphql"
    async with Client(url) as client:
        with pytest.raises(GraphQLErrors):
            async for _ in client.subscribe("subscription Bad { count(to: -1) missing }"):
                pass
    span = await traced.span(3)
    assert span.status.status_code is StatusCode.ERROR


async def test_the_document_is_recorded_only_when_asked() -> None:
    query = "query Greeting { hello }"
    async for traced in traced_server(include_document=True):
        await traced.post(query)
        span = await traced.span()
        assert span.attributes is not None
        assert span.attributes["graphql.document"] == query


async def test_the_span_is_current_while_resolvers_run() -> None:
    """Spans the application starts under an operation nest under its span."""
    seen: list[str] = []

    def context(_ctx: object, *_args: object) -> None:
        current = trace.get_current_span()
        seen.append(getattr(current, "name", ""))

    async for traced in traced_server(context=context):
        await traced.post("query Greeting { hello }")
        await traced.span()
    # Named when the span ends; what matters is that a recording span was current.
    assert seen == ["GraphQL Operation"]


async def test_metrics_and_tracing_together() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = GraphQLServer(
        metrics_app.schema,
        metrics=PrometheusMetrics(),
        tracing=OpenTelemetryTracing(tracer_provider=provider),
    )
    async with (
        serve_in_process(server, "uvicorn") as base,
        httpx.AsyncClient(timeout=10) as client,
    ):
        await client.post(f"{base}/graphql", json={"query": "{ hello }"})
        text = (await client.get(f"{base}/metrics")).text
    labels = 'operation_type="query",protocol="none",status="ok",transport="http"'
    assert f"gqlwire_operations_total{{{labels}}} 1.0" in text
    assert [span.name for span in exporter.get_finished_spans()] == ["query"]
    provider.shutdown()
