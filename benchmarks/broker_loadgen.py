"""The two client processes of the broker benchmark (:mod:`.broker_fanout`).

    python -m benchmarks.broker_loadgen subscriber     # then one JSON line per run on stdin
    python -m benchmarks.broker_loadgen publisher

Both live for the whole benchmark (starting a Python process costs seconds on a busy
machine) and take one run after another, each run's parameters as one JSON line. The
subscriber opens the subscribers (WebSocket subscriptions to the servers, or, in raw
mode, one subscription straight on the broker), primes them (publishes events with
``seq`` 0 until every subscriber got one: a pub/sub broker drops what is published before
a subscriber listens), prints one ``ready`` line, then waits for every numbered event
and prints its result as one JSON line. The publisher connects, prints ``ready``, waits
for ``go`` on stdin, publishes the numbered events from 1 (back to back or at a rate)
and prints when it started and ended. Both exit when stdin ends.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import orjson

from .apps.broker_app import event, make_broker
from .feed import raise_open_file_limit
from .wsclient import Subscriber, Tally, summary

_PRIME_INTERVAL = 0.05
_PRIME_WITHIN = 30.0
_QUIET_AFTER_PRIMING = 0.3


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _emit(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_summary(latencies: list[float]) -> dict[str, float]:
    """p50, p99 and max in ms of publish-to-receive times given in seconds."""
    if not latencies:
        return {}
    ordered = sorted(latencies)
    return {
        "p50_ms": _percentile(ordered, 0.50) * 1e3,
        "p99_ms": _percentile(ordered, 0.99) * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "samples": len(ordered),
    }


def publish_over_http(port: int, channel: str, first: int, count: int, rate: float) -> float:
    """``mutation { publish }`` on a server (its in-process broker); the server's wall
    time of the first publish."""
    query = (
        "mutation P($c: String!, $f: Int!, $n: Int!, $r: Float!) "
        "{ publish(channel: $c, first: $f, count: $n, rate: $r) }"
    )
    body = orjson.dumps(
        {"query": query, "variables": {"c": channel, "f": first, "n": count, "r": rate}}
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", "/graphql", body, {"Content-Type": "application/json"})
        answer = orjson.loads(connection.getresponse().read())
    finally:
        connection.close()
    if answer.get("errors"):
        raise RuntimeError(f"publish mutation failed: {answer['errors']}")
    return float(answer["data"]["publish"])


# --------------------------------------------------------------------------- subscribers


class BenchSubscriber(Subscriber):
    """A :class:`Subscriber` that sets priming events (``seq`` 0) apart and learns which
    worker process serves its connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.primes = 0
        self.worker_pid: int | None = None
        self._counted = 0

    def ask_pid(self) -> None:
        self._send(orjson.dumps({"id": "pid", "type": "subscribe", "payload": {"query": "{pid}"}}))

    def _event(self, seq: int, ts: float) -> None:
        if seq == 0:
            self.primes += 1
            return
        super()._event(seq, ts)
        self._counted += 1

    def _received(self, events: int) -> None:
        counted, self._counted = self._counted, 0
        if counted:
            super()._received(counted)

    def _message(self, message: dict[str, Any]) -> int:
        payload = message.get("payload")
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, dict) and "pid" in data:
            self.worker_pid = int(data["pid"])
            return 0
        if message.get("type") == "complete" and message.get("id") == "pid":
            return 0
        return super()._message(message)


class RawSubscriber:
    """One subscription straight on a broker, with a :class:`Subscriber`'s bookkeeping."""

    def __init__(self, broker: Any, channel: str, tally: Tally, record_latency: bool) -> None:
        self.broker = broker
        self.channel = channel
        self.tally = tally
        self.record_latency = record_latency
        self.latencies: list[float] = []
        self.primes = 0
        self.count = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.out_of_order = 0
        self.gaps = 0
        self.first_event_time = 0.0
        self.errors: list[str] = []
        self.worker_pid: int | None = None
        self.listening = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async with self.broker.subscription(self.channel) as subscription:
                self.listening.set()
                async for payload in subscription:
                    self._event(int(payload["seq"]), float(payload["ts"]))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # reported, not raised: the run's result says it
            self.errors.append(repr(error))

    def _event(self, seq: int, ts: float) -> None:
        if seq == 0:
            self.primes += 1
            return
        if self.record_latency:
            self.latencies.append(time.time() - ts)
        last = self.last_seq
        if last is None:
            self.first_seq = seq
            self.first_event_time = time.perf_counter()
        elif seq == last + 1:
            pass
        elif seq > last:
            self.gaps += seq - last - 1
        else:
            self.out_of_order += 1
        self.last_seq = seq if last is None else max(seq, last)
        before = self.count
        self.count = before + 1
        self.tally.messages += 1
        self.tally.last_time = time.perf_counter()
        if before < self.tally.target <= self.count:
            self.tally.finished_one()


def _factory(subscriber: BenchSubscriber) -> Callable[[], BenchSubscriber]:
    return lambda: subscriber


async def _open_ws(params: dict[str, Any], tally: Tally) -> list[BenchSubscriber]:
    subscribers: list[BenchSubscriber] = []
    loop = asyncio.get_running_loop()
    for index in range(int(params["subscribers"])):
        subscriber = BenchSubscriber(
            index,
            "127.0.0.1",
            int(params["port"]),
            "/graphql",
            params["channel"],
            tally,
            record_latency=bool(params["record_latency"]),
        )
        async with asyncio.timeout(30):
            await loop.create_connection(_factory(subscriber), "127.0.0.1", params["port"])
            await subscriber.acked
        subscriber.ask_pid()
        subscriber.subscribe()
        subscribers.append(subscriber)
    return subscribers


