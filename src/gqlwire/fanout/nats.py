"""A history broker on NATS JetStream, on nats-py's asyncio client.

Every topic is one subject of one JetStream stream (``subject_prefix + ">"``), which keeps
the last ``max_messages_per_subject`` events of each topic. Publishing is a JetStream
publish acknowledged by the server; an event's id is the stream's creation time and the
event's stream sequence, so that a cursor from a stream that was since recreated (a NATS
restart without its store, a stream deleted and made again) is recognised as lost
instead of misread. Each process has one live consumer per topic (an ephemeral push
consumer of our own making, with idle heartbeats), which is re-created from the last
delivered sequence after any disconnection, missed message or missed heartbeat.
Details in docs/brokers.md ("NatsBroker").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import logging
import random
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js import api as js_api

from .broker import DEFAULT_MAX_QUEUED, BrokerGap, BrokerUnavailable
from .history import HistoryBroker, HistoryPage, HistorySubscription
from .resume import GapReason

__all__ = ["DEFAULT_NATS_URL", "NatsBroker", "topic_subject"]

logger = logging.getLogger("gqlwire.fanout")

DEFAULT_NATS_URL: Final = "nats://127.0.0.1:4222"

# What "NATS could not be reached" looks like: nats-py's errors (JetStream API errors
# included), a socket error, and our own deadlines.
_UNREACHABLE: Final = (nats.errors.Error, OSError, TimeoutError)

# Characters that stay as they are in a topic's subject token; anything else (".", "*",
# ">", whitespace, "%", non-ASCII) is percent-encoded, so a topic is exactly one token.
_SAFE_IN_TOKEN: Final = "-_:~@+=,;!/"

_HEARTBEAT_STATUS: Final = "100"
_NO_END: Final = 1 << 63  # beyond every stream sequence
_RFC3339: Final = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)")
_SUPPORTS_RECONNECT_HANDLER: Final = (
    "reconnect_to_server_handler" in inspect.signature(NatsClient.connect).parameters
)


def topic_subject(prefix: str, topic: str) -> str:
    """The NATS subject of ``topic``: ``prefix`` and the topic as one escaped token.

    Letters, digits and ``-_:~@+=,;!/`` are kept; every other character is its UTF-8
    bytes percent-encoded (``.`` is ``%2E``, a space ``%20``), so a topic can be neither
    several tokens nor a wildcard. The empty topic is ``%``.
    """
    if not topic:
        return prefix + "%"
    token = urllib.parse.quote(topic, safe=_SAFE_IN_TOKEN)
    return prefix + token.replace(".", "%2E")


@dataclass(eq=False, slots=True)
class _Consumer:
    """The live consumer of one topic in this process."""

    topic: str
    subject: str
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    # The core NATS subscription its messages arrive on (None: not created yet).
    inbox: NatsSubscription | None = None
    name: str | None = None  # the JetStream consumer's name
    epoch: str | None = None  # the stream epoch its sequences belong to
    last_seq: int = 0  # stream sequence of the last message handed over (or before start)
    delivered_any: bool = False  # last_seq is a message of this topic
    consumer_seq: int = 0  # the consumer's sequence of that message
    last_activity: float = 0.0
    stale: bool = True  # to be (re-)created


@dataclass(slots=True)
class _Outage:
    lost_at: float
    error: str
    topics: set[str] = field(default_factory=set)  # topics whose events were lost


class NatsBroker(HistoryBroker):
    """Publish and subscribe across processes through NATS JetStream, with history.

    What happens when NATS goes away is in docs/brokers.md. Options:

    - ``stream``: the JetStream stream's name (created, or its limits updated).
    - ``subject_prefix``: prepended to every topic's token; the stream covers
      ``subject_prefix + ">"``. Must end with ``"."``.
    - ``max_messages_per_subject``: events kept per topic for resuming.
    - ``max_age``: seconds an event is kept (``None``: no age limit).
    - ``max_queued``: per-subscriber queue bound (a slow subscriber then replays).
    - ``timeout``: bound, in seconds, on one publish's acknowledgement, one JetStream API
      request and connecting.
    - ``subscribe_timeout``: how long opening a subscription waits for its consumer.
    - ``heartbeat``: the live consumers' idle heartbeat; two missed ones re-create them.
    - ``reconnect_min_delay`` / ``reconnect_max_delay``: the back-off between attempts.
    - ``on_gap``: called with a :class:`BrokerGap` when events were lost to this
      process's subscribers (the stream was lost, or trimmed during an outage).
    """

    def __init__(
        self,
        url: str = DEFAULT_NATS_URL,
        *,
        stream: str = "GQLWIRE",
        subject_prefix: str = "gqlwire.",
        max_messages_per_subject: int = 10_000,
        max_age: float | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
        timeout: float = 5.0,
        subscribe_timeout: float = 10.0,
        heartbeat: float = 5.0,
        reconnect_min_delay: float = 0.1,
        reconnect_max_delay: float = 5.0,
        on_gap: Callable[[BrokerGap], object] | None = None,
    ) -> None:
        super().__init__(max_queued=max_queued)
        for name, value in (
            ("timeout", timeout),
            ("subscribe_timeout", subscribe_timeout),
            ("heartbeat", heartbeat),
            ("reconnect_min_delay", reconnect_min_delay),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if reconnect_max_delay < reconnect_min_delay:
            raise ValueError("reconnect_max_delay must be at least reconnect_min_delay")
        if max_age is not None and not max_age > 0:
            raise ValueError(f"max_age must be positive seconds or None, not {max_age!r}")
        if not isinstance(max_messages_per_subject, int) or max_messages_per_subject < 1:
            raise ValueError(
                f"max_messages_per_subject must be at least 1, not {max_messages_per_subject!r}"
            )
        _check_stream_name(stream)
        _check_prefix(subject_prefix)
        self._url = url
        self._where = _describe_url(url)
        self._stream = stream
        self._prefix = subject_prefix
        self._max_per_subject = max_messages_per_subject
        self._max_age = max_age
        self._timeout = timeout
        self._subscribe_timeout = subscribe_timeout
        self._heartbeat = heartbeat
        self._reconnect_min_delay = reconnect_min_delay
        self._reconnect_max_delay = reconnect_max_delay
        self._on_gap = on_gap

        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()  # something for the supervisor to do
        self._stream_ready = asyncio.Event()  # connected, and the stream's epoch is known
        self._epoch: str | None = None
        self._consumers: dict[str, _Consumer] = {}
        self._retired: list[_Consumer] = []  # consumers whose topic has no subscriber left
        self._outage: _Outage | None = None
        self._connect_failures = 0
        self._publish_failing = False

    def __repr__(self) -> str:
        return f"<NatsBroker {self._where} stream={self._stream!r} prefix={self._prefix!r}>"

    # -- publish -------------------------------------------------------------------------

    async def publish(self, topic: str, payload: Any) -> str:
        self._check_open()
        if not isinstance(topic, str):
            raise TypeError(f"topic must be a str, not {type(topic).__name__}")
        data = orjson.dumps(payload)
        self._start()
        try:
            async with asyncio.timeout(self._timeout):
                await self._stream_ready.wait()
                js, epoch = self._js, self._epoch
                if js is None or epoch is None or not self._connected():
                    # nats-py would buffer it until a reconnect: it must not be sent later.
                    raise nats.errors.ConnectionReconnectingError
                ack = await js.publish(
                    topic_subject(self._prefix, topic),
                    data,
                    timeout=self._timeout,
                    stream=self._stream,
                )
        except _UNREACHABLE as error:
            if isinstance(error, nats.js.errors.NoStreamResponseError):
                self._stream_gone()
            self._dropped_while_disconnected += 1
            if not self._publish_failing:
                self._publish_failing = True
                logger.warning(
                    "cannot publish to NATS JetStream at %s (%s): publish() raises "
                    "BrokerUnavailable and counts dropped_while_disconnected until it answers",
                    self._where,
                    _describe(error),
                )
            raise BrokerUnavailable(
                f"NATS at {self._where} did not acknowledge the publish to {topic!r}: "
                f"{_describe(error)}"
            ) from error
        if self._publish_failing:
            self._publish_failing = False
            logger.info("publishing to NATS at %s works again", self._where)
        self._published += 1
        return _event_id(epoch, ack.seq)

    # -- history -------------------------------------------------------------------------

    def _event_order(self, event_id: str) -> tuple[int, ...]:
        epoch, seq = _parse_event_id(event_id)
        # A recreated stream is newer: its events sort after every event of the old one.
        return (int(epoch, 16), seq)

    async def _read_after(self, topic: str, after: str | None, limit: int) -> HistoryPage:
        js, epoch = await self._ready_for_reads()
        subject = topic_subject(self._prefix, topic)
        try:
            gap: GapReason | None = None
            start = 1  # from the oldest retained
            if after is not None:
                epoch = await self._epoch_for(js, epoch, after)
                gap = await self._resume_gap(js, epoch, subject, after)
                if gap is None:
                    start = _parse_event_id(after)[1] + 1
            return HistoryPage(await self._page(js, epoch, subject, start, limit), gap)
        except _UNREACHABLE as error:
            raise BrokerUnavailable(
                f"NATS at {self._where} did not return the history of {topic!r}: {_describe(error)}"
            ) from error

    async def _epoch_for(self, js: JetStreamContext, epoch: str, after: str) -> str:
        """The stream's epoch, looked up again when ``after`` names another one.

        Another process may have made the stream again while this one stayed connected
        and did not notice yet: its cursors are then of the current stream, ours not.
        """
        if after.partition("-")[0] == epoch:
            return epoch
        current = (await self._stream_info())[1]
        if current != epoch:
            self._stream_gone()  # re-check it and re-create the consumers (telling them)
        return current

    async def _resume_gap(
        self, js: JetStreamContext, epoch: str, subject: str, after: str
    ) -> GapReason | None:
        """Why the events of ``subject`` after the id ``after`` cannot all be read, if so."""
        try:
            cursor_epoch, seq = _parse_event_id(after)
        except ValueError:
            return GapReason.INVALID
        if seq < 1:
            return GapReason.INVALID
        if cursor_epoch != epoch:
            return GapReason.LOST  # an id of a stream since lost (or of another one)
        return await self._cursor_gap(js, subject, seq)

    async def _cursor_gap(self, js: JetStreamContext, subject: str, seq: int) -> GapReason | None:
        """Why the events of ``subject`` after ``seq`` cannot all be read, if they cannot.

        Limits discard a subject's oldest events first, so while the cursor's own event is
        retained, every later one is (the stream keeps one more event per subject than
        ``max_messages_per_subject`` for this). Once it is gone, later ones may be too:
        JetStream does not say, so that is reported as expired.
        """
        try:
            message = await js.get_msg(self._stream, seq=seq)
        except nats.js.errors.NotFoundError:
            info = await js.stream_info(self._stream)
            if seq > info.state.last_seq:
                return GapReason.LOST  # a sequence this stream never reached
            return GapReason.EXPIRED
        if message.subject != subject:
            return GapReason.INVALID  # an event of another topic
        return None

    async def _page(
        self, js: JetStreamContext, epoch: str, subject: str, start: int, limit: int
    ) -> list[tuple[str, Any]]:
        """Up to ``limit`` events of ``subject`` from stream sequence ``start`` on.

        Read as one batch of a short-lived pull consumer (a few round trips per page,
        not one per event).
        """
        nc = self._nc
        if nc is None:
            raise nats.errors.ConnectionClosedError
        created = await js.add_consumer(
            self._stream,
            js_api.ConsumerConfig(
                deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start,
                filter_subject=subject,
                ack_policy=js_api.AckPolicy.NONE,
                max_deliver=1,
                mem_storage=True,
                num_replicas=1,
                inactive_threshold=max(30.0, self._timeout * 2),  # if we cannot delete it
            ),
        )
        try:
            wanted = min(limit, created.num_pending or 0)
            return await self._fetch(nc, epoch, subject, created.name, wanted) if wanted else []
        finally:
            if self._connected():
                with contextlib.suppress(*_UNREACHABLE):
                    await js.delete_consumer(self._stream, created.name)

    async def _fetch(
        self, nc: NatsClient, epoch: str, subject: str, consumer: str, wanted: int
    ) -> list[tuple[str, Any]]:
        """``wanted`` messages (known to be there) of a pull consumer, as events."""
        events: list[tuple[str, Any]] = []
        inbox = await nc.subscribe(nc.new_inbox())
        try:
            await nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{consumer}",
                orjson.dumps({"batch": wanted, "no_wait": True}),
                reply=inbox.subject,
            )
            for _ in range(wanted):
                message = await inbox.next_msg(timeout=self._timeout)
                if message.headers and message.headers.get("Status"):
                    break  # no more messages (trimmed since the consumer was made)
                payload = _decode(message.data, subject)
                if payload is not _UNDECODABLE:
                    seq = message.metadata.sequence.stream
                    events.append((_event_id(epoch, seq), payload))
        finally:
            await _unsubscribe(inbox)
        return events

    async def _ready_for_reads(self) -> tuple[JetStreamContext, str]:
        self._check_open()
        self._start()
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await self._stream_ready.wait()
        except TimeoutError:
            raise BrokerUnavailable(
                f"NATS at {self._where} was not reachable within {self._subscribe_timeout:g}s"
            ) from None
        js, epoch = self._js, self._epoch
        if js is None or epoch is None:
            raise BrokerUnavailable(f"NATS at {self._where} is not connected")
        return js, epoch

    # -- hooks of Broker -----------------------------------------------------------------

    def _is_connected(self) -> bool:
        return self._connected() and self._stream_ready.is_set()

    def _topic_added(self, topic: str) -> None:
        self._consumers[topic] = _Consumer(topic, topic_subject(self._prefix, topic))
        self._start()
        self._changed.set()

    def _topic_removed(self, topic: str) -> None:
        # The supervisor deletes its JetStream consumer; no message reaches it meanwhile.
        consumer = self._consumers.pop(topic, None)
        if consumer is not None:
            self._retired.append(consumer)
            self._changed.set()

    async def _until_delivering(self, topic: str) -> None:
        consumer = self._consumers.get(topic)
        if consumer is None or consumer.ready.is_set():
            return
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await consumer.ready.wait()
        except TimeoutError:
            raise BrokerUnavailable(
                f"NATS at {self._where} did not start delivering {topic!r} "
                f"within {self._subscribe_timeout:g}s"
            ) from None

    async def _close_backend(self) -> None:
        for consumer in self._consumers.values():
            consumer.ready.set()  # subscribers still opening wake up and see the broker closed
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            await _cancel_and_wait(supervisor)
            if not supervisor.cancelled() and supervisor.exception() is not None:
                logger.error("the NATS supervisor task had failed", exc_info=supervisor.exception())
        consumers = [*self._consumers.values(), *self._retired]
        self._consumers.clear()
        self._retired.clear()
        nc, self._nc = self._nc, None
        self._js = None
        if nc is None:
            return
        if nc.is_connected:
            # Leave no consumer behind on the server (it would expire anyway).
            try:
                async with asyncio.timeout(self._timeout):
                    for consumer in consumers:
                        await self._drop_consumer(consumer)
            except _UNREACHABLE:
                pass
        try:
            async with asyncio.timeout(self._timeout):
                await nc.close()
        except Exception as error:  # old nats-py fails closing a client that never connected
            logger.debug("closing the NATS connection to %s: %s", self._where, _describe(error))

    # -- the connection and the live consumers -------------------------------------------

    def _start(self) -> None:
        if self._supervisor is None and not self._closed:
            self._supervisor = asyncio.get_running_loop().create_task(
                self._run(), name=f"gqlwire NatsBroker supervisor ({self._where})"
            )

    def _connected(self) -> bool:
        nc = self._nc
        return nc is not None and nc.is_connected

    async def _run(self) -> None:
        """Connect, then keep the stream and the live consumers in place until closed."""
        await self._connect()
        loop = asyncio.get_running_loop()
        step = 0
        while True:
            self._changed.clear()  # before the round: a change made during it is kept
            try:
                await self._keep_in_place()
                step = 0
            except Exception as error:
                delay = self._backoff(step)
                step += 1
                if isinstance(error, _UNREACHABLE):
                    logger.debug("NATS at %s: %s; again in %.2fs", self._where, error, delay)
                else:
                    logger.error(
                        "NatsBroker failed unexpectedly; again in %.2fs", delay, exc_info=error
                    )
                await asyncio.sleep(delay)
                continue
            try:
                async with asyncio.timeout(self._heartbeat):
                    await self._changed.wait()
            except TimeoutError:
                pass
            self._check_activity(loop.time())

    async def _connect(self) -> None:
        options: dict[str, Any] = dict(
            servers=[self._url],
            name="gqlwire",
            connect_timeout=self._timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,  # nats-py retries until it connects, and after losses
            reconnect_time_wait=self._reconnect_min_delay,
            ping_interval=max(1, round(self._heartbeat)),
            max_outstanding_pings=2,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            error_cb=self._on_error,
        )
        if _SUPPORTS_RECONNECT_HANDLER:
            options["reconnect_to_server_handler"] = self._next_attempt
        step = 0
        while True:
            nc = self._nc = NatsClient()
            try:
                await nc.connect(**options)
                break
            except Exception as error:  # not a network error: nats-py retries those itself
                delay = self._backoff(step)
                step += 1
                logger.error("cannot connect to NATS at %s: %s", self._where, _describe(error))
                with contextlib.suppress(Exception):
                    await nc.close()
                await asyncio.sleep(delay)
        self._connect_failures = 0
        self._js = nc.jetstream(timeout=self._timeout)

    async def _keep_in_place(self) -> None:
        """One round: the stream checked, consumers (re-)created or deleted as needed."""
        js = self._js
        if js is None or not self._connected():
            return
        retired, self._retired = self._retired, []
        for consumer in retired:
            await self._drop_consumer(consumer)
        if not self._stream_ready.is_set() or any(c.stale for c in self._consumers.values()):
            await self._ensure_stream(js)
        for consumer in list(self._consumers.values()):
            if consumer.stale and self._consumers.get(consumer.topic) is consumer:
                await self._start_consumer(js, consumer)
        self._maybe_resumed()

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream, or bring its limits to ours; learn its epoch."""
        wanted = js_api.StreamConfig(
            name=self._stream,
            subjects=[self._prefix + ">"],
            retention=js_api.RetentionPolicy.LIMITS,
            discard=js_api.DiscardPolicy.OLD,
            # One more than promised: while a cursor's own event is kept, all later ones
            # are, so a subscriber that missed max_messages_per_subject events resumes.
            max_msgs_per_subject=self._max_per_subject + 1,
            max_age=self._max_age,
            storage=js_api.StorageType.FILE,
        )
        try:
            info, epoch = await self._stream_info()
        except nats.js.errors.NotFoundError:
            with contextlib.suppress(nats.js.errors.BadRequestError):  # made by another one
                await js.add_stream(wanted)
            info, epoch = await self._stream_info()
        config = info.config
        if (
            self._prefix + ">" not in (config.subjects or [])
            or config.max_msgs_per_subject != wanted.max_msgs_per_subject
            or (config.max_age or None) != (self._max_age or None)
        ):
            subjects = list(config.subjects or [])
            if self._prefix + ">" not in subjects:
                subjects.append(self._prefix + ">")
            config.subjects = subjects
            config.max_msgs_per_subject = wanted.max_msgs_per_subject
            config.max_age = self._max_age or 0
            await js.update_stream(config)  # the same stream: its epoch stays
        previous, self._epoch = self._epoch, epoch
        if previous is not None and previous != epoch:
            logger.warning(
                "the JetStream stream %r at %s was recreated: its history is lost; "
                "subscribers are told so and continue with the new stream",
                self._stream,
                self._where,
            )
        self._stream_ready.set()

    async def _stream_info(self) -> tuple[js_api.StreamInfo, str]:
        """The stream's info and epoch (raises ``NotFoundError`` when there is none).

        Asked of the JetStream API directly: nats-py's ``StreamInfo`` has no creation time
        before 2.15.
        """
        nc = self._nc
        if nc is None:
            raise nats.errors.ConnectionClosedError
        reply = await nc.request(f"$JS.API.STREAM.INFO.{self._stream}", b"", timeout=self._timeout)
        response = orjson.loads(reply.data)
        if "error" in response:
            raise nats.js.errors.APIError.from_error(response["error"])
        created = response.get("created")
        if not isinstance(created, str):
            raise nats.js.errors.Error("the stream's info has no creation time")
        return js_api.StreamInfo.from_response(response), _epoch_from(created)

    async def _start_consumer(self, js: JetStreamContext, consumer: _Consumer) -> None:
        """(Re-)create ``consumer`` after the last event it handed over, without a loss."""
        nc = self._nc
        assert nc is not None and self._epoch is not None
        old_inbox, consumer.inbox = consumer.inbox, None
        if old_inbox is not None:
            await self._drop_consumer(consumer, old_inbox)
        if consumer.epoch is None:
            info = await js.stream_info(self._stream)
            consumer.epoch, consumer.last_seq = self._epoch, info.state.last_seq
        elif consumer.epoch != self._epoch:
            # Anyone still in the old stream lost what it had not received of it.
            self._lost(consumer.topic, GapReason.LOST, (int(consumer.epoch, 16), _NO_END))
            consumer.epoch, consumer.last_seq, consumer.delivered_any = self._epoch, 0, False
        elif consumer.delivered_any and await self._cursor_gap(
            js, consumer.subject, consumer.last_seq
        ):
            self._lost(
                consumer.topic, GapReason.EXPIRED, (int(consumer.epoch, 16), consumer.last_seq)
            )
        inbox_subject = nc.new_inbox()

        async def on_message(message: Msg) -> None:
            self._on_message(consumer, inbox, message)

        inbox = await nc.subscribe(inbox_subject, cb=on_message)
        consumer.inbox = inbox
        consumer.consumer_seq = 0
        consumer.last_activity = asyncio.get_running_loop().time()
        config = js_api.ConsumerConfig(
            deliver_subject=inbox_subject,
            deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=consumer.last_seq + 1,
            filter_subject=consumer.subject,
            ack_policy=js_api.AckPolicy.NONE,
            max_deliver=1,
            idle_heartbeat=self._heartbeat,
            inactive_threshold=max(30.0, self._heartbeat * 6),
            mem_storage=True,
            num_replicas=1,
        )
        # Its first messages may arrive before add_consumer returns: take them.
        consumer.stale = False
        try:
            created = await js.add_consumer(self._stream, config)
        except BaseException:
            consumer.stale, consumer.inbox = True, None
            await _unsubscribe(inbox)
            raise
        consumer.name = created.name
        consumer.ready.set()

    def _on_message(self, consumer: _Consumer, inbox: NatsSubscription, message: Msg) -> None:
        if consumer.inbox is not inbox or consumer.stale:
            return  # a consumer being replaced
        consumer.last_activity = asyncio.get_running_loop().time()
        headers = message.headers
        if headers and headers.get("Status"):
            if headers.get("Status") == _HEARTBEAT_STATUS:
                last = headers.get("Nats-Last-Consumer")
                if last is not None and last.isdigit() and int(last) != consumer.consumer_seq:
                    self._restart(consumer, "a heartbeat showed missed messages")
            else:  # 409 consumer deleted, and the like
                self._restart(consumer, f"status {headers.get('Status')}")
            return
        try:
            metadata = message.metadata
        except nats.errors.Error:
            return
        if metadata.sequence.consumer != consumer.consumer_seq + 1:
            self._restart(consumer, "a message was missed")
            return
        consumer.consumer_seq = metadata.sequence.consumer
        consumer.last_seq = metadata.sequence.stream
        consumer.delivered_any = True
        payload = _decode(message.data, consumer.subject)
        if payload is not _UNDECODABLE and consumer.epoch is not None:
            self._deliver(consumer.topic, (_event_id(consumer.epoch, consumer.last_seq), payload))

    def _restart(self, consumer: _Consumer, why: str) -> None:
        logger.debug("re-creating the NATS consumer of %r: %s", consumer.topic, why)
        consumer.stale = True
        self._changed.set()

    def _check_activity(self, now: float) -> None:
        silence = 2 * self._heartbeat + self._timeout
        for consumer in self._consumers.values():
            if not consumer.stale and now - consumer.last_activity > silence:
                self._restart(consumer, f"no heartbeat for {silence:g}s")

    async def _drop_consumer(
        self, consumer: _Consumer, inbox: NatsSubscription | None = None
    ) -> None:
        inbox = inbox or consumer.inbox
        consumer.inbox = None
        if inbox is not None:
            await _unsubscribe(inbox)
        name, consumer.name = consumer.name, None
        js = self._js
        if name is not None and js is not None and self._connected():
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_consumer(self._stream, name)

    def _stream_gone(self) -> None:
        self._stream_ready.clear()
        for consumer in self._consumers.values():
            consumer.stale = True
        self._changed.set()

    def _lost(self, topic: str, reason: GapReason, lost_after: tuple[int, int]) -> None:
        """Tell the subscribers of ``topic`` at or before ``lost_after`` (an event order)
        that events after their position were lost.

        A subscriber whose position is past it (one that resumed in the new stream) or
        that has no position yet is not told; one still replaying finds out by itself.
        """
        told = False
        for subscription in self._subscribers(topic):
            if not isinstance(subscription, HistorySubscription) or subscription.replaying:
                continue
            position = subscription.position
            if position is None:
                continue
            try:
                if self._event_order(position) > lost_after:
                    continue
            except ValueError:
                continue
            told = True
            subscription.report_gap(reason)
        if not told:
            return
        outage = self._outage
        if outage is None:
            outage = self._outage = _Outage(time.time(), f"history {reason.value}")
        if not outage.topics:
            self._gaps += 1  # once per outage that cost topics events
        outage.topics.add(topic)

    def _maybe_resumed(self) -> None:
        outage = self._outage
        if outage is None or not self._connected():
            return
        if any(consumer.stale for consumer in self._consumers.values()):
            return
        self._outage = None
        resumed_at = time.time()
        topics = frozenset(topic for topic in outage.topics if topic in self._topics)
        if topics:
            logger.warning(
                "NATS subscriptions restored after %.1fs; %d topic(s) lost events (%s)",
                resumed_at - outage.lost_at,
                len(topics),
                outage.error,
            )
            if self._on_gap is not None:
                try:
                    self._on_gap(BrokerGap(topics, outage.lost_at, resumed_at, outage.error))
                except Exception:
                    logger.exception("the on_gap callback raised")
        else:
            logger.info(
                "NATS subscriptions restored after %.1fs; they continue where they were",
                resumed_at - outage.lost_at,
            )

    # -- nats-py's callbacks ---------------------------------------------------------------

    async def _on_disconnected(self) -> None:
        if self._closed:
            return
        self._stream_ready.clear()
        for consumer in self._consumers.values():
            consumer.stale = True
            consumer.ready.clear()
        if self._outage is None:
            self._outage = _Outage(time.time(), "disconnected")
            logger.warning(
                "lost the NATS connection to %s; reconnecting. Subscribers wait and then "
                "continue after their last event",
                self._where,
            )

    async def _on_reconnected(self) -> None:
        self._reconnects += 1
        logger.info("reconnected to NATS at %s; re-creating the consumers", self._where)
        self._changed.set()

    async def _on_error(self, error: Exception) -> None:
        if isinstance(error, nats.errors.SlowConsumerError):
            # The consumer's sequence check notices the lost message and re-creates it.
            logger.debug("NATS slow consumer: %s", error)
            return
        if self._nc is None or not self._nc.is_connected:
            self._connect_failures += 1
            if self._connect_failures == 1 and self._outage is None:
                logger.warning(
                    "cannot connect to NATS at %s (%s); retrying with back-off",
                    self._where,
                    _describe(error),
                )
                return
        logger.debug("NATS at %s: %s", self._where, _describe(error))

    def _next_attempt(self, servers: list[Any], info: dict[str, Any]) -> tuple[None, float]:
        attempts = max((getattr(server, "reconnects", 0) for server in servers), default=0)
        return None, self._backoff(attempts)

    def _backoff(self, step: int) -> float:
        ceiling = min(self._reconnect_max_delay, self._reconnect_min_delay * 2 ** min(step, 30))
        return random.uniform(ceiling / 2, ceiling)


