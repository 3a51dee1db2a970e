"""What metrics and tracing cost: results per second and server CPU per result with
them off, with Prometheus metrics on, with metrics and OpenTelemetry tracing on, and
(optionally) with the code from before they existed.

    python -m benchmarks.metrics_overhead                       # off / metrics / metrics+tracing
    python -m benchmarks.metrics_overhead --baseline-src SRC    # adds "before": SRC is the
                                                                # src/ of an older checkout
    python -m benchmarks.metrics_overhead --quick               # a smoke run (seconds)

Each configuration is a server process (``aiohttp_app()``, one worker) whose schema has
``subscription { ticks(count) { seq payload } }``, yielding ``count`` results as fast as
they are taken; tracing exports to no backend (a TracerProvider without processors: the
spans are made, then dropped). The load generator in this process opens ``connections``
WebSockets (``graphql-transport-ws``), each subscribing once (unshared: every result
passes the per-operation instruments), and reads every result until ``complete``.
The configurations take turns, round after round; the best and the median round of
each are reported: results per second (wall clock, all connections) and the server's
CPU time (user + system, from /proc) per result. Writes ``metrics_overhead.json`` and
``metrics_overhead.md`` to ``--out`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src"
CONFIGS = ("before", "off", "metrics", "metrics+tracing")
QUERY = "subscription ($n: Int!) { ticks(count: $n) { seq payload } }"


# -- the server side (run in a subprocess: python -m benchmarks.metrics_overhead --serve) --


def build_server(config: str) -> Any:
    from graphql import (
        GraphQLArgument,
        GraphQLField,
        GraphQLInt,
        GraphQLNonNull,
        GraphQLObjectType,
        GraphQLSchema,
        GraphQLString,
    )

    from gqlwire import GraphQLServer

    tick = GraphQLObjectType(
        "Tick", {"seq": GraphQLField(GraphQLInt), "payload": GraphQLField(GraphQLString)}
    )

    async def ticks(_root: Any, _info: Any, count: int) -> AsyncIterator[dict[str, Any]]:
        payload = "x" * 64
        for seq in range(count):
            yield {"seq": seq, "payload": payload}
            await asyncio.sleep(0)  # as a source waiting for its next event does

    schema = GraphQLSchema(
        query=GraphQLObjectType("Query", {"ok": GraphQLField(GraphQLInt, resolve=lambda *_: 1)}),
        subscription=GraphQLObjectType(
            "Subscription",
            {
                "ticks": GraphQLField(
                    tick,
                    args={"count": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                    subscribe=ticks,
                    resolve=lambda value, _info, **_args: value,
                )
            },
        ),
    )
    options: dict[str, Any] = {"max_messages_per_second": None}
    if config in ("metrics", "metrics+tracing"):
        from gqlwire.metrics import PrometheusMetrics

        options["metrics"] = PrometheusMetrics()
    if config == "metrics+tracing":
        from opentelemetry.sdk.trace import TracerProvider

        from gqlwire.tracing import OpenTelemetryTracing

        options["tracing"] = OpenTelemetryTracing(tracer_provider=TracerProvider())
    return GraphQLServer(schema, **options)


def serve(config: str, port: int) -> None:
    from aiohttp import web

    web.run_app(
        build_server(config).aiohttp_app("/graphql"),
        host="127.0.0.1",
        port=port,
        print=None,
        handle_signals=True,
    )


# -- the load generator -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, config: str, source: Path) -> None:
        self.config = config
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(HERE.parent)])}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        command = [sys.executable, "-m", "benchmarks.metrics_overhead", "--serve", config]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)], env=env, cwd=HERE.parent
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {config} server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


async def one_subscriber(session: aiohttp.ClientSession, url: str, count: int) -> int:
    received = 0
    async with session.ws_connect(url, protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json())["type"] == "connection_ack"
        payload = {"query": QUERY, "variables": {"n": count}}
        await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
        while True:
            message = await ws.receive_json()
            if message["type"] == "next":
                received += 1
            elif message["type"] == "complete":
                return received
            elif message["type"] != "ping":
                raise RuntimeError(f"unexpected {message}")


async def one_round(server: Server, connections: int, count: int) -> dict[str, float]:
    url = f"ws://127.0.0.1:{server.port}/graphql"
    async with aiohttp.ClientSession() as session:
        cpu = cpu_seconds(server.process.pid)
        started = time.perf_counter()
        received = await asyncio.gather(
            *(one_subscriber(session, url, count) for _ in range(connections))
        )
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(server.process.pid) - cpu
    results = sum(received)
    if results != connections * count:
        raise RuntimeError(f"{server.config}: {results} results, not {connections * count}")
    return {"results_per_second": results / elapsed, "cpu_us_per_result": cpu / results * 1e6}


def run(args: argparse.Namespace) -> dict[str, Any]:
    configs = [c for c in CONFIGS if c != "before" or args.baseline_src]
    servers = {
        config: Server(config, Path(args.baseline_src) if config == "before" else SOURCE)
        for config in configs
    }
    rounds: dict[str, list[dict[str, float]]] = {config: [] for config in configs}
    try:
        for config in configs:  # warm-up: imports, caches, the allocator
            asyncio.run(one_round(servers[config], args.connections, args.count // 10 or 1))
        for _ in range(args.rounds):
            for config in configs:
                rounds[config].append(
                    asyncio.run(one_round(servers[config], args.connections, args.count))
                )
    finally:
        for server in servers.values():
            server.stop()
    summary = {
        config: {
            key: statistics.median(r[key] for r in measured)
            for key in ("results_per_second", "cpu_us_per_result")
        }
        for config, measured in rounds.items()
    }
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "connections": args.connections,
        "results_per_connection": args.count,
        "rounds": rounds,
        "median": summary,
    }


def markdown(report: dict[str, Any]) -> str:
    """The table: each configuration's best round (the least disturbed by other work on
    the machine: the lowest CPU per result, the highest rate) and its median round."""
    rounds: dict[str, list[dict[str, float]]] = report["rounds"]
    best = {
        config: min(r["cpu_us_per_result"] for r in measured) for config, measured in rounds.items()
    }
    reference = best["before"] if "before" in best else best["off"]
    lines = [
        f"{report['connections']} WebSockets x {report['results_per_connection']} results, "
        f"{len(next(iter(rounds.values())))} rounds "
        f"(Python {report['machine']['python']}, {report['machine']['cpus']} CPUs)",
        "",
        "| configuration | results/s, best | server CPU per result, best | vs reference "
        "| results/s, median | CPU per result, median |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for config, measured in rounds.items():
        median = report["median"][config]
        rate = max(r["results_per_second"] for r in measured)
        lines.append(
            f"| {config} | {rate:,.0f} | {best[config]:.0f} µs | "
            f"{f'{best[config] / reference - 1:+.0%}' if reference else 'n/a'} | "
            f"{median['results_per_second']:,.0f} | "
            f"{median['cpu_us_per_result']:.0f} µs |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_overhead")
    parser.add_argument("--serve", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--baseline-src", help="src/ of the code to compare as 'before'")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--count", type=int, default=1000, help="results per connection")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.quick:
        args.connections, args.count, args.rounds = 2, 200, 1
    report = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics_overhead.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out / "metrics_overhead.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
