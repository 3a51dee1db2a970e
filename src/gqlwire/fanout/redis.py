"""Fan-out between processes through Redis pub/sub, on redis-py's asyncio client.

One subscriber connection per broker, with one Redis SUBSCRIBE per topic, read by one
task and written by another; publishes go through a connection pool. Redis restarts and
dropped connections are the normal case: the broker notices them, reconnects,
subscribes again and reports the gap. Details in docs/brokers.md ("RedisBroker").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import orjson
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

from .broker import DEFAULT_MAX_QUEUED, Broker, BrokerGap, BrokerUnavailable
from .redis_connection import (
    DEFAULT_REDIS_URL,
    UNREACHABLE,
    RedisEndpoint,
    backoff_delay,
    cancel_and_wait,
    describe,
    send,
)

__all__ = ["DEFAULT_REDIS_URL", "RedisBroker"]

logger = logging.getLogger("gqlwire.fanout")


class _SilentConnection(RedisConnectionError):
    """Nothing arrived on the subscriber connection, not even the health check's PONG."""


@dataclass(eq=False, slots=True)
class _Session:
    """One subscriber connection and what was asked of it; discarded with it."""

    connection: AbstractConnection
    # Topics SUBSCRIBEd (and not UNSUBSCRIBEd since) on this connection.
    requested: set[str] = field(default_factory=set)
    # Replies still due per topic; a topic is confirmed when its count drops to zero
    # after a subscribe reply.
    pending: dict[str, int] = field(default_factory=dict)
    # The first SUBSCRIBE of every wanted topic was written.
    synced: bool = False
    # The reader is done with this connection.
    ended: bool = False


@dataclass(slots=True)
class _Outage:
    lost_at: float
    error: str
    topics: set[str]


