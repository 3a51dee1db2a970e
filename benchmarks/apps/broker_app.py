"""The app of the broker benchmark: ``subscription { tick(channel) }`` read from a broker.

Run as ``python -m gqlwire serve benchmarks.apps.broker_app:server [--workers N]``; the
broker comes from the environment, so that every worker of one command builds the same:

- ``GQLWIRE_BENCH_BROKER``: ``memory``, ``pubsub`` (RedisBroker), ``streams``
  (RedisStreamBroker) or ``jetstream`` (NatsBroker);
- ``GQLWIRE_BENCH_URL``: the Redis or NATS URL;
- ``GQLWIRE_BENCH_PREFIX``: the channel, stream and subject prefix (the run's own, so that
  nothing of another run or of the test suite is read);
- ``GQLWIRE_BENCH_STREAM``: the JetStream stream's name.

The resolver is the plain ``async for event in broker.subscribe(channel)`` of the docs;
subscribers share one source per worker (``share_key``), as in the other gqlwire
benchmark apps, so each event is read from the broker and executed once per worker.
``query { pid }`` says which worker answered; ``mutation { publish }`` publishes from the
server itself, the only way to reach an in-process broker from another process.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLSchema, build_schema

from gqlwire import GraphQLServer
from gqlwire.fanout import Broker, MemoryBroker

from ..feed import PADDING, SDL

BROKERS = ("memory", "pubsub", "streams", "jetstream")


def make_broker(kind: str, url: str, prefix: str, stream: str) -> Broker:
    """One broker of ``kind``; the publisher and the raw subscribers build theirs here too."""
    if kind == "memory":
        return MemoryBroker()
    if kind == "pubsub":
        from gqlwire.fanout import RedisBroker

        return RedisBroker(url, channel_prefix=prefix)
    if kind == "streams":
        from gqlwire.fanout import RedisStreamBroker

        return RedisStreamBroker(url, stream_prefix=prefix)
    if kind == "jetstream":
        from gqlwire.fanout import NatsBroker

        return NatsBroker(url, stream=stream, subject_prefix=prefix.replace(":", "."))
    raise ValueError(f"unknown broker {kind!r} (known: {', '.join(BROKERS)})")


def event(seq: int) -> dict[str, Any]:
    """``seq`` 0 is a priming event (not counted); ``ts`` is the publish time."""
    return {"seq": seq, "ts": time.time(), "payload": PADDING}


broker = make_broker(
    os.environ.get("GQLWIRE_BENCH_BROKER", "memory"),
    os.environ.get("GQLWIRE_BENCH_URL", ""),
    os.environ.get("GQLWIRE_BENCH_PREFIX", "gqlwire-bench:"),
    os.environ.get("GQLWIRE_BENCH_STREAM", "GQLWIRE_BENCH"),
)


async def tick_source(_root: Any, _info: Any, channel: str) -> AsyncIterator[Any]:
    async for payload in broker.subscribe(channel):
        yield payload


async def publish_events(channel: str, first: int, count: int, rate: float) -> None:
    """``count`` events from ``first``, ``rate`` per second (0: back to back)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(count):
        if rate > 0:
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await broker.publish(channel, event(first + index))
        if rate <= 0:
            await asyncio.sleep(0)  # let the subscribers' tasks run between events


async def _publish(
    _root: Any, _info: Any, channel: str, first: int, count: int, rate: float
) -> float:
    """Publish, then answer with the wall time of the first publish: the caller times
    publishing as it does for a broker in another process."""
    started = time.time()
    await publish_events(channel, first, count, rate)
    return started


def _schema() -> GraphQLSchema:
    schema = build_schema(
        SDL.replace("ok: Boolean", "ok: Boolean\n  pid: Int!") + "\ntype Mutation {\n"
        "  publish(channel: String!, first: Int!, count: Int!, rate: Float!): Float!\n}\n"
    )
    query, mutation, subscription = (
        schema.query_type,
        schema.mutation_type,
        schema.subscription_type,
    )
    assert query is not None and mutation is not None and subscription is not None
    query.fields["pid"].resolve = lambda *_: os.getpid()
    mutation.fields["publish"].resolve = _publish
    tick = subscription.fields["tick"]
    tick.subscribe = tick_source
    tick.resolve = lambda payload, _info, **_args: payload
    return schema


# The publish mutation lasts as long as publishing does (a back-to-back burst through an
# overloaded worker takes longer than the default execution time limit).
server = GraphQLServer(_schema(), share_key=lambda _ctx: "all", max_execution_time=None)
