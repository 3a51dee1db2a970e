"""Prometheus metrics (gqlwire.metrics) on real servers with real clients: each test
scrapes ``/metrics`` over HTTP and checks that the numbers move as connections,
operations, results, slow consumers and broker outages happen.

In-process servers (aiohttp and uvicorn, tests/harness/inprocess.py) let a test publish
to the app's broker; the multiprocess test runs two ``gqlwire serve`` processes sharing
one PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gqlwire import Client, GraphQLServer
from gqlwire.fanout import RedisBroker
from gqlwire.metrics import PrometheusMetrics, worker_ended
from tests.apps import metrics_app
from tests.harness.inprocess import IN_PROCESS_SERVERS, serve_in_process
from tests.harness.rawws import raw_websocket
from tests.harness.redis_server import RedisProcess, redis_server_binary_or_skip
from tests.harness.servers import REPO_ROOT, assert_clean_log, start_server
from tests.harness.waiting import wait_until
from tests.harness.wsclient import ws_client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

TRANSPORT_WS = WS = "graphql-transport-ws"


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when absent: a child not made yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


class Scraper:
    def __init__(self, base: str, http: httpx.AsyncClient) -> None:
        self.base = base
        self.http = http

    async def __call__(self) -> Samples:
        response = await self.http.get(f"{self.base}/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return parse(response.text)

    async def until(self, condition: Callable[[Samples], bool], what: str) -> Samples:
        found: dict[str, Samples] = {}

        async def holds() -> bool:
            found["samples"] = await self()
            return condition(found["samples"])

        await wait_until(holds, what)
        return found["samples"]


@pytest.fixture(params=IN_PROCESS_SERVERS, scope="module")
def runner_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def served(runner_name: str) -> AsyncIterator[tuple[str, Scraper]]:
    metrics = PrometheusMetrics(brokers={"messages": metrics_app.broker})
    server = GraphQLServer(metrics_app.schema, metrics=metrics)
    async with (
        serve_in_process(server, runner_name) as base,
        httpx.AsyncClient(timeout=10) as http,
    ):
        yield base, Scraper(base, http)


async def test_websocket_connections_operations_and_results_move(
    served: tuple[str, Scraper],
) -> None:
    base, scrape = served
    url = base.replace("http", "ws", 1) + "/graphql"
    before = await scrape()
    published = value(before, "gqlwire_broker_events_published_total", broker="messages")
    ws = {"transport": "websocket", "protocol": TRANSPORT_WS}
    async with Client(url) as client:
        results = client.subscribe("subscription { messages }")
        first = asyncio.ensure_future(anext(results))
        await scrape.until(
            lambda s: (
                value(s, "gqlwire_active_operations", **ws) == 1
                and value(s, "gqlwire_broker_subscribers", broker="messages") == 1
            ),
            "the subscription is counted",
        )
        samples = await scrape()
        assert value(samples, "gqlwire_connections", **ws) == 1
        for n in range(3):
            await metrics_app.broker.publish("messages", f"m{n}")
        assert (await first)["data"] == {"messages": "m0"}
        assert [(await anext(results))["data"]["messages"] for _ in range(2)] == ["m1", "m2"]
        samples = await scrape()
        assert value(samples, "gqlwire_results_sent_total", **ws) == 3
        assert value(samples, "gqlwire_broker_events_published_total", broker="messages") == (
            published + 3
        )
        assert value(samples, "gqlwire_broker_events_delivered_total", broker="messages") >= 3
        await results.aclose()
        samples = await scrape.until(
            lambda s: value(s, "gqlwire_active_operations", **ws) == 0,
            "the subscription ended",
        )
        ended = {**ws, "operation_type": "subscription", "status": "cancelled"}
        assert value(samples, "gqlwire_operations_total", **ended) == 1
        assert value(samples, "gqlwire_connections", **ws) == 1
    samples = await scrape.until(
        lambda s: value(s, "gqlwire_connections", **ws) == 0, "the connection closed"
    )
    durations = {"transport": "websocket", "operation_type": "subscription"}
    assert value(samples, "gqlwire_operation_duration_seconds_count", **durations) == 1


async def test_a_resumed_subscription_told_of_a_gap_is_counted(
    served: tuple[str, Scraper],
) -> None:
    base, scrape = served
    url = base.replace("http", "ws", 1) + "/graphql"
    async with Client(url) as client:
        results = client.subscribe(
            "subscription { recent }", extensions={"cursor": "not a cursor of this broker"}
        )
        first = asyncio.ensure_future(anext(results))
        await scrape.until(
            lambda s: (
                value(s, "gqlwire_active_operations", transport="websocket", protocol=TRANSPORT_WS)
                == 1
            ),
            "the subscription runs",
        )
        await metrics_app.history.publish("recent", "after")
        result = await first
        assert result["data"] == {"recent": "after"}
        assert result["extensions"]["gap"]["reason"] == "invalid"
        samples = await scrape()
        assert value(samples, "gqlwire_resume_gaps_total", reason="invalid") == 1
        await results.aclose()


async def test_legacy_protocol_and_http_operations_are_labelled(
    served: tuple[str, Scraper],
) -> None:
    base, scrape = served
    legacy = {"transport": "websocket", "protocol": "graphql-ws"}
    url = base.replace("http", "ws", 1) + "/graphql"
    async with Client(url, protocol="graphql-ws") as client:
        assert [
            r["data"]["count"] async for r in client.subscribe("subscription { count(to: 2) }")
        ] == [1, 2]
        samples = await scrape.until(
            lambda s: (
                value(
                    s,
                    "gqlwire_operations_total",
                    **legacy,
                    operation_type="subscription",
                    status="ok",
                )
                == 1
            ),
            "the legacy subscription is counted",
        )
        assert value(samples, "gqlwire_results_sent_total", **legacy) == 2
    http = {"transport": "http", "protocol": "none"}
    async with httpx.AsyncClient(timeout=10) as client:
        for query in ("{ hello }", "query Named { hello }", "{ boom }", "{ nope"):
            await client.post(f"{base}/graphql", json={"query": query})
    samples = await scrape()
    assert (
        value(samples, "gqlwire_operations_total", **http, operation_type="query", status="ok") == 2
    )
    # A result with errors, and a document that does not parse (its type unknown).
    assert (
        value(samples, "gqlwire_operations_total", **http, operation_type="query", status="error")
        == 1
    )
    assert (
        value(samples, "gqlwire_operations_total", **http, operation_type="unknown", status="error")
        == 1
    )
    assert (
        value(
            samples,
            "gqlwire_operation_duration_seconds_count",
            transport="http",
            operation_type="query",
        )
        == 3
    )
    assert value(samples, "gqlwire_active_operations", **http) == 0


async def test_an_event_stream_is_a_connection_while_it_lasts(
    served: tuple[str, Scraper],
) -> None:
    base, scrape = served
    sse = {"transport": "sse", "protocol": "none"}
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "POST",
            f"{base}/graphql",
            json={"query": "subscription { messages }"},
            headers={"accept": "text/event-stream"},
        ) as response,
    ):
        assert response.status_code == 200
        await scrape.until(
            lambda s: (
                value(s, "gqlwire_connections", **sse) == 1
                and value(s, "gqlwire_active_operations", **sse) == 1
            ),
            "the stream is counted",
        )
        await metrics_app.broker.publish("messages", "hi")
        async for line in response.aiter_lines():
            if line.startswith("data:") and "hi" in line:
                break
        samples = await scrape()
        assert value(samples, "gqlwire_results_sent_total", **sse) == 1
    await scrape.until(
        lambda s: (
            value(s, "gqlwire_connections", **sse) == 0
            and value(s, "gqlwire_active_operations", **sse) == 0
        ),
        "the stream ended",
    )


async def test_metrics_path_leaves_the_graphql_endpoint_as_it_was(
    served: tuple[str, Scraper],
) -> None:
    base, _ = served
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(f"{base}/graphql", json={"query": "{ hello }"})
        assert answer.json() == {"data": {"hello": "world"}}
        page = await client.get(f"{base}/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "<html" in page.text.lower()
        openmetrics = await client.get(
            f"{base}/metrics", headers={"accept": "application/openmetrics-text"}
        )
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.rstrip().endswith("# EOF")


@pytest.mark.parametrize("name", IN_PROCESS_SERVERS)
async def test_without_metrics_there_is_no_metrics_route(name: str) -> None:
    server = GraphQLServer(metrics_app.schema)
    assert server.runtime.observe is None and server.extra_paths == ()
    async with serve_in_process(server, name) as base, httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{base}/metrics")
    # aiohttp routes only the endpoint; the root ASGI app answers every path as GraphQL.
    assert response.status_code in (400, 404)
    assert "gqlwire_" not in response.text


def test_without_metrics_or_tracing_their_libraries_are_not_imported() -> None:
    code = (
        "import sys, asyncio, gqlwire\n"
        "from tests.apps.metrics_app import schema\n"
        "server = gqlwire.GraphQLServer(schema)\n"
        "server.asgi(); server.aiohttp_app()\n"
        "names = [n for n in sys.modules if n.split('.')[0] in "
        "('prometheus_client', 'opentelemetry') or n in ('gqlwire.metrics', 'gqlwire.tracing')]\n"
        "print(names)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])},
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


async def test_a_slow_consumer_closed_is_counted() -> None:
    metrics = PrometheusMetrics()
    server = GraphQLServer(
        metrics_app.schema,
        metrics=metrics,
        max_pending_bytes=64 * 1024,
        slow_consumer_timeout=0.2,
    )
    async with (
        serve_in_process(server, "aiohttp") as base,
        httpx.AsyncClient(timeout=10) as http,
    ):
        scrape = Scraper(base, http)
        port = int(base.rsplit(":", 1)[1])
        async with raw_websocket("127.0.0.1", port, "/graphql", TRANSPORT_WS) as ws:
            await ws.send_json({"type": "connection_init"})
            assert (await ws.receive_json())["type"] == "connection_ack"
            query = "subscription { big(size: 100000) }"
            await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
            # Never read again: the server's queue fills and it gives up on us.
            await scrape.until(
                lambda s: value(s, "gqlwire_slow_consumers_closed_total") == 1,
                "the slow consumer was closed",
            )
        samples = await scrape.until(
            lambda s: total(s, "gqlwire_connections") == 0, "the connection is gone"
        )
        assert (
            value(
                samples, "gqlwire_results_sent_total", transport="websocket", protocol=TRANSPORT_WS
            )
            > 0
        )


async def test_broker_reconnects_and_gaps_are_read_from_its_stats(
    tmp_path: Path,
) -> None:
    redis = RedisProcess(redis_server_binary_or_skip(), tmp_path)
    redis.start()
    try:
        broker = RedisBroker(
            redis.url,
            channel_prefix="gqlwire-metrics-test:",
            timeout=1.0,
            health_check_interval=0.5,
            reconnect_min_delay=0.05,
            reconnect_max_delay=0.5,
        )
        metrics = PrometheusMetrics(brokers={"events": broker})
        server = GraphQLServer(metrics_app.schema, metrics=metrics)
        async with (
            broker,
            broker.subscription("topic"),
            serve_in_process(server, "aiohttp") as base,
            httpx.AsyncClient(timeout=10) as http,
        ):
            scrape = Scraper(base, http)
            await broker.publish("topic", "one")
            samples = await scrape.until(
                lambda s: value(s, "gqlwire_broker_events_delivered_total", broker="events") == 1,
                "the event is delivered",
            )
            assert value(samples, "gqlwire_broker_connected", broker="events") == 1
            assert value(samples, "gqlwire_broker_gaps_total", broker="events") == 0
            redis.kill()
            await scrape.until(
                lambda s: value(s, "gqlwire_broker_connected", broker="events") == 0,
                "the loss is seen",
            )
            redis.start()
            samples = await scrape.until(
                lambda s: (
                    value(s, "gqlwire_broker_reconnects_total", broker="events") == 1
                    and value(s, "gqlwire_broker_connected", broker="events") == 1
                ),
                "the reconnection is counted",
            )
            assert value(samples, "gqlwire_broker_gaps_total", broker="events") == 1
            assert value(samples, "gqlwire_broker_subscribers", broker="events") == 1
    finally:
        redis.stop()


async def test_workers_sharing_a_multiprocess_directory_are_scraped_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `serve` processes (aiohttp and uvicorn) with one PROMETHEUS_MULTIPROC_DIR, as
    `serve --workers` runs them: either one's /metrics counts both. A worker killed with
    its connection open counts until `worker_ended` says it is gone."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    target = "tests.apps.metrics_app:server"
    first = start_server(target, "aiohttp", env=env)
    second = start_server(target, "uvicorn", env=env)
    ws = {"transport": "websocket", "protocol": TRANSPORT_WS}
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            scrape_second = Scraper(second.http_url(""), http)
            for proc in (first, second):
                answer = await http.post(proc.http_url(), json={"query": "{ hello }"})
                assert answer.json() == {"data": {"hello": "world"}}
            async with Client(second.ws_url()) as client:
                results = client.subscribe("subscription { messages }")
                waiting = asyncio.ensure_future(anext(results))  # nothing is published
                async with ws_client(first.ws_url(), subprotocols=[TRANSPORT_WS]) as raw:
                    await raw.send({"type": "connection_init"})
                    assert (await raw.receive())["type"] == "connection_ack"
                    samples = await scrape_second.until(
                        lambda s: (
                            value(s, "gqlwire_connections", **ws) == 2
                            and value(s, "gqlwire_active_operations", **ws) == 1
                        ),
                        "the second process counts both connections",
                    )
                    queries = value(
                        samples,
                        "gqlwire_operations_total",
                        transport="http",
                        protocol="none",
                        operation_type="query",
                        status="ok",
                    )
                    assert queries == 2
                    first.send_signal(signal.SIGKILL)
                    first.wait(timeout=10)
                    # Its gauges stay as it left them, until its end is told.
                    samples = await scrape_second()
                    assert value(samples, "gqlwire_connections", **ws) == 2
                    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
                    worker_ended(first.pid)
                    samples = await scrape_second()
                    assert value(samples, "gqlwire_connections", **ws) == 1
                    # Its counters stay in the totals.
                    assert value(samples, "gqlwire_operations_total", **samples_key()) == 2
                waiting.cancel()  # ends the subscription (the generator ends with it)
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            await scrape_second.until(
                lambda s: value(s, "gqlwire_connections", **ws) == 0, "the connection closed"
            )
    finally:
        assert second.stop() == 0
        assert_clean_log(second)
        first.stop()


async def test_serve_workers_answer_for_all_and_forget_killed_ones(tmp_path: Path) -> None:
    """`serve --workers 2` with PROMETHEUS_MULTIPROC_DIR: whichever worker answers a
    scrape counts every worker's connections; workers killed with SIGKILL stop counting
    once the supervisor has seen them end."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    proc = start_server(
        "tests.apps.metrics_app:server",
        "aiohttp",
        args=["--workers", "2"],
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory)},
    )
    ws = {"transport": "websocket", "protocol": TRANSPORT_WS}
    killed: set[int] = set()
    try:
        async with (
            httpx.AsyncClient(timeout=10) as http,
            ws_client(proc.ws_url()) as one,
            ws_client(proc.ws_url()) as two,
        ):
            scrape = Scraper(proc.http_url(""), http)
            for client in (one, two):
                await client.send({"type": "connection_init"})
                assert (await client.receive())["type"] == "connection_ack"
            for _ in range(4):  # the scrapes land on either worker
                samples = await scrape()
                assert value(samples, "gqlwire_connections", **ws) == 2
            killed = _children(proc.pid)
            assert len(killed) == 2
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            await wait_until(lambda: len(_children(proc.pid) - killed) == 2, "new workers")
            await scrape.until(
                lambda s: value(s, "gqlwire_connections", **ws) == 0,
                "the killed workers' connections no longer count",
            )
    finally:
        # Longer than the supervisor's own bound on its workers' stop (30 s), so that a
        # worker that does not stop shows in the log as the supervisor's report.
        status = proc.stop(timeout=35)
        for pid in killed | _children(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert status == 0, f"the stop ended with status {status}; the server's log:\n{proc.log()}"


def _children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (Linux)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == pid and stat[0] not in ("Z", "X"):
            found.add(int(entry))
    return found


def samples_key() -> dict[str, str]:
    return {"transport": "http", "protocol": "none", "operation_type": "query", "status": "ok"}


def test_labels_are_bounded_and_options_checked() -> None:
    with pytest.raises(ValueError, match="path"):
        PrometheusMetrics(path="metrics")
    metrics = PrometheusMetrics()
    with pytest.raises(ValueError, match="non-empty"):
        metrics.watch_broker("", metrics_app.broker)
    metrics.watch_broker("a", metrics_app.broker)
    with pytest.raises(ValueError, match="already"):
        metrics.watch_broker("a", RedisBroker())
    with pytest.raises(TypeError, match="metrics must be None"):
        GraphQLServer(metrics_app.schema, metrics=object())  # type: ignore[arg-type]
    text = metrics.exposition()[0].decode()
    labels = {
        name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for name in sample.labels
    }
    assert labels <= {"transport", "protocol", "operation_type", "status", "reason", "broker"}