class RedisBroker(Broker):
    """Publish and subscribe across processes through Redis pub/sub.

    What happens when Redis goes away is in docs/brokers.md. Options:

    - ``channel_prefix``: prepended to every topic to make the Redis channel name.
    - ``max_queued``: per-subscriber queue bound (oldest dropped when full).
    - ``timeout``: bound, in seconds, on connecting, on one PUBLISH, and on the wait for
      the health check's reply.
    - ``health_check_interval``: seconds between PINGs on the subscriber connection.
    - ``subscribe_timeout``: how long opening a subscription waits for Redis to confirm.
    - ``reconnect_min_delay`` / ``reconnect_max_delay``: the back-off between attempts.
    - ``on_gap``: called with a :class:`BrokerGap` after an outage that affected topics.
    """

    def __init__(
        self,
        url: str = DEFAULT_REDIS_URL,
        *,
        channel_prefix: str = "gqlwire:",
        max_queued: int = DEFAULT_MAX_QUEUED,
        timeout: float = 5.0,
        health_check_interval: float = 5.0,
        subscribe_timeout: float = 10.0,
        reconnect_min_delay: float = 0.1,
        reconnect_max_delay: float = 5.0,
        on_gap: Callable[[BrokerGap], object] | None = None,
    ) -> None:
        super().__init__(max_queued=max_queued)
        for name, value in (
            ("timeout", timeout),
            ("health_check_interval", health_check_interval),
            ("subscribe_timeout", subscribe_timeout),
            ("reconnect_min_delay", reconnect_min_delay),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if reconnect_max_delay < reconnect_min_delay:
            raise ValueError("reconnect_max_delay must be at least reconnect_min_delay")
        self._prefix = channel_prefix
        self._prefix_length = len(channel_prefix.encode())
        self._timeout = timeout
        self._health_check_interval = health_check_interval
        self._subscribe_timeout = subscribe_timeout
        self._reconnect_min_delay = reconnect_min_delay
        self._reconnect_max_delay = reconnect_max_delay
        self._on_gap = on_gap

        self._endpoint = RedisEndpoint.from_url(url, timeout)
        self._where = self._endpoint.where
        self._publish_pool, self._publisher = self._endpoint.publisher()
        self._publish_failing = False

        self._ready: dict[str, asyncio.Event] = {}  # per topic: Redis delivers it to us
        self._changed = asyncio.Event()  # the wanted topics changed: sync the connection
        self._session: _Session | None = None
        self._ever_connected = False
        self._connect_failures = 0
        self._outage: _Outage | None = None
        self._reader: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<RedisBroker {self._where} prefix={self._prefix!r}>"

    # -- publish -------------------------------------------------------------------------

    async def publish(self, topic: str, payload: Any) -> None:
        self._check_open()
        data = orjson.dumps(payload)
        try:
            async with asyncio.timeout(self._timeout):
                await self._publisher.publish(self._prefix + topic, data)
        except UNREACHABLE as error:
            self._dropped_while_disconnected += 1
            if not self._publish_failing:
                self._publish_failing = True
                logger.warning(
                    "cannot publish to Redis at %s (%s): publish() raises BrokerUnavailable "
                    "and counts dropped_while_disconnected until Redis answers again",
                    self._where,
                    describe(error),
                )
            raise BrokerUnavailable(
                f"Redis at {self._where} did not take the publish to {topic!r}: {describe(error)}"
            ) from error
        if self._publish_failing:
            self._publish_failing = False
            logger.info("publishing to Redis at %s works again", self._where)
        self._published += 1

    # -- hooks of Broker -----------------------------------------------------------------

    def _is_connected(self) -> bool:
        return self._session is not None

    def _topic_added(self, topic: str) -> None:
        ready = asyncio.Event()
        self._ready[topic] = ready
        session = self._session
        # Its last subscriber may have left so recently that the UNSUBSCRIBE was not written.
        if session is not None and topic in session.requested and topic not in session.pending:
            ready.set()
        self._changed.set()
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(
                self._run(), name=f"gqlwire RedisBroker reader ({self._where})"
            )

    def _topic_removed(self, topic: str) -> None:
        self._ready.pop(topic, None)
        self._changed.set()

    async def _until_delivering(self, topic: str) -> None:
        ready = self._ready.get(topic)
        if ready is None or ready.is_set():
            return
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await ready.wait()
        except TimeoutError:
            raise BrokerUnavailable(
                f"Redis at {self._where} did not confirm the subscription to {topic!r} "
                f"within {self._subscribe_timeout:g}s"
            ) from None

    async def _close_backend(self) -> None:
        for ready in self._ready.values():
            ready.set()  # subscribers still opening wake up and see the broker closed
        self._ready.clear()
        reader, self._reader = self._reader, None
        if reader is not None:
            await cancel_and_wait(reader)
            if not reader.cancelled() and reader.exception() is not None:
                logger.error("the Redis reader task had failed", exc_info=reader.exception())
        await self._publisher.aclose()
        await self._publish_pool.disconnect()

    # -- the subscriber connection -------------------------------------------------------

    async def _run(self) -> None:
        """Connect, serve, and after any loss reconnect, until the broker closes."""
        step: int | None = None  # back-off step; None: connect at once
        while True:
            if step is not None:
                await asyncio.sleep(self._backoff(step))
            try:
                connection = await self._connect()
            except Exception as failure:
                self._connect_failed(failure)
                step = 0 if step is None else step + 1
                continue
            session = self._start_session(connection)
            self._end_session(session, await self._serve(session))
            step = 0

    def _backoff(self, step: int) -> float:
        return backoff_delay(step, self._reconnect_min_delay, self._reconnect_max_delay)

    async def _connect(self) -> AbstractConnection:
        # redis-py bounds each socket operation; this bounds the whole handshake.
        return await self._endpoint.connect(self._timeout * 2)

    def _connect_failed(self, error: Exception) -> None:
        self._connect_failures += 1
        if self._connect_failures == 1:
            logger.warning(
                "cannot connect to Redis at %s (%s); retrying with back-off",
                self._where,
                describe(error),
            )
        else:
            logger.debug("Redis at %s still unreachable: %s", self._where, describe(error))

    def _start_session(self, connection: AbstractConnection) -> _Session:
        if self._ever_connected:
            self._reconnects += 1
            logger.info("reconnected to Redis at %s; re-subscribing", self._where)
        self._ever_connected = True
        self._connect_failures = 0
        session = _Session(connection)
        self._session = session
        self._changed.set()  # the first sync subscribes every topic with subscribers
        return session

    async def _serve(self, session: _Session) -> Exception:
        """Read until the connection fails; return why it did."""
        writer = asyncio.get_running_loop().create_task(
            self._write(session), name=f"gqlwire RedisBroker writer ({self._where})"
        )
        failure: Exception
        try:
            await self._read(session)
        except Exception as error:
            failure = error
        finally:
            session.ended = True
            self._changed.set()  # a writer that swallowed its cancellation wakes and stops
            await cancel_and_wait(writer)
            # Retrieved even when we are being cancelled: the writer may have failed
            # before its cancellation landed.
            written = None if writer.cancelled() else writer.exception()
            await session.connection.disconnect(nowait=True)
        # A failed write closes the socket, so the read failed too; the write says why.
        if isinstance(written, Exception):
            failure = written
        return failure

    def _end_session(self, session: _Session, error: Exception) -> None:
        self._session = None
        for ready in self._ready.values():
            ready.clear()
        lost = {topic for topic in session.requested if topic in self._topics}
        outage = self._outage
        if outage is None:
            outage = self._outage = _Outage(time.time(), describe(error), set())
            logger.warning(
                "lost the Redis connection to %s (%s); reconnecting. %d subscribed topic(s) "
                "receive nothing until then, and what is published meanwhile is lost",
                self._where,
                describe(error),
                len(lost),
            )
        if lost and not outage.topics:
            self._gaps += 1  # once per outage that cost topics events
        outage.topics |= lost
        for topic in lost:
            for subscription in self._subscribers(topic):
                subscription._gap()
        if not isinstance(error, UNREACHABLE):
            logger.error("Redis subscriber connection failed unexpectedly", exc_info=error)

    async def _read(self, session: _Session) -> NoReturn:
        connection = session.connection
        silence = self._health_check_interval + self._timeout
        while True:
            response = await connection.read_response(timeout=silence)
            if response is None:
                raise _SilentConnection(
                    f"no reply from Redis for {silence:g}s, not even to the health check"
                )
            if not isinstance(response, list) or len(response) < 2:
                continue  # b"PONG" while no channel is subscribed
            kind = response[0]
            if kind == b"message":
                self._on_message(response[1], response[2])
            elif kind == b"subscribe" or kind == b"unsubscribe":
                self._on_reply(session, response[1], subscribed=kind == b"subscribe")
            # b"pong": it arrived, which is all the health check asks.

    def _on_message(self, channel: bytes, data: bytes) -> None:
        topic = channel[self._prefix_length :].decode()
        if topic not in self._topics:
            return  # its UNSUBSCRIBE is on the way
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            logger.warning("skipped a message on Redis channel %r that is not JSON", channel)
            return
        self._deliver(topic, payload)

    def _on_reply(self, session: _Session, channel: bytes, *, subscribed: bool) -> None:
        topic = channel[self._prefix_length :].decode()
        left = session.pending.get(topic, 0) - 1
        if left > 0:
            session.pending[topic] = left
            return
        session.pending.pop(topic, None)
        if subscribed and topic in session.requested:
            ready = self._ready.get(topic)
            if ready is not None:
                ready.set()
        if not session.pending:
            self._maybe_resumed(session)

    async def _write(self, session: _Session) -> None:
        """Keep the connection's subscriptions equal to the wanted topics; PING regularly."""
        connection = session.connection
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self._health_check_interval
        try:
            while not session.ended:
                self._changed.clear()
                await self._sync(session)
                if not session.synced:
                    session.synced = True
                    self._maybe_resumed(session)
                if loop.time() >= next_ping:
                    await send(connection, "PING")
                    next_ping = loop.time() + self._health_check_interval
                try:
                    async with asyncio.timeout_at(next_ping):
                        await self._changed.wait()
                except TimeoutError:
                    pass
        except Exception:
            await connection.disconnect(nowait=True)  # wakes the reader
            raise

    async def _sync(self, session: _Session) -> None:
        # State is updated before each write, so a change made while a write is under
        # way is measured against what was already sent.
        gone = [topic for topic in session.requested if topic not in self._topics]
        if gone:
            for topic in gone:
                session.requested.discard(topic)
                session.pending[topic] = session.pending.get(topic, 0) + 1
            await send(session.connection, "UNSUBSCRIBE", *(self._prefix + t for t in gone))
        new = [topic for topic in self._topics if topic not in session.requested]
        if new:
            for topic in new:
                session.requested.add(topic)
                session.pending[topic] = session.pending.get(topic, 0) + 1
            await send(session.connection, "SUBSCRIBE", *(self._prefix + t for t in new))

    def _maybe_resumed(self, session: _Session) -> None:
        """End the outage once a new connection has every wanted topic confirmed."""
        outage = self._outage
        if outage is None or session is not self._session or not session.synced:
            return
        if session.pending:
            return
        self._outage = None
        resumed_at = time.time()
        topics = frozenset(topic for topic in outage.topics if topic in self._topics)
        logger.info(
            "Redis subscriptions restored after %.1fs; %d topic(s) may have missed events",
            resumed_at - outage.lost_at,
            len(topics),
        )
        if topics and self._on_gap is not None:
            try:
                self._on_gap(BrokerGap(topics, outage.lost_at, resumed_at, outage.error))
            except Exception:
                logger.exception("the on_gap callback raised")
