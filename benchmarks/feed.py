"""What every benchmarked server shares: the schema, the events, and the in-process
publisher that the load generator drives over HTTP.

An event is ``{"seq": n, "ts": publish time, "payload": padding}``; its ``next`` frame
is about 150 bytes. ``seq`` numbers the events of one channel from 1, so a client can
check that it got each event once and in order; ``ts`` is ``time.time()`` at publish,
so a client on the same machine computes publish-to-receive latency.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

SDL = """
type Query {
  ok: Boolean
  hello(name: String!): String!
  items(count: Int!): [Item!]!
}

type Item {
  id: Int!
  name: String!
  price: Float!
  tags: [String!]!
}

type Tick {
  seq: Int!
  ts: Float!
  payload: String!
}

type Subscription {
  tick(channel: String!): Tick!
}
"""

SUBSCRIPTION_QUERY = (
    "subscription Tick($channel: String!) { tick(channel: $channel) { seq ts payload } }"
)

# Pads {"id":"123","type":"next","payload":{"data":{"tick":{"seq":12345,"ts":...,"payload":""}}}}
# (105 bytes) to a 150-byte frame.
PADDING = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHI"

Event = dict[str, Any]

# The HTTP benchmark's queries (benchmarks.http_queries): a small one, and a list of
# 1,000 objects served by the default resolvers, as a catalogue page would be.
HELLO_QUERY = 'query Hello { hello(name: "world") }'
ITEMS_QUERY = "query Items { items(count: 1000) { id name price tags } }"
ITEMS: list[dict[str, Any]] = [
    {"id": n, "name": f"item {n}", "price": n * 1.25, "tags": ["a", "b"]} for n in range(1000)
]


def hello(name: str) -> str:
    return f"Hello, {name}!"


def items(count: int) -> list[dict[str, Any]]:
    return ITEMS[: max(0, min(count, len(ITEMS)))]


def make_event(seq: int) -> Event:
    return {"seq": seq, "ts": time.time(), "payload": PADDING}


class Broker:
    """The typical per-subscriber pub/sub of Python GraphQL apps: one unbounded
    ``asyncio.Queue`` per subscription, fed by the publisher."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    def subscribe(self, channel: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues[channel].add(queue)
        return queue

    def unsubscribe(self, channel: str, queue: asyncio.Queue[Event]) -> None:
        queues = self._queues.get(channel)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[channel]

    def publish(self, channel: str, event: Event) -> None:
        for queue in self._queues.get(channel, ()):
            queue.put_nowait(event)

    def subscriptions(self) -> int:
        return sum(len(queues) for queues in self._queues.values())


PublishOne = Callable[[str, Event], Awaitable[None] | None]


class GcClock:
    """The time this process spent in the cyclic garbage collector, and the number of
    collections, by generation: part of every server's CPU figure, and the
    part that grows with what a server keeps (its modules, its schema, its objects per
    connection), not with what it does."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds[info["generation"]] += time.thread_time() - self._started
            self.collections[info["generation"]] += 1


GC_CLOCK = GcClock()
GC_CLOCK.install()


class Control:
    """The control surface of a benchmark server: publish events, report CPU and RSS.

    ``publish_one`` hands one event to the app's subscribers (sync or async);
    ``subscribers`` counts the subscriptions the server is running, so the load
    generator knows when every subscribe has been processed; ``extra`` adds
    server-specific counters (gqlwire's ``stats()``).
    """

    def __init__(
        self,
        publish_one: PublishOne,
        subscribers: Callable[[], int],
        extra: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self._publish_one = publish_one
        self._subscribers = subscribers
        self._extra = extra
        self._next_seq: dict[str, int] = defaultdict(lambda: 1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._profile: Any = None

    def publish(self, channel: str, count: int, rate: float) -> dict[str, int]:
        """Start publishing ``count`` events (``rate`` per second, 0: as fast as the loop
        allows); returns the first sequence number at once."""
        first = self._next_seq[channel]
        self._next_seq[channel] = first + count
        task = asyncio.get_running_loop().create_task(self._run(channel, first, count, rate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {"first": first, "count": count}

    async def _run(self, channel: str, first: int, count: int, rate: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        publish_one = self._publish_one
        for index in range(count):
            if rate > 0:
                delay = start + index / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending = publish_one(channel, make_event(first + index))
            if pending is not None:
                await pending
            if rate <= 0:
                await asyncio.sleep(0)  # let subscribers run between events

    def stats(self, collect: bool = False) -> dict[str, Any]:
        if collect:
            gc.collect()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "pid": os.getpid(),
            "cpu": usage.ru_utime + usage.ru_stime,
            "cpu_user": usage.ru_utime,
            "cpu_sys": usage.ru_stime,
            "rss": resident_bytes(),
            "runqueue_wait": runqueue_wait(),
            "subscribers": self._subscribers(),
            "publishing": len(self._tasks),
            "gc_s": list(GC_CLOCK.seconds),
            "gc_collections": list(GC_CLOCK.collections),
            "extra": self._extra() if self._extra is not None else {},
        }

    def profile(self, action: str, path: str) -> dict[str, Any]:
        """cProfile of the server's event loop thread, started and stopped on demand."""
        import cProfile

        if action == "start":
            self._profile = cProfile.Profile()
            self._profile.enable()
            return {"profiling": True}
        if self._profile is not None:
            self._profile.disable()
            self._profile.dump_stats(path)
            self._profile = None
        return {"profiling": False, "path": path}


def resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def runqueue_wait() -> float:
    """Seconds this process's threads have been runnable but waiting for a CPU: how much
    other load on the machine slowed a measurement down."""
    total = 0
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/schedstat", encoding="ascii") as schedstat:
                total += int(schedstat.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return total / 1e9


def machine_busy() -> float:
    """CPU seconds spent by everything on the machine (all CPUs, not idle)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def raise_open_file_limit() -> None:
    """Thousands of sockets need more descriptors than the usual soft limit of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
