"""The load generator: one scenario against one running server, in its own process.

    python -m benchmarks.loadgen '{"scenario": "fanout", "port": 8000, ...}'

prints one JSON object (the scenario's measurements) as its last line of output. It
drives the server's control endpoints (publish, stats) over plain HTTP and measures
its own CPU time next to the server's, so a report can show the client cost less.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .feed import machine_busy, raise_open_file_limit, runqueue_wait
from .sseclient import open_sse_subscriber
from .wsclient import Subscriber, Tally, open_subscriber, summary

Params = dict[str, Any]
Result = dict[str, Any]

_HTTP_TIMEOUT = 30.0


class Server:
    """The control endpoints of the server under test."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def request(self, method: str, target: str) -> dict[str, Any]:
        async with asyncio.timeout(_HTTP_TIMEOUT):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(
                    f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = None
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await (reader.readexactly(length) if length is not None else reader.read())
            finally:
                writer.close()
        status = int(head.split()[1])
        if status != 200:
            raise RuntimeError(f"{method} {target}: HTTP {status} {body[:200]!r}")
        result: dict[str, Any] = orjson.loads(body)
        return result

    async def stats(self, collect: bool = False) -> dict[str, Any]:
        return await self.request("GET", "/_stats?gc=1" if collect else "/_stats")

    async def publish(self, channel: str, count: int, rate: float = 0) -> int:
        reply = await self.request("POST", f"/_publish?channel={channel}&count={count}&rate={rate}")
        return int(reply["first"])

    async def profile(self, action: str, path: str = "") -> None:
        await self.request("POST", f"/_profile?action={action}&path={path}")

    async def wait_subscribers(self, expected: int, within: float = 60.0) -> None:
        """Until the server runs ``expected`` subscriptions (every subscribe processed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            stats = await self.stats()
            if stats["subscribers"] == expected:
                return
            if loop.time() > deadline:
                raise TimeoutError(
                    f"server runs {stats['subscribers']} subscriptions, expected {expected}"
                )
            await asyncio.sleep(0.02)


def own_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


class Measurement:
    """Server CPU, client CPU (each split in user and kernel time) and wall time over
    one measured window, with what tells how much else was running: the time each
    process waited for a CPU, and the CPU time of every other process on the machine.

    On loopback the kernel's TCP work for one packet runs partly in the sender's and
    partly in the receiver's system time, so user time is the cleaner comparison of
    what each side's own code costs.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self._server: dict[str, Any] = {}
        self._client = (0.0, 0.0)
        self._client_wait = 0.0
        self._machine = 0.0
        self.started = 0.0

    async def start(self) -> None:
        self._server = await self.server.stats()
        self._client = own_cpu()
        self._client_wait = runqueue_wait()
        self._machine = machine_busy()
        self.started = time.perf_counter()

    async def stop(self, ended: float | None = None) -> dict[str, Any]:
        wall = (ended or time.perf_counter()) - self.started
        user, system = own_cpu()
        client_user, client_sys = user - self._client[0], system - self._client[1]
        stats = await self.server.stats()
        server_user = stats["cpu_user"] - self._server["cpu_user"]
        server_sys = stats["cpu_sys"] - self._server["cpu_sys"]
        server_cpu, client_cpu = server_user + server_sys, client_user + client_sys
        others = machine_busy() - self._machine - server_cpu - client_cpu
        return {
            "wall_s": wall,
            "server_cpu_s": server_cpu,
            "server_user_s": server_user,
            "server_sys_s": server_sys,
            "client_cpu_s": client_cpu,
            "client_user_s": client_user,
            "client_sys_s": client_sys,
            "client_vs_server_cpu": client_cpu / server_cpu if server_cpu > 0 else None,
            "client_vs_server_user": client_user / server_user if server_user > 0 else None,
            "server_waited_for_cpu_s": stats["runqueue_wait"] - self._server["runqueue_wait"],
            # By generation (0, 1, 2): collections and seconds.
            "server_gc_collections": _by_generation(stats, self._server, "gc_collections"),
            "server_gc_s": _by_generation(stats, self._server, "gc_s"),
            "server_rss_bytes": stats["rss"],
            "client_waited_for_cpu_s": runqueue_wait() - self._client_wait,
            "other_processes_cpu_s": max(0.0, others),
            "server_extra": stats.get("extra", {}),
            "server_extra_delta": {
                key: value - self._server.get("extra", {}).get(key, 0)
                for key, value in stats.get("extra", {}).items()
                if isinstance(value, int | float)
            },
        }


def _by_generation(now: dict[str, Any], before: dict[str, Any], key: str) -> list[float]:
    return [later - earlier for later, earlier in zip(now[key], before[key], strict=True)]


async def open_many(
    params: Params,
    channel: str,
    count: int,
    tally: Tally,
    *,
    start_index: int = 0,
    record_latency: bool = False,
) -> list[Subscriber]:
    """``count`` subscribers, at most ``concurrency`` handshakes in flight at once, over
    ``params["transport"]``: ``ws`` (graphql-transport-ws, the default) or ``sse``."""
    gate = asyncio.Semaphore(int(params.get("concurrency", 64)))
    opener = open_sse_subscriber if params.get("transport") == "sse" else open_subscriber

    async def one(index: int) -> Subscriber:
        async with gate:
            return await opener(
                index,
                params["host"],
                params["port"],
                params.get("path", "/graphql"),
                channel,
                tally,
                record_latency=record_latency,
            )

    return list(await asyncio.gather(*(one(start_index + i) for i in range(count))))


async def close_all(server: Server, subscribers: list[Subscriber]) -> None:
    for subscriber in subscribers:
        subscriber.close()
    if subscribers:
        await asyncio.wait([s.closed for s in subscribers], timeout=10)
    # The next scenario starts once the server has cleaned these up.
    with contextlib.suppress(TimeoutError):
        await server.wait_subscribers(0, within=30)


def new_channel(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# -- scenarios ---------------------------------------------------------------------------


async def fanout(params: Params, server: Server) -> Result:
    """N subscribers of one channel, K events published as fast as the loop allows."""
    subscribers_n, events = int(params["subscribers"]), int(params["events"])
    channel = new_channel("fanout")
    tally = Tally()
    subscribers = await open_many(params, channel, subscribers_n, tally)
    try:
        await server.wait_subscribers(subscribers_n)
        tally.expect(subscribers_n, events)
        measurement = Measurement(server)
        profile_path = params.get("profile")
        if profile_path:
            await server.profile("start")
        await measurement.start()
        first = await server.publish(channel, events)
        finished = await tally.wait(within=float(params.get("timeout", 300)), idle=10)
        result = await measurement.stop(tally.last_time or None)
        if profile_path:
            await server.profile("stop", profile_path)
        counts = summary(subscribers, first, events)
        delivered = counts["delivered"]
        result.update(counts)
        result.update(
            finished=finished,
            msgs_per_s=delivered / result["wall_s"] if result["wall_s"] > 0 else 0.0,
            msgs_per_server_cpu_s=(
                delivered / result["server_cpu_s"] if result["server_cpu_s"] > 0 else None
            ),
            server_cpu_us_per_msg=result["server_cpu_s"] / delivered * 1e6 if delivered else None,
            client_cpu_us_per_msg=result["client_cpu_s"] / delivered * 1e6 if delivered else None,
        )
        return result
    finally:
        await close_all(server, subscribers)


async def connect(params: Params, server: Server) -> Result:
    """N connections, each: connect, init, ack, subscribe, first event."""
    count = int(params["subscribers"])
    channel = new_channel("connect")
    tally = Tally()
    tally.expect(count, 1)
    measurement = Measurement(server)
    profile_path = params.get("profile")
    if profile_path:
        await server.profile("start")
    await measurement.start()
    subscribers: list[Subscriber] = []
    try:
        subscribers = await open_many(params, channel, count, tally)
        await server.wait_subscribers(count)
        first = await server.publish(channel, 1)
        finished = await tally.wait(within=float(params.get("timeout", 120)), idle=10)
        result = await measurement.stop(tally.last_time or None)
        if profile_path:
            await server.profile("stop", profile_path)
        result.update(summary(subscribers, first, 1))
        acks = sorted((s.ack_time - s.started) * 1e3 for s in subscribers)
        result.update(
            finished=finished,
            connections_per_s=count / result["wall_s"],
            server_cpu_us_per_connection=result["server_cpu_s"] / count * 1e6,
            ack_ms_p50=percentile(acks, 50),
            ack_ms_p99=percentile(acks, 99),
        )
        return result
    finally:
        await close_all(server, subscribers)


async def memory(params: Params, server: Server) -> Result:
    """RSS growth per idle connection with one subscription (after a GC)."""
    count = int(params["subscribers"])
    channel = new_channel("idle")
    before = await server.stats(collect=True)
    tally = Tally()
    subscribers = await open_many(params, channel, count, tally)
    try:
        await server.wait_subscribers(count)
        await asyncio.sleep(float(params.get("settle", 0.5)))
        after = await server.stats(collect=True)
        delta = after["rss"] - before["rss"]
        return {
            "connections": count,
            "rss_before_bytes": before["rss"],
            "rss_after_bytes": after["rss"],
            "bytes_per_connection": delta / count,
            "kb_per_connection": delta / count / 1024,
            "ok": True,
        }
    finally:
        await close_all(server, subscribers)


async def latency(params: Params, server: Server) -> Result:
    """N subscribers, events at a fixed rate: publish-to-receive percentiles."""
    count = int(params["subscribers"])
    rate = float(params["rate"])
    events = max(1, round(rate * float(params["duration"])))
    channel = new_channel("latency")
    tally = Tally()
    subscribers = await open_many(params, channel, count, tally, record_latency=True)
    try:
        await server.wait_subscribers(count)
        tally.expect(count, events)
        measurement = Measurement(server)
        await measurement.start()
        first = await server.publish(channel, events, rate)
        finished = await tally.wait(
            within=float(params["duration"]) + float(params.get("timeout", 120)), idle=10
        )
        result = await measurement.stop(tally.last_time or None)
        result.update(summary(subscribers, first, events))
        samples = sorted(x * 1e3 for s in subscribers for x in s.latencies)
        result.update(
            finished=finished,
            events=events,
            rate=rate,
            p50_ms=percentile(samples, 50),
            p90_ms=percentile(samples, 90),
            p99_ms=percentile(samples, 99),
            max_ms=samples[-1] if samples else None,
            mean_ms=statistics.fmean(samples) if samples else None,
            server_cpu_utilization=result["server_cpu_s"] / result["wall_s"],
        )
        return result
    finally:
        await close_all(server, subscribers)


async def stalled(params: Params, server: Server) -> Result:
    """N connections, K events as fast as possible. One connection carries S
    subscriptions of the channel (so it falls behind by S frames per event, and past
    what the kernel buffers for one socket within the run); it either reads (the
    baseline) or never reads. Reported: the healthy subscribers' throughput lost to the
    stalled one, and what the server did with it."""
    count, events = int(params["subscribers"]), int(params["events"])
    subscriptions = int(params.get("stalled_subscriptions", 50))
    timeout = float(params.get("timeout", 180))
    idle = float(params.get("idle", 5))

    async def run(stall: bool) -> Result:
        channel = new_channel("stall" if stall else "stall-base")
        tally, heavy_tally = Tally(), Tally()
        healthy_n = count - 1
        subscribers = await open_many(params, channel, healthy_n, tally)
        heavy: Subscriber | None = None
        try:
            heavy = await open_subscriber(
                count,
                params["host"],
                params["port"],
                params.get("path", "/graphql"),
                channel,
                heavy_tally,
                # The stalled one keeps little in its kernel buffer; the baseline reads
                # with the default buffer, to keep up as well as it can.
                receive_buffer=int(params.get("stalled_receive_buffer", 4096)) if stall else None,
                subscriptions=subscriptions,
            )
            if stall:
                heavy.stall()
            await server.wait_subscribers(healthy_n + subscriptions)
            tally.expect(healthy_n, events)
            heavy_tally.expect(1, events * subscriptions)
            measurement = Measurement(server)
            await measurement.start()
            first = await server.publish(channel, events)
            finished = await tally.wait(within=timeout, idle=idle)
            result = await measurement.stop(tally.last_time or None)
            delivered = sum(s.count for s in subscribers)
            result.update(
                finished=finished,
                healthy_subscribers=healthy_n,
                healthy_delivered_in_time=delivered,
                # A publisher that waits for the stalled client stops everyone: no
                # throughput until that client reads again.
                per_subscriber_events_per_s=(
                    delivered / healthy_n / result["wall_s"] if finished else 0.0
                ),
            )
            result.update(await _release(heavy, heavy_tally, events * subscriptions))
            # Whatever the server held back is delivered once the client reads again:
            # then every healthy subscriber must have every event, once, in order.
            result["healthy_finished_after_release"] = await tally.wait(within=60, idle=idle)
            result.update(summary(subscribers, first, events))
            return result
        finally:
            if heavy is not None:
                heavy.close()
                subscribers.append(heavy)
            await close_all(server, subscribers)

    baseline = await run(stall=False)
    with_stall = await run(stall=True)
    base_rate = baseline["per_subscriber_events_per_s"]
    stall_rate = with_stall["per_subscriber_events_per_s"]
    # ok: every healthy subscriber eventually got every event once and in order, and
    # the stalled client got an in-order prefix of its frames.
    return {
        "baseline": baseline,
        "stalled": with_stall,
        "throughput_cost": 1 - stall_rate / base_rate if base_rate else None,
        "ok": bool(
            baseline["ok"]
            and with_stall["ok"]
            and baseline["heavy_in_order"]
            and with_stall["heavy_in_order"]
        ),
        "baseline_heavy_complete": baseline["heavy_received"] == baseline["heavy_expected"],
        "outcome": _stall_outcome(with_stall),
    }


async def _release(subscriber: Subscriber, tally: Tally, expected: int) -> Result:
    """Read what the server kept for the heavy connection (after it stopped reading):
    all of it, part of it then a close, or nothing."""
    before = subscriber.count
    subscriber.resume()
    waiter: asyncio.Future[Any] = asyncio.ensure_future(tally.wait(within=30, idle=3))
    closed: asyncio.Future[Any] = subscriber.closed
    await asyncio.wait([waiter, closed], return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        await asyncio.sleep(0.2)  # frames read together with the close
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    return {
        "heavy_received_before_release": before,
        "heavy_received": subscriber.count,
        "heavy_expected": expected,
        "heavy_close_code": subscriber.close_code,
        "heavy_disconnected": subscriber.closed.done(),
        "heavy_in_order": subscriber.out_of_order == 0,
    }


def _stall_outcome(result: Result) -> str:
    if not result.get("finished"):
        return "everyone stalled: the publisher waits for the slow client"
    code = result.get("heavy_close_code")
    received, expected = result.get("heavy_received", 0), result.get("heavy_expected", 0)
    if code is not None:
        return f"slow client closed with {code} after {received:,}/{expected:,} frames"
    if result.get("heavy_disconnected"):
        return f"slow client disconnected after {received:,}/{expected:,} frames"
    lagging = result.get("server_extra", {}).get("shared_lagging", 0)
    if received >= expected and lagging:
        # gqlwire: its subscriptions fell behind into bounded backlogs, which were still
        # within bounds (and its timeout not reached) when the run ended.
        return (
            f"fell behind ({lagging} subscriptions in bounded backlogs), then got all "
            f"{expected:,} frames when it read again"
        )
    if received >= expected:
        return f"server buffered all {expected:,} frames for the slow client"
    return f"slow client got {received:,}/{expected:,} frames, still open"


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def warmup(params: Params, server: Server) -> Result:
    """A few subscribers and events, so that imports and caches are not measured."""
    return await fanout({**params, "subscribers": 10, "events": 20}, server)


SCENARIOS: dict[str, Callable[[Params, Server], Awaitable[Result]]] = {
    "warmup": warmup,
    "memory": memory,
    "connect": connect,
    "fanout": fanout,
    "single": fanout,
    "latency": latency,
    "stalled": stalled,
}


async def main_async(params: Params) -> Result:
    server = Server(params.get("host", "127.0.0.1"), int(params["port"]))
    params.setdefault("host", server.host)
    return await SCENARIOS[params["scenario"]](params, server)


def main(argv: list[str]) -> int:
    raise_open_file_limit()
    gc.disable()  # a short-lived process: the collector would only add to the client's cost
    params: Params = orjson.loads(argv[0])
    result = asyncio.run(main_async(params))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