async def _prime(params: dict[str, Any], subscribers: list[Any], broker: Any) -> int:
    """Publish priming events until every subscriber got one; how many were published."""
    channel, published = params["channel"], 0
    deadline = time.monotonic() + _PRIME_WITHIN
    while any(subscriber.primes == 0 for subscriber in subscribers):
        if time.monotonic() > deadline:
            waiting = sum(1 for subscriber in subscribers if subscriber.primes == 0)
            raise TimeoutError(f"{waiting} subscribers got no priming event in {_PRIME_WITHIN} s")
        if broker is None:
            await asyncio.to_thread(publish_over_http, params["port"], channel, 0, 1, 0.0)
        else:
            await broker.publish(channel, event(0))
        published += 1
        await asyncio.sleep(_PRIME_INTERVAL)
    await asyncio.sleep(_QUIET_AFTER_PRIMING)  # the last priming events arrive before go
    return published


class Brokers:
    """One broker client per broker kind, connected once for the process's whole life."""

    def __init__(self) -> None:
        self._brokers: dict[tuple[str, str, str, str], Any] = {}

    def get(self, params: dict[str, Any]) -> Any:
        key = (params["broker"], params["url"], params["prefix"], params["stream"])
        if key not in self._brokers:
            self._brokers[key] = make_broker(*key)
        return self._brokers[key]

    async def close(self) -> None:
        for broker in self._brokers.values():
            await broker.close()


async def subscribe(params: dict[str, Any], brokers: Brokers) -> dict[str, Any]:
    """Open, prime, say ready, count; the result."""
    events = int(params["events"])
    tally = Tally()
    clock_offset = time.time() - time.perf_counter()
    broker = brokers.get(params) if params["broker"] != "memory" else None
    subscribers: list[Any] = []
    try:
        if params["mode"] == "raw":
            assert broker is not None, "raw mode needs a broker between processes"
            subscribers = [
                RawSubscriber(broker, params["channel"], tally, bool(params["record_latency"]))
                for _ in range(int(params["subscribers"]))
            ]
            async with asyncio.timeout(30):
                for subscriber in subscribers:
                    await subscriber.listening.wait()
        else:
            subscribers.extend(await _open_ws(params, tally))
        primes = await _prime(params, subscribers, broker)
        tally.expect(len(subscribers), events)
        cpu_before = _cpu()
        _emit({"ready": True, "primes": primes})
        complete = await tally.wait(within=float(params["within"]), idle=float(params["idle"]))
        cpu = _cpu() - cpu_before
    finally:
        for subscriber in subscribers:
            if isinstance(subscriber, RawSubscriber):
                subscriber.task.cancel()
            else:
                subscriber.close()
        for subscriber in subscribers:
            if isinstance(subscriber, RawSubscriber):
                with suppress(asyncio.CancelledError):
                    await subscriber.task
    counts = summary(subscribers, 1, events)
    latencies = [value for subscriber in subscribers for value in subscriber.latencies]
    workers: dict[str, int] = {}
    for subscriber in subscribers:
        key = str(subscriber.worker_pid) if subscriber.worker_pid is not None else "unknown"
        workers[key] = workers.get(key, 0) + 1
    started = [s.first_event_time for s in subscribers if s.first_event_time]
    return {
        **counts,
        "complete": complete,
        "first_receive_wall": min(started) + clock_offset if started else None,
        "last_receive_wall": tally.last_time + clock_offset if tally.last_time else None,
        "client_cpu_s": cpu,
        "subscribers_per_worker": workers if params["mode"] == "ws" else {},
        "errors": sorted({error for s in subscribers for error in s.errors})[:5],
        **latency_summary(latencies),
    }


# --------------------------------------------------------------------------- publisher


async def publish(
    params: dict[str, Any], brokers: Brokers, go: Callable[[], Awaitable[Any]]
) -> dict[str, Any]:
    """Connect, say ready, wait for ``go``, publish; when publishing began and ended."""
    channel, events, rate = params["channel"], int(params["events"]), float(params["rate"])
    if params["broker"] == "memory":
        _emit({"ready": True})
        await go()
        first = await asyncio.to_thread(publish_over_http, params["port"], channel, 1, events, rate)
        return {"first_publish_wall": first, "last_publish_wall": time.time(), "cpu_s": None}
    broker = brokers.get(params)
    await broker.publish(f"{channel}-connect", event(0))  # connected before go
    _emit({"ready": True})
    await go()
    cpu_before = _cpu()
    loop = asyncio.get_running_loop()
    started = loop.time()
    first_wall = time.time()
    for index in range(events):
        if rate > 0:
            delay = started + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await broker.publish(channel, event(index + 1))
    last_wall = time.time()
    cpu = _cpu() - cpu_before
    return {"first_publish_wall": first_wall, "last_publish_wall": last_wall, "cpu_s": cpu}


async def serve(role: str) -> None:
    """Commands from stdin, one JSON line each, until it ends: a run's parameters (then,
    for the publisher, a ``go`` line). Every command ends with one result line, an
    ``error`` if it failed; the process lives on for the next."""
    raise_open_file_limit()
    brokers = Brokers()

    async def line() -> str:
        return await asyncio.to_thread(sys.stdin.readline)

    try:
        while command := await line():
            params = json.loads(command)
            try:
                if role == "subscriber":
                    result = await subscribe(params, brokers)
                else:
                    result = await publish(params, brokers, line)
            except Exception as error:  # reported to the driver, which records the run as failed
                result = {"error": f"{type(error).__name__}: {error}"}
            _emit(result)
    finally:
        await brokers.close()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("subscriber", "publisher"):
        raise SystemExit("usage: python -m benchmarks.broker_loadgen subscriber|publisher")
    asyncio.run(serve(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