class _Undecodable:
    pass


_UNDECODABLE: Final = _Undecodable()


def _decode(data: bytes | None, subject: str) -> Any:
    try:
        return orjson.loads(data or b"")
    except orjson.JSONDecodeError:
        logger.warning("skipped a message on NATS subject %r that is not JSON", subject)
        return _UNDECODABLE


def _epoch_from(created: str) -> str:
    """A stream's epoch: its creation time (RFC 3339, as JetStream gives it) in
    hexadecimal nanoseconds, so that a newer stream has a larger epoch."""
    match = _RFC3339.fullmatch(created)
    if match is None:
        raise nats.js.errors.Error(f"unexpected stream creation time {created!r}")
    whole, fraction, offset = match.groups()
    moment = datetime.datetime.fromisoformat(whole + ("+00:00" if offset in "Zz" else offset))
    nanoseconds = int((fraction or "").ljust(9, "0")[:9])
    return f"{int(moment.timestamp()) * 1_000_000_000 + nanoseconds:x}"


def _event_id(epoch: str, seq: int) -> str:
    return f"{epoch}-{seq}"


def _parse_event_id(event_id: str) -> tuple[str, int]:
    epoch, _, seq = event_id.partition("-")
    if not epoch or not seq.isdigit() or not seq.isascii() or len(epoch) > 16:
        raise ValueError(f"not an event id of a NatsBroker: {event_id!r}")
    try:
        int(epoch, 16)
    except ValueError:
        raise ValueError(f"not an event id of a NatsBroker: {event_id!r}") from None
    return epoch, int(seq)


async def _unsubscribe(inbox: NatsSubscription) -> None:
    # Fails when the connection is closed or the subscription already gone: fine.
    with contextlib.suppress(nats.errors.Error):
        await inbox.unsubscribe()


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)


def _check_stream_name(name: str) -> None:
    if not name or any(c in name for c in ".*>/\\") or any(c.isspace() for c in name):
        raise ValueError(f"not a usable JetStream stream name: {name!r}")


def _check_prefix(prefix: str) -> None:
    tokens = prefix.split(".")
    if (
        not prefix.endswith(".")
        or any(not token for token in tokens[:-1])
        or any(token in ("*", ">") for token in tokens)
        or any(c.isspace() for c in prefix)
    ):
        raise ValueError(
            f"subject_prefix must be NATS subject tokens ending with '.', not {prefix!r}"
        )


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _describe_url(url: str) -> str:
    """host:port; never a user or password."""
    parsed = urllib.parse.urlsplit(url)
    return f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 4222}"
