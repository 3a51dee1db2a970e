"""Prometheus metrics of a server and of its brokers (the ``metrics`` extra).

``GraphQLServer(schema, metrics=PrometheusMetrics())`` counts connections, operations,
results, drops and broker events, and answers ``GET /metrics`` on the server's own apps.
Nothing here runs unless a server is given an instance: the server's hot path then has
no hook at all (see :mod:`gqlwire.observe`).

Two kinds of numbers, counted two ways:

- What happens to connections and operations is counted as it happens, by wrappers the
  server installs only when metrics are on: the registry's sets of connections and
  streams count what enters and leaves them; each operation's run is timed, and its
  results counted, by a wrapper around it.
- What the server and the brokers already count (``GraphQLServer.stats()``,
  ``Broker.stats()``: drops, slow consumers, shared deliveries, publishes, reconnects,
  gaps) is read, never counted twice on the hot path: the increase since the last
  reading is added to the Prometheus counters at each scrape, and, when several
  processes share one scrape (multiprocess mode), at most once per ``sync_interval``
  seconds while operations run, so that every process's counters reach the shared files.

Labels are bounded by construction: ``transport`` (websocket, http, sse, multipart),
``protocol`` (the two WebSocket subprotocols, or ``none``), ``operation_type`` (query,
mutation, subscription, unknown), ``status`` (ok, error, cancelled), ``reason`` (a
fixed list), and ``broker`` (the names given to :meth:`PrometheusMetrics.watch_broker`).
Operation names, documents and client ids are never labels: a client chooses them.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, cast

from .execution import operation_of
from .http import HTTPRequest, HTTPResponse
from .observe import Instruments, OperationBody
from .protocol import ErrorStage

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from .fanout.broker import Broker
    from .operation import Operation, ResultSink
    from .protocol.messages import JSONObject
    from .server import GraphQLServer

__all__ = ["DEFAULT_BUCKETS", "PrometheusMetrics", "worker_ended"]

DEFAULT_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Operation duration buckets (seconds): queries take milliseconds, subscriptions up to
hours; the last bucket (+Inf) holds every long-lived subscription."""

