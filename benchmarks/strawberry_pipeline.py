"""Strawberry schemas on gqlwire: the fast path against Strawberry's own pipeline.

``python -m benchmarks.strawberry_pipeline [--events 20000] [--queries 2000] [--rounds 3]``

One Strawberry schema, served by ``gqlwire serve`` on aiohttp three ways, each in its own
process, with this process as the client:

- ``fast``: ``GraphQLServer(schema, strawberry_pipeline=False)``: graphql-core directly,
  with gqlwire's cached parse and validate and its per-event fast path;
- ``pipeline``: ``GraphQLServer(schema, strawberry_pipeline=True)``: every operation
  through ``schema.execute()`` / ``schema.subscribe()``, where Strawberry's extensions run;
- ``strawberry``: Strawberry's own aiohttp view (``strawberry.aiohttp.views.GraphQLView``),
  for reference.

Measured per configuration: one subscription streaming ``--events`` events as fast as
the server produces them (events/s and the server's CPU time per event), and
``--queries`` HTTP POSTs of a small query from 8 concurrent keep-alive clients
(queries/s and server CPU per query). Rounds alternate between the configurations and
the best round of each is kept, so that other work on the machine disturbs them alike.
Server CPU comes from ``/proc/PID/stat`` (Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import strawberry

from gqlwire import GraphQLServer

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY = 8
QUERY = "query Item($id: Int!) { item(id: $id) { id name tags } }"
SUBSCRIPTION = "subscription Ticks($count: Int!) { ticks(count: $count) { seq payload } }"


# -- the schema and the three servers ----------------------------------------------------


@strawberry.type
class Item:
    id: int
    name: str
    tags: list[str]


@strawberry.type
class Tick:
    seq: int
    payload: str


@strawberry.type
class Query:
    @strawberry.field
    def item(self, id: int) -> Item:
        return Item(id=id, name=f"item {id}", tags=["a", "b", "c"])


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self, count: int) -> AsyncGenerator[Tick, None]:
        for seq in range(count):
            if seq % 64 == 0:
                await asyncio.sleep(0)  # a real source awaits now and then
            yield Tick(seq=seq, payload="x" * 32)


schema = strawberry.Schema(query=Query, subscription=Subscription)

fast = GraphQLServer(schema, strawberry_pipeline=False, keep_alive=None)
pipeline = GraphQLServer(schema, strawberry_pipeline=True, keep_alive=None)


def _strawberry_view_app() -> Any:
    from aiohttp import web
    from strawberry.aiohttp.views import GraphQLView

    app = web.Application()
    app.router.add_route("*", "/graphql", GraphQLView(schema=schema))
    return app


strawberry_view = _strawberry_view_app()

CONFIGS = {"fast": "fast", "pipeline": "pipeline", "strawberry": "strawberry_view"}


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start(name: str, logs: Path) -> Server:
    """Serve one configuration; its output goes to a file (a pipe nobody reads would
    fill up and stall the server)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    target = f"benchmarks.strawberry_pipeline:{CONFIGS[name]}"
    log = logs / f"{name}.log"
    # No access log: writing a line per request would be measured too.
    command = [sys.executable, "-m", "gqlwire", "serve", target, "--port", str(port)]
    command += ["--log-level", "warning"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while "gqlwire: serving" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return Server(name, port, process)


@dataclass
class Measure:
    per_second: float
    cpu_us: float


async def stream(server: Server, events: int) -> Measure:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"http://127.0.0.1:{server.port}/graphql",
            protocols=["graphql-transport-ws"],
            max_msg_size=0,
        ) as ws,
    ):
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json())["type"] == "connection_ack"
        cpu, started = server.cpu_seconds(), time.perf_counter()
        await ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"count": events}},
            }
        )
        received = 0
        while True:
            message = await ws.receive_json()
            if message["type"] == "complete":
                break
            assert message["type"] == "next" and "errors" not in message["payload"], message
            received += 1
        elapsed, cpu = time.perf_counter() - started, server.cpu_seconds() - cpu
    assert received == events, f"{server.name}: {received} events of {events}"
    return Measure(events / elapsed, cpu / events * 1e6)


async def queries(server: Server, count: int) -> Measure:
    import aiohttp

    url = f"http://127.0.0.1:{server.port}/graphql"
    remaining = iter(range(count))

    async def client(session: aiohttp.ClientSession) -> None:
        for number in remaining:
            body = {"query": QUERY, "variables": {"id": number}}
            async with session.post(url, json=body) as response:
                result = await response.json()
                assert result == {
                    "data": {
                        "item": {"id": number, "name": f"item {number}", "tags": ["a", "b", "c"]}
                    }
                }, result

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(url, json={"query": QUERY, "variables": {"id": 0}}) as warm:
            await warm.read()
        cpu, started = server.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(CONCURRENCY)))
        elapsed, cpu = time.perf_counter() - started, server.cpu_seconds() - cpu
    return Measure(count / elapsed, cpu / count * 1e6)


def best(measures: list[Measure]) -> Measure:
    return max(measures, key=lambda measure: measure.per_second)


async def run(events: int, query_count: int, rounds: int) -> dict[str, dict[str, Measure]]:
    with tempfile.TemporaryDirectory(prefix="strawberry-pipeline-") as logs:
        return await _run(Path(logs), events, query_count, rounds)


async def _run(
    logs: Path, events: int, query_count: int, rounds: int
) -> dict[str, dict[str, Measure]]:
    servers: list[Server] = []
    results: dict[str, dict[str, list[Measure]]] = {
        name: {"stream": [], "http": []} for name in CONFIGS
    }
    try:
        for name in CONFIGS:
            servers.append(start(name, logs))
        for _ in range(rounds):
            for server in servers:
                results[server.name]["stream"].append(await stream(server, events))
            for server in servers:
                results[server.name]["http"].append(await queries(server, query_count))
    finally:
        for server in servers:
            server.stop()
    return {
        name: {kind: best(measures) for kind, measures in kinds.items()}
        for name, kinds in results.items()
    }


def report(results: dict[str, dict[str, Measure]], events: int, query_count: int) -> str:
    from importlib.metadata import version

    import graphql

    lines = [
        f"Python {platform.python_version()}, graphql-core {graphql.__version__}, "
        f"strawberry-graphql {version('strawberry-graphql')}, aiohttp, {os.cpu_count()} cores",
        "",
        f"| configuration | stream of {events:,} events: events/s | server CPU/event "
        f"| {query_count:,} HTTP queries: queries/s | server CPU/query |",
        "|---|---|---|---|---|",
    ]
    for name, kinds in results.items():
        stream_, http = kinds["stream"], kinds["http"]
        lines.append(
            f"| {name} | {stream_.per_second:,.0f} | {stream_.cpu_us:.1f} µs "
            f"| {http.per_second:,.0f} | {http.cpu_us:.0f} µs |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.strawberry_pipeline", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.events, args.queries, args.rounds))
    print(report(results, args.events, args.queries))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
