"""One load generator process of :mod:`.many_connections`: thousands of subscribers,
every one bound to the same loopback source address.

    python -m benchmarks.many_connections_client '{"port": 8000, "source": "127.0.0.2", ...}'

It speaks with the orchestrator in JSON lines. On stdout: ``{"ready": ...}`` once every
connection is open, acknowledged and subscribed (or has failed); then, for each event
``k`` of ``events``, ``{"event": k, ...}`` once every subscriber has it (or the wait timed
out); then ``{"done": ...}``. On stdin, after ``ready``: ``{"go": true}`` when
the events are about to be published; after the last event: one line ``{"first": F}``
(the first sequence number published), upon which it checks the counts, writes every
publish-to-receive latency to ``latencies`` (native doubles, milliseconds), closes every
connection and exits. Every wait is bounded, so the process ends by itself.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import gc
import resource
import sys
import time
from typing import Any

import orjson

from .wsclient import Subscriber, Tally, summary

Params = dict[str, Any]

# Descriptors a process needs besides its sockets (stdio, the event loop's selector and
# self-pipe, imported modules' files): what the checks of the open file limit leave over.
SPARE_DESCRIPTORS = 100


def raise_soft_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; the soft limit now in force.
    Refuses (SystemExit) when even the hard limit is below ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SystemExit(f"open file limit {soft} is below the {needed} descriptors needed")
    return -1 if soft == resource.RLIM_INFINITY else int(soft)


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


async def open_one(
    params: Params, index: int, tally: Tally, gate: asyncio.Semaphore, retried: list[str]
) -> Subscriber | str:
    """One subscriber from ``params["source"]``: connect, init, ack, subscribe; or why not.

    A refused attempt is tried again (``attempts`` in all), as a graphql-ws client
    reconnects; why each retried attempt failed goes to ``retried``."""
    loop = asyncio.get_running_loop()
    attempts = int(params.get("attempts", 3))
    async with gate:
        for attempt in range(1, attempts + 1):
            subscriber = Subscriber(
                index,
                params["host"],
                params["port"],
                params.get("path", "/graphql"),
                params["channel"],
                tally,
                record_latency=True,
            )
            try:
                async with asyncio.timeout(float(params.get("connect_timeout", 60))):
                    await loop.create_connection(
                        lambda: subscriber,  # noqa: B023 (called before the next attempt)
                        params["host"],
                        params["port"],
                        local_addr=(params["source"], 0),
                    )
                    await subscriber.acked
            except (OSError, TimeoutError) as error:
                subscriber.close()
                code = subscriber.close_code
                reason = f"{type(error).__name__}: {error}" + (f" (close {code})" if code else "")
                if attempt == attempts:
                    return reason
                retried.append(reason)
                await asyncio.sleep(0.5 * attempt)
                continue
            subscriber.subscribe()
            return subscriber
    raise AssertionError("unreachable")


async def stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def read_line(reader: asyncio.StreamReader, within: float) -> dict[str, Any]:
    async with asyncio.timeout(within):
        line = await reader.readline()
    if not line:
        raise EOFError("the orchestrator closed stdin")
    result: dict[str, Any] = orjson.loads(line)
    return result


def write_latencies(path: str, subscribers: list[Subscriber]) -> int:
    """Every subscriber's publish-to-receive latencies, in ms, as native doubles; how many."""
    latencies = array.array("d", (x * 1e3 for s in subscribers for x in s.latencies))
    with open(path, "wb") as out:
        latencies.tofile(out)
    return len(latencies)


async def run(params: Params) -> None:
    count, events = int(params["count"]), int(params["events"])
    start = int(params.get("start_index", 0))
    commands = await stdin_reader()
    tally = Tally()
    gate = asyncio.Semaphore(int(params.get("concurrency", 100)))
    started = time.perf_counter()
    retried: list[str] = []
    opened = await asyncio.gather(
        *(open_one(params, start + i, tally, gate, retried) for i in range(count))
    )
    subscribers = [one for one in opened if isinstance(one, Subscriber)]
    failures = [one for one in opened if isinstance(one, str)]
    tally.expect(len(subscribers), 1)  # armed before the orchestrator can publish
    emit(
        {
            "ready": len(subscribers),
            "failed": len(failures),
            "first_failures": sorted(set(failures))[:5],
            "retried": len(retried),
            "retry_reasons": sorted(set(retried))[:5],
            "open_s": time.perf_counter() - started,
        }
    )
    try:
        command_timeout = float(params.get("command_timeout", 300))
        await read_line(commands, command_timeout)  # {"go": true}: events are coming
        event_timeout = float(params.get("event_timeout", 60))
        for k in range(1, events + 1):
            complete = await tally.wait(within=event_timeout, idle=event_timeout / 3)
            # The time this event took to reach the last of this process's subscribers.
            reach = [s.latencies[k - 1] for s in subscribers if len(s.latencies) >= k]
            emit(
                {
                    "event": k,
                    "complete": complete,
                    "reached": len(reach),
                    "reach_all_ms": max(reach) * 1e3 if reach else None,
                }
            )
            if k < events:
                tally.expect(len(subscribers), k + 1)
        command = await read_line(commands, command_timeout)
        counts = summary(subscribers, int(command["first"]), events)
        samples = write_latencies(params["latencies"], subscribers)
        errors = sum(len(s.errors) for s in subscribers)
        closed_early = sum(1 for s in subscribers if s.closed.done())
    finally:
        for subscriber in subscribers:
            subscriber.close()
        if subscribers:
            await asyncio.wait([s.closed for s in subscribers], timeout=30)
    emit(
        {
            "done": True,
            **counts,
            "protocol_errors": errors,
            "closed_before_end": closed_early,
            "samples": samples,
        }
    )


def main(argv: list[str]) -> int:
    params: Params = orjson.loads(argv[0])
    raise_soft_limit(int(params["count"]) + SPARE_DESCRIPTORS)
    gc.disable()  # tens of thousands of long-lived objects: the collector would only cost
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(params))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