MULTIPROCESS_ENVIRONMENT: Final = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's multiprocess mode: set in every worker's environment before it
starts, naming an empty directory the workers share."""

_GAP_REASONS: Final = frozenset({"expired", "lost", "invalid"})
_OPERATION_TYPES: Final = frozenset({"query", "mutation", "subscription"})

_Item = TypeVar("_Item")


class PrometheusMetrics:
    """Prometheus metrics for one or more :class:`~gqlwire.GraphQLServer`.

    ``registry``: where the metrics are registered (a new ``CollectorRegistry`` by
    default, so that several instances never collide; pass
    ``prometheus_client.REGISTRY`` to serve them beside the process's other metrics);
    ``prefix``: the start of every name; ``path``: the path the server's apps answer
    with the metrics (``None``: no endpoint, scrape :attr:`registry` yourself);
    ``brokers``: brokers to report, by name (see :meth:`watch_broker`); ``buckets``: of
    the operation duration histogram; ``multiprocess``: aggregate the metrics of every
    worker process (default: when ``PROMETHEUS_MULTIPROC_DIR`` is set, as
    prometheus_client's multiprocess mode requires); ``sync_interval``: in that mode,
    how often (seconds, at most) a process copies its stats into the shared files.
    """

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        prefix: str = "gqlwire",
        path: str | None = "/metrics",
        brokers: Mapping[str, Broker] | None = None,
        buckets: Iterable[float] = DEFAULT_BUCKETS,
        multiprocess: bool | None = None,
        sync_interval: float = 1.0,
    ) -> None:
        try:
            import prometheus_client
        except ImportError:
            raise ImportError(
                "PrometheusMetrics needs prometheus-client: pip install 'gqlwire[metrics]'"
            ) from None
        if path is not None and not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        if not sync_interval > 0:
            raise ValueError(f"sync_interval must be > 0, got {sync_interval!r}")
        self.multiprocess = (
            bool(os.environ.get(MULTIPROCESS_ENVIRONMENT)) if multiprocess is None else multiprocess
        )
        if self.multiprocess and not os.environ.get(MULTIPROCESS_ENVIRONMENT):
            raise ValueError(
                f"multiprocess=True needs {MULTIPROCESS_ENVIRONMENT} set to a directory "
                "shared by the workers (before prometheus_client is imported)"
            )
        self.registry: CollectorRegistry = registry or prometheus_client.CollectorRegistry()
        self.path = path
        self.sync_interval = sync_interval
        self._brokers: dict[str, Broker] = {}
        self._servers: weakref.WeakSet[GraphQLServer] = weakref.WeakSet()
        self._last: dict[tuple[int, str], float] = {}  # (id of a source, key): last reading
        self._next_sync = 0.0
        self._instruments = _Instruments(prometheus_client, self.registry, prefix, buckets)
        for name, broker in (brokers or {}).items():
            self.watch_broker(name, broker)

    def __repr__(self) -> str:
        return f"<PrometheusMetrics path={self.path!r} brokers={sorted(self._brokers)}>"

    def watch_broker(self, name: str, broker: Broker) -> None:
        """Report ``broker.stats()`` with the label ``broker=name``.

        The names are the label's only values: give each broker of the process a fixed
        name (``"chat"``, ``"events"``), never one built from a request.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a broker's name must be a non-empty string, got {name!r}")
        known = self._brokers.get(name)
        if known is not None and known is not broker:
            raise ValueError(f"another broker is already watched as {name!r}")
        self._brokers[name] = broker

    # -- what the server calls -------------------------------------------------------------

    def instrument(self, server: GraphQLServer) -> Instruments:
        """Count ``server``'s connections and operations (called when it is built)."""
        self._servers.add(server)
        registry = server._registry
        instruments = self._instruments
        registry.connections = _CountedSet(
            instruments.connection_gauge, _connection_labels, registry.connections
        )
        registry.streams = _CountedSet(
            instruments.connection_gauge, _stream_labels, registry.streams
        )
        route = _MetricsRoute(self, self.path) if self.path is not None else None
        return Instruments(run_operation=self._run_operation, route=route, path=self.path)

    async def _run_operation(self, operation: Operation, body: OperationBody) -> None:
        instruments = self._instruments
        context = operation.context
        transport: str = context.transport
        protocol: str = getattr(context, "protocol", None) or "none"
        active = instruments.active(transport, protocol)
        sink = _CountingSink(operation.sink, instruments.results(transport, protocol), self)
        operation.sink = sink
        status = "cancelled"
        started = time.perf_counter()
        active.inc()
        try:
            await body()
            status = sink.status
        finally:
            active.dec()
            elapsed = time.perf_counter() - started
            kind = _operation_type(operation)
            instruments.operations.labels(transport, protocol, kind, status).inc()
            instruments.duration.labels(transport, kind).observe(elapsed)
            self.tick()

    def tick(self) -> None:
        """In multiprocess mode, copy the stats to the shared files now and then (called
        as operations end and results are sent; a clock read when not due)."""
        if self.multiprocess and time.monotonic() >= self._next_sync:
            self.sync()

    # -- reading stats ------------------------------------------------------------------

    def sync(self) -> None:
        """Add to the counters what the servers' and brokers' stats counted since the
        last call, and set the gauges read from them."""
        self._next_sync = time.monotonic() + self.sync_interval
        instruments = self._instruments
        for server in list(self._servers):
            stats = server.stats()
            self._add(server, "dropped_messages", stats, instruments.dropped_messages)
            self._add(server, "slow_consumers_closed", stats, instruments.slow_consumers)
            self._add(server, "shared_events", stats, instruments.shared_events)
            self._add(server, "shared_deliveries", stats, instruments.shared_deliveries)
        for name, broker in self._brokers.items():
            broker_stats: Mapping[str, Any] = broker.stats()
            i = instruments
            self._add(broker, "published", broker_stats, i.published.labels(name))
            self._add(broker, "delivered", broker_stats, i.delivered.labels(name))
            queue_full = i.broker_dropped.labels(name, "queue_full")
            self._add(broker, "dropped_oldest", broker_stats, queue_full)
            disconnected = i.broker_dropped.labels(name, "disconnected")
            self._add(broker, "dropped_while_disconnected", broker_stats, disconnected)
            self._add(broker, "reconnects", broker_stats, i.reconnects.labels(name))
            self._add(broker, "gaps", broker_stats, i.broker_gaps.labels(name))
            i.subscribers.labels(name).set(broker_stats.get("subscribers", 0))
            i.connected.labels(name).set(1 if broker_stats.get("connected") else 0)

    def _add(self, source: object, key: str, stats: Mapping[str, Any], counter: Any) -> None:
        value = stats.get(key)
        if not isinstance(value, int | float):
            return  # a broker that does not count this
        slot = (id(source), key)
        last = self._last.get(slot, 0)
        # A count lower than the last one started again (a recreated broker): all of it
        # is new, as Prometheus reads a counter reset.
        increase = value - last if value >= last else value
        self._last[slot] = value
        if increase:
            counter.inc(increase)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The metrics in the text format ``accept`` asks for (Prometheus' or
        OpenMetrics'), and its content type; every worker's in multiprocess mode."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder

        self.sync()
        registry = self.registry
        if self.multiprocess:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type


def worker_ended(pid: int) -> None:
    """Tell prometheus_client's multiprocess mode that the worker ``pid`` has ended, so
    that its gauges (open connections, running operations) stop counting; its counters
    stay in the totals. For a process supervisor (``serve --workers``) to call when a
    worker exits, however it ended; a no-op without ``PROMETHEUS_MULTIPROC_DIR`` or
    without prometheus_client."""
    if not os.environ.get(MULTIPROCESS_ENVIRONMENT):
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class _Instruments:
    """The Prometheus objects, and label children cached for the hot path."""

    def __init__(
        self, client: Any, registry: CollectorRegistry, prefix: str, buckets: Iterable[float]
    ) -> None:
        counter, gauge, histogram = client.Counter, client.Gauge, client.Histogram
        at = {"registry": registry}
        live = {"registry": registry, "multiprocess_mode": "livesum"}
        both = ["transport", "protocol"]
        self.connection_gauge = gauge(
            f"{prefix}_connections",
            "Open WebSocket connections and HTTP streams (SSE, multipart)",
            both,
            **live,
        )
        self.active_operations = gauge(
            f"{prefix}_active_operations", "Operations running", both, **live
        )
        self.operations = counter(
            f"{prefix}_operations",
            "Operations ended, by type and status (ok, error, cancelled)",
            [*both, "operation_type", "status"],
            **at,
        )
        self.duration = histogram(
            f"{prefix}_operation_duration_seconds",
            "Time from an operation's start to its end (a subscription's whole life)",
            ["transport", "operation_type"],
            buckets=tuple(buckets),
            **at,
        )
        self.results_sent = counter(
            f"{prefix}_results_sent",
            "Results handed to transports (unshared operations; shared ones: shared_deliveries)",
            both,
            **at,
        )
        self.resume_gaps = counter(
            f"{prefix}_resume_gaps",
            "Resumed subscriptions told that events are missing (extensions.gap), by reason",
            ["reason"],
            **at,
        )
        self.dropped_messages = counter(
            f"{prefix}_dropped_messages",
            "Messages dropped from slow clients' queues (overflow_policy drop_oldest)",
            **at,
        )
        self.slow_consumers = counter(
            f"{prefix}_slow_consumers_closed",
            "Connections and streams closed because their client stopped reading",
            **at,
        )
        self.shared_events = counter(
            f"{prefix}_shared_events", "Events executed once for a shared subscription", **at
        )
        self.shared_deliveries = counter(
            f"{prefix}_shared_deliveries", "Results of shared subscriptions delivered", **at
        )
        broker = ["broker"]
        self.published = counter(
            f"{prefix}_broker_events_published", "Events published", broker, **at
        )
        self.delivered = counter(
            f"{prefix}_broker_events_delivered",
            "Events handed to local subscribers (one per subscriber)",
            broker,
            **at,
        )
        self.broker_dropped = counter(
            f"{prefix}_broker_events_dropped",
            "Events dropped: a subscriber's full queue (queue_full) or a publish while "
            "the backend was unreachable (disconnected)",
            [*broker, "reason"],
            **at,
        )
        self.reconnects = counter(
            f"{prefix}_broker_reconnects", "Connections to the backend re-established", broker, **at
        )
        self.broker_gaps = counter(
            f"{prefix}_broker_gaps",
            "Backend losses while topics were subscribed (events may be missing)",
            broker,
            **at,
        )
        self.subscribers = gauge(
            f"{prefix}_broker_subscribers", "Local subscribers", broker, **live
        )
        self.connected = gauge(
            f"{prefix}_broker_connected",
            "Processes whose broker's subscriber side is connected",
            broker,
            **live,
        )
        self._active: dict[tuple[str, str], Any] = {}
        self._results: dict[tuple[str, str], Any] = {}
        self._gaps: dict[str, Any] = {}

    def active(self, transport: str, protocol: str) -> Any:
        child = self._active.get((transport, protocol))
        if child is None:
            child = self._active[transport, protocol] = self.active_operations.labels(
                transport, protocol
            )
        return child

    def results(self, transport: str, protocol: str) -> Any:
        child = self._results.get((transport, protocol))
        if child is None:
            child = self._results[transport, protocol] = self.results_sent.labels(
                transport, protocol
            )
        return child

    def gap(self, reason: object) -> Any:
        label = reason if isinstance(reason, str) and reason in _GAP_REASONS else "other"
        child = self._gaps.get(label)
        if child is None:
            child = self._gaps[label] = self.resume_gaps.labels(label)
        return child


class _CountingSink:
    """An operation's :class:`~gqlwire.operation.ResultSink`, counting what passes."""

    __slots__ = ("_metrics", "_results", "_sink", "status")

    def __init__(self, sink: ResultSink, results: Any, metrics: PrometheusMetrics) -> None:
        self._sink = sink
        self._results = results
        self._metrics = metrics
        self.status = "ok"

    def is_active(self) -> bool:
        return self._sink.is_active()

    async def next(self, payload: JSONObject) -> None:
        await self._sink.next(payload)
        self._results.inc()
        if payload.get("errors"):
            self.status = "error"  # a result with errors (Hasura counts it as failed)
        extensions = payload.get("extensions")
        if isinstance(extensions, dict) and "gap" in extensions:
            gap = extensions["gap"]
            self._metrics._instruments.gap(
                gap.get("reason") if isinstance(gap, dict) else None
            ).inc()
        self._metrics.tick()

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        self.status = "error"
        await self._sink.errors(errors, stage)

    async def complete(self) -> None:
        await self._sink.complete()

    async def failed(self, error: Exception) -> None:
        self.status = "error"
        await self._sink.failed(error)


class _CountedSet(set[_Item], Generic[_Item]):
    """A registry's set of connections or streams, moving a gauge as members come and go
    (the registry adds and discards; nothing else changes it)."""

    def __init__(
        self, gauge: Any, labels: Callable[[_Item], tuple[str, str]], items: Iterable[_Item]
    ) -> None:
        super().__init__()
        self._gauge = gauge
        self._labels = labels
        for item in items:
            self.add(item)

    def add(self, item: _Item) -> None:
        if item not in self:
            super().add(item)
            self._gauge.labels(*self._labels(item)).inc()

    def discard(self, item: object) -> None:
        if item in self:  # so it is one of ours
            super().discard(item)
            self._gauge.labels(*self._labels(cast(_Item, item))).dec()


def _connection_labels(connection: Any) -> tuple[str, str]:
    return "websocket", connection.protocol or "none"


def _stream_labels(stream: Any) -> tuple[str, str]:
    framing = getattr(stream, "framing", None)
    content_type = getattr(framing, "content_type", "") or ""
    return ("sse" if content_type.startswith("text/event-stream") else "multipart"), "none"


def _operation_type(operation: Operation) -> str:
    args = operation.args
    if args is None:
        return "unknown"  # refused or failed before it was parsed
    found = operation_of(args)
    kind = found.operation.value if found is not None else "unknown"
    return kind if kind in _OPERATION_TYPES else "unknown"


class _MetricsRoute:
    """``GET <path>`` on the server's apps: the metrics (an HTTP route tried before
    GraphQL's own rules, so that nothing else at that path changes)."""

    def __init__(self, metrics: PrometheusMetrics, path: str) -> None:
        self.metrics = metrics
        self.path = path

    def claims(self, request: HTTPRequest) -> bool:
        return request.method == "GET" and _path_of(request) == self.path

    async def handle(self, request: HTTPRequest) -> HTTPResponse:
        body, content_type = self.metrics.exposition(request.headers.get("accept"))
        return HTTPResponse(200, [("content-type", content_type)], body)


def _path_of(request: HTTPRequest) -> str | None:
    """The request's path, from what the adapter left in ``extra``."""
    scope = request.extra.get("scope")
    if scope is not None:
        path: str | None = scope.get("path")
        return path
    aiohttp_request = request.extra.get("request")
    return getattr(aiohttp_request, "path", None)
