"""What idle subscribed connections cost a server in keep-alive pings alone.

    python -m benchmarks.keep_alive_cpu [--connections 2000] [--keep-alive 0.5]
        [--window 10] [--rounds 3]

Starts one aiohttp process serving gqlwire with a short ``keep_alive``, opens
``--connections`` graphql-transport-ws connections to it from this process (each
acknowledged, subscribed to a subscription that never yields, and answering every
``ping`` with a ``pong``), then reads the server's CPU time (user + system, from
``/proc``) over ``--window`` seconds, ``--rounds`` times. Nothing else happens on the
connections, so the figure is what their timers and pings cost. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .driver import _child_env, _free_port
from .feed import raise_open_file_limit

SUBPROTOCOL = "graphql-transport-ws"
SDL = "type Query { hello: String } type Subscription { idle: String }"


def serve(port: int, keep_alive: float) -> None:
    """The server process: one subscription that never yields, pings every
    ``keep_alive`` seconds."""
    from aiohttp import web
    from graphql import build_schema

    from gqlwire import GraphQLServer

    async def never(_root: Any, _info: Any) -> Any:
        await asyncio.Event().wait()
        yield None  # pragma: no cover - never reached

    schema = build_schema(SDL)
    subscription = schema.subscription_type
    assert subscription is not None
    subscription.fields["idle"].subscribe = never
    server = GraphQLServer(schema, keep_alive=keep_alive, max_connections=None)
    web.run_app(
        server.aiohttp_app("/graphql"),
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
        loop=asyncio.new_event_loop(),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def subscriber(session: Any, url: str, pings: list[int], ready: asyncio.Event) -> None:
    """One connection: init, subscribe, then answer pings until cancelled."""
    async with session.ws_connect(url, protocols=[SUBPROTOCOL]) as ws:
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json())["type"] == "connection_ack"
        await ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": "subscription { idle }"}}
        )
        ready.set()
        async for message in ws:
            if json.loads(message.data)["type"] == "ping":
                pings[0] += 1
                await ws.send_json({"type": "pong"})


async def wait_for_port(port: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
        else:
            writer.close()
            return


async def measure(args: argparse.Namespace, pid: int, port: int) -> dict[str, Any]:
    import aiohttp

    await wait_for_port(port, 30.0)
    url = f"http://127.0.0.1:{port}/graphql"
    pings = [0]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        for _ in range(args.connections):
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(subscriber(session, url, pings, ready)))
            await asyncio.wait_for(ready.wait(), 30.0)
        await asyncio.sleep(2 * args.keep_alive)  # every connection pinged once
        windows = []
        for _ in range(args.rounds):
            before, counted = cpu_seconds(pid), pings[0]
            await asyncio.sleep(args.window)
            cpu = cpu_seconds(pid) - before
            windows.append({"cpu_s": round(cpu, 3), "pings": pings[0] - counted})
        alive = sum(not task.done() for task in tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    cpus = [w["cpu_s"] for w in windows]
    return {
        "connections": args.connections,
        "alive": alive,
        "keep_alive_s": args.keep_alive,
        "window_s": args.window,
        "windows": windows,
        "median_core_fraction": round(statistics.median(cpus) / args.window, 4),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.keep_alive_cpu")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--keep-alive", type=float, default=0.5)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    raise_open_file_limit()
    if args.serve is not None:
        serve(args.serve, args.keep_alive)
        return 0
    port = _free_port()
    command = [sys.executable, "-m", "benchmarks.keep_alive_cpu", "--serve", str(port)]
    command += ["--keep-alive", str(args.keep_alive)]
    server = subprocess.Popen(command, env=_child_env())
    try:
        result = asyncio.run(measure(args, server.pid, port))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
