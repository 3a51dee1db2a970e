"""Fan-out with history through Redis Streams, on redis-py's asyncio client.

Each topic is one stream (``XADD`` with bounded length); one reader task per broker reads
every stream that has local subscribers with one blocking ``XREAD`` on a connection of its
own, and remembers the last id it delivered of each. Because a stream keeps its entries,
a dropped connection costs nothing (the reader goes on after its last ids) and a
subscription can start after any event still retained. Details in docs/brokers.md
("RedisStreamBroker").

Ids, epochs and ordinals. Redis numbers stream entries ``<ms>-<seq>``, from its clock; a
stream deleted or lost (a Redis restarted without persistence) is numbered afresh, so an
id alone cannot tell "what follows this event" from "this history is gone". Every entry
therefore also carries its stream's *epoch*, a random token chosen when the stream is
created, and its *ordinal*, 1 for the stream's first entry and one more for each next
(the publish script reads both from the newest entry). An event id, and so a cursor, is
``<epoch>:<ordinal>:<ms>-<seq>``: a cursor of another epoch is reported ``lost``, never
misread, and one whose successor was trimmed away is ``expired`` (Redis itself does not
record what trimming removed).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from redis.asyncio.connection import AbstractConnection

from .broker import DEFAULT_MAX_QUEUED, BrokerGap, BrokerUnavailable
from .history import DEFAULT_PAGE_SIZE, Event, HistoryBroker, HistoryPage, HistorySubscription
from .redis_connection import (
    DEFAULT_REDIS_URL,
    UNREACHABLE,
    RedisEndpoint,
    backoff_delay,
    cancel_and_wait,
    describe,
    send,
)
from .resume import GapReason

__all__ = ["RedisStreamBroker"]

logger = logging.getLogger("gqlwire.fanout")

EPOCH_FIELD: Final = b"e"
ORDINAL_FIELD: Final = b"n"
DATA_FIELD: Final = b"d"
_FROM_START: Final = b"0-0"

# Atomic, so that two publishers creating a stream at once agree on its epoch, and each
# entry's epoch and ordinal follow from the entry before it. The stream never becomes
# empty through our trimming (MAXLEN ~ keeps at least the new entry, and MINID is older
# than it), so "no newest entry" means a new stream.
# A new stream's first entry is numbered by the script, not by Redis: Redis would number
# it <ms>-0, and a stream of the same name deleted within that millisecond may have
# numbered entries there already; a new entry at or below a reader's position is neither
# read by its XREAD nor taken as new by its subscribers. The script numbers it
# <ms>-<(µs within the ms + 1) * 2**20>: above what Redis numbers from 0 in that
# millisecond (fewer than 2**20 entries a millisecond), and above every entry of a stream
# created earlier in it, which counts up from the number of an earlier microsecond.
# KEYS[1]: the stream. ARGV: a new epoch, the payload, MAXLEN ("" for none), max age in
# ms ("" for none). Returns {epoch, ordinal, entry id}.
_PUBLISH_SCRIPT: Final = """
local epoch, ordinal = ARGV[1], 0
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if newest then
  local fields = newest[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'e' then epoch = fields[i + 1]
    elseif fields[i] == 'n' then ordinal = tonumber(fields[i + 1]) or 0 end
  end
end
ordinal = string.format('%d', ordinal + 1)
local id = '*'
if not newest and redis.call('EXISTS', KEYS[1]) == 0 then
  local now = redis.call('TIME')
  local micros = tonumber(now[2])
  id = string.format('%d-%d', tonumber(now[1]) * 1000 + math.floor(micros / 1000),
    (micros % 1000 + 1) * 1048576)
end
if ARGV[3] ~= '' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], id,
    'e', epoch, 'n', ordinal, 'd', ARGV[2])
else
  id = redis.call('XADD', KEYS[1], id, 'e', epoch, 'n', ordinal, 'd', ARGV[2])
end
if ARGV[4] ~= '' then
  local now = redis.call('TIME')
  local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[4])
  redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%d', oldest))
end
return {epoch, ordinal, id}
"""

# One consistent look at a stream for a resume: its oldest and newest entries, and the
# page after the cursor. Returns {} for a missing stream, else {oldest or false, newest
# or false, page}.
# KEYS[1]: the stream. ARGV: the entry id to start after, the page size.
_READ_AFTER_SCRIPT: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1] or false
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1] or false
local page = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
return {oldest, newest, page}
"""

EntryId = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _EventId:
    """``<epoch>:<ordinal>:<ms>-<seq>``, parsed."""

    epoch: str
    ordinal: int
    entry: EntryId

    def __str__(self) -> str:
        return f"{self.epoch}:{self.ordinal}:{self.entry[0]}-{self.entry[1]}"

    @property
    def entry_id(self) -> str:
        return f"{self.entry[0]}-{self.entry[1]}"


class RedisStreamBroker(HistoryBroker):
    """Publish and subscribe across processes through Redis Streams, with history.

    Within retention, a subscription resumed after an event gets every later event, in
    order, once; past it, or after Redis lost the stream, it is told (a gap). Options:

    - ``stream_prefix``: prepended to every topic to make the stream's key.
    - ``max_length``: entries kept per stream, approximately (``XADD MAXLEN ~``; ``None``:
      no length limit).
    - ``max_age``: seconds; entries older than that are trimmed when publishing
      (``XTRIM MINID ~``; ``None``: no age limit).
    - ``max_queued``: per-subscriber live queue bound; a subscriber that overflows it
      catches up from the stream and loses nothing.
    - ``timeout``: bound, in seconds, on connecting, on one publish and on one read of
      history.
    - ``block``: the longest the reader's ``XREAD`` blocks, in seconds; the reader counts
      its connection lost when nothing came back ``block + timeout`` seconds later.
    - ``read_count``: the most entries one ``XREAD`` takes per stream.
    - ``page_size``: entries per read when a subscription replays history.
    - ``subscribe_timeout``: how long opening a subscription waits for the reader's
      connection.
    - ``reconnect_min_delay`` / ``reconnect_max_delay``: the back-off between attempts.
    - ``on_gap``: called with a :class:`BrokerGap` when Redis lost the history of topics
      that have local subscribers.
    """

    def __init__(
        self,
        url: str = DEFAULT_REDIS_URL,
        *,
        stream_prefix: str = "gqlwire:",
        max_length: int | None = 10_000,
        max_age: float | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
        timeout: float = 5.0,
        block: float = 5.0,
        read_count: int = 512,
        page_size: int = DEFAULT_PAGE_SIZE,
        subscribe_timeout: float = 10.0,
        reconnect_min_delay: float = 0.1,
        reconnect_max_delay: float = 5.0,
        on_gap: Callable[[BrokerGap], object] | None = None,
    ) -> None:
        super().__init__(max_queued=max_queued)
        for name, value in (
            ("timeout", timeout),
            ("block", block),
            ("subscribe_timeout", subscribe_timeout),
            ("reconnect_min_delay", reconnect_min_delay),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if reconnect_max_delay < reconnect_min_delay:
            raise ValueError("reconnect_max_delay must be at least reconnect_min_delay")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be at least 1 (or None), not {max_length!r}")
        if max_age is not None and not max_age > 0:
            raise ValueError(f"max_age must be positive seconds (or None), not {max_age!r}")
        for name, count in (("read_count", read_count), ("page_size", page_size)):
            if count < 1:
                raise ValueError(f"{name} must be at least 1, not {count!r}")
        self._prefix = stream_prefix
        self._max_length = "" if max_length is None else str(max_length)
        self._max_age_ms = "" if max_age is None else str(max(1, round(max_age * 1000)))
        self._timeout = timeout
        self._block = block
        self._read_count = read_count
        self.page_size = page_size
        self._subscribe_timeout = subscribe_timeout
        self._reconnect_min_delay = reconnect_min_delay
        self._reconnect_max_delay = reconnect_max_delay
        self._on_gap = on_gap

        self._endpoint = RedisEndpoint.from_url(url, timeout)
        self._where = self._endpoint.where
        self._pool, self._client = self._endpoint.publisher()
        self._publish_script = self._client.register_script(_PUBLISH_SCRIPT)
        self._read_after_script = self._client.register_script(_READ_AFTER_SCRIPT)
        self._publish_failing = False

        # Per topic with local subscribers, once fixed: the entry id the reader reads
        # after (the last it delivered, or the stream's newest when the topic was added),
        # and that entry as an event id (None: no entry yet, the stream did not exist).
        self._positions: dict[str, bytes] = {}
        self._last_events: dict[str, _EventId | None] = {}
        self._fixing: dict[str, asyncio.Event] = {}  # a position is being looked up
        self._wanted = asyncio.Event()  # a position was fixed: the idle reader reads
        self._up = asyncio.Event()  # the reader's connection is up and checked
        # While an XREAD is under way: the reader's client id and the topics it reads.
        self._reading: tuple[int, frozenset[str]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ever_connected = False
        self._connect_failures = 0
        self._outage: tuple[float, str] | None = None  # (lost_at, why) until checked

    def __repr__(self) -> str:
        return f"<RedisStreamBroker {self._where} prefix={self._prefix!r}>"

    # -- publish -------------------------------------------------------------------------

    async def publish(self, topic: str, payload: Any) -> str:
        self._check_open()
        data = orjson.dumps(payload)
        args = (secrets.token_hex(6), data, self._max_length, self._max_age_ms)
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._publish_script(keys=[self._key(topic)], args=args)
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
        epoch, ordinal, entry_id = (part.decode() for part in reply)
        return f"{epoch}:{ordinal}:{entry_id}"

    # -- history -------------------------------------------------------------------------

    async def _read_after(self, topic: str, after: str | None, limit: int) -> HistoryPage:
        key = self._key(topic)
        if after is None:
            return HistoryPage(await self._oldest(key, limit))
        cursor = _parse_event_id(after)
        if cursor is None:
            return HistoryPage(await self._oldest(key, limit), GapReason.INVALID)
        reply = await self._call(self._read_after_script, key, cursor.entry_id, limit)
        if not reply or not reply[0]:
            # The stream is gone (or emptied by someone else): so is what the cursor
            # pointed into.
            return HistoryPage(await self._oldest(key, limit), GapReason.LOST)
        oldest, newest, page = (_event(*reply[0])[0], _event(*reply[1])[0], reply[2])
        if oldest.epoch != cursor.epoch:
            return HistoryPage(await self._oldest(key, limit), GapReason.LOST)
        if cursor.entry > newest.entry or cursor.ordinal > newest.ordinal:
            return HistoryPage(await self._oldest(key, limit), GapReason.INVALID)
        # The page starts at the oldest entry when the cursor's own was trimmed; events
        # were lost only if its successor was trimmed too.
        expired = cursor.ordinal + 1 < oldest.ordinal
        return HistoryPage(_events(page), GapReason.EXPIRED if expired else None)

    def _event_order(self, event_id: str) -> tuple[int, ...]:
        parsed = _parse_event_id(event_id)
        if parsed is None:
            raise ValueError(f"not an event id of a RedisStreamBroker: {event_id!r}")
        return parsed.entry

    async def _oldest(self, key: str, limit: int) -> list[Event]:
        try:
            async with asyncio.timeout(self._timeout):
                entries: Any = await self._client.xrange(key, "-", "+", count=limit)
        except UNREACHABLE as error:
            raise self._unavailable("read the history of", key, error) from error
        return _events(entries)

    async def _call(self, script: Any, key: str, *args: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await script(keys=[key], args=args)
        except UNREACHABLE as error:
            raise self._unavailable("read the history of", key, error) from error

    def _unavailable(self, what: str, key: str, error: BaseException) -> BrokerUnavailable:
        return BrokerUnavailable(
            f"Redis at {self._where} could not {what} {key!r}: {describe(error)}"
        )

    # -- hooks of Broker -----------------------------------------------------------------

    def _is_connected(self) -> bool:
        return self._up.is_set()

    def _topic_added(self, topic: str) -> None:
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(
                self._run(), name=f"gqlwire RedisStreamBroker reader ({self._where})"
            )

    def _topic_removed(self, topic: str) -> None:
        # The XREAD under way may still return entries of it; they are dropped.
        self._positions.pop(topic, None)
        self._last_events.pop(topic, None)

    async def _until_delivering(self, topic: str) -> None:
        """Fix the topic's reader position at the stream's newest entry, then return once
        the reader's connection is up: what is published from now on is delivered."""
        while topic in self._topics and topic not in self._positions:
            fixing = self._fixing.get(topic)
            if fixing is not None:  # another subscriber of the topic is looking it up
                await fixing.wait()
                continue
            fixing = self._fixing[topic] = asyncio.Event()
            try:
                await self._fix_position(topic)
            finally:
                fixing.set()
                if self._fixing.get(topic) is fixing:
                    del self._fixing[topic]
        if self._up.is_set() or self._closed:
            return
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await self._up.wait()
        except TimeoutError:
            raise BrokerUnavailable(
                f"the reader of Redis at {self._where} was not connected within "
                f"{self._subscribe_timeout:g}s"
            ) from None

    async def _close_backend(self) -> None:
        for fixing in self._fixing.values():
            fixing.set()
        self._up.set()  # subscribers still opening wake up and see the broker closed
        reader, self._reader = self._reader, None
        if reader is not None:
            await cancel_and_wait(reader)
            if not reader.cancelled() and reader.exception() is not None:
                logger.error("the Redis stream reader had failed", exc_info=reader.exception())
        self._positions.clear()
        await self._client.aclose()
        await self._pool.disconnect()

    # -- positions -----------------------------------------------------------------------

    async def _fix_position(self, topic: str) -> None:
        key = self._key(topic)
        try:
            async with asyncio.timeout(self._timeout):
                newest: Any = await self._client.xrevrange(key, "+", "-", count=1)
        except UNREACHABLE as error:
            raise self._unavailable("look up the newest entry of", key, error) from error
        if topic not in self._topics or topic in self._positions:
            return
        if newest:
            entry_id, fields = newest[0]
            self._positions[topic] = entry_id
            self._last_events[topic] = _event(entry_id, fields)[0]
        else:
            self._positions[topic] = _FROM_START
            self._last_events[topic] = None
        self._wanted.set()
        await self._wake_reader(topic)

    async def _wake_reader(self, topic: str) -> None:
        """Make a blocked XREAD return so that the next one reads ``topic`` too.

        Why not a short BLOCK instead: it would cost an idle broker a round trip per
        period, and still delay a new topic's first events by up to that period. CLIENT
        UNBLOCK (sent on a pool connection) ends the reader's XREAD as a timeout would.
        It answers 0 when the XREAD was sent but is not blocking yet (the commands
        travel on different connections): then try again briefly. If that still fails,
        the XREAD's own ``block`` bound picks the topic up; nothing is lost either way,
        since the position is already fixed.
        """
        for _ in range(20):
            reading = self._reading
            if reading is None or topic in reading[1]:
                return  # the next XREAD reads the wanted set afresh
            try:
                async with asyncio.timeout(self._timeout):
                    if await self._client.client_unblock(reading[0]):
                        return
            except UNREACHABLE:
                return  # the reader will notice too, and read every topic when back
            if self._reading is not reading:
                return
            await asyncio.sleep(0.005)

    # -- the reader ----------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, read, and after any loss reconnect, until the broker closes."""
        step: int | None = None  # back-off step; None: connect at once
        while True:
            if step is not None:
                await asyncio.sleep(
                    backoff_delay(step, self._reconnect_min_delay, self._reconnect_max_delay)
                )
            try:
                connection = await self._endpoint.connect(self._timeout * 2)
            except Exception as failure:
                self._connect_failed(failure)
                step = 0 if step is None else step + 1
                continue
            error = await self._serve(connection)
            self._connection_lost(error)
            # A lost connection is retried at once; an error reply (a key that is not a
            # stream, say) backs off further each time instead of looping.
            step = 0 if isinstance(error, UNREACHABLE) or step is None else step + 1

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

    async def _serve(self, connection: AbstractConnection) -> Exception:
        """Read until the connection fails; return why it did."""
        try:
            await send(connection, "CLIENT", "ID")
            client_id = int(await connection.read_response())
            await self._check_histories(connection)
            if self._ever_connected:
                self._reconnects += 1
                logger.info(
                    "reconnected to Redis at %s; %d subscribed topic(s) go on from their "
                    "last events",
                    self._where,
                    len(self._positions),
                )
            self._ever_connected = True
            self._connect_failures = 0
            self._up.set()
            while True:
                if not self._positions:
                    self._wanted.clear()
                    await self._wanted.wait()
                    continue
                await self._read(connection, client_id)
        except Exception as error:
            return error
        finally:
            self._up.clear()
            self._reading = None
            await connection.disconnect(nowait=True)

    def _connection_lost(self, error: Exception) -> None:
        if self._outage is None:
            self._outage = (time.time(), describe(error))
            logger.warning(
                "lost the Redis connection to %s (%s); reconnecting. %d subscribed topic(s) "
                "go on from their last events then, unless Redis lost their streams",
                self._where,
                describe(error),
                len(self._positions),
            )
        if not isinstance(error, UNREACHABLE):
            logger.error("Redis stream reader connection failed unexpectedly", exc_info=error)

    async def _check_histories(self, connection: AbstractConnection) -> None:
        """Did Redis keep the stream of each topic read so far (the same epoch)?

        Checked on every connection: after a loss, Redis may have restarted empty, and
        an XREAD from our old positions would quietly read a new stream.
        """
        topics = [topic for topic, last in self._last_events.items() if last is not None]
        for topic in topics:
            await send(connection, "XREVRANGE", self._key(topic), "+", "-", "COUNT", 1)
        replies = [await connection.read_response() for _ in topics]
        lost = set()
        for topic, newest in zip(topics, replies, strict=True):
            last = self._last_events.get(topic)
            if last is None:
                continue  # its last subscriber left meanwhile
            if not newest or _event(*newest[0])[0].epoch != last.epoch:
                lost.add(topic)
        lost_at, why = self._outage or (time.time(), "")
        self._outage = None
        if lost:
            self._lose(lost, lost_at, why)

    async def _read(self, connection: AbstractConnection, client_id: int) -> None:
        topics = list(self._positions)
        keys = [self._key(topic) for topic in topics]
        ids = [self._positions[topic] for topic in topics]
        block_ms = max(1, round(self._block * 1000))
        self._reading = (client_id, frozenset(topics))
        try:
            await send(
                connection, "XREAD", "COUNT", self._read_count, "BLOCK", block_ms,
                "STREAMS", *keys, *ids,
            )  # fmt: skip
            # Our own deadline: redis-py's read timeout returns None, like an XREAD that
            # timed out, and a silent peer must not look like an idle stream.
            async with asyncio.timeout(self._block + self._timeout):
                reply = await connection.read_response(timeout=math.inf)
        finally:
            self._reading = None
        if not reply:
            return  # BLOCK timed out, or CLIENT UNBLOCK: the wanted set changed
        by_key = dict(zip(keys, topics, strict=True))
        for key, entries in reply:
            topic = by_key.get(key.decode())
            if topic is not None:
                self._take(topic, entries)

    def _take(self, topic: str, entries: list[Any]) -> None:
        for entry_id, fields in entries:
            if topic not in self._positions:
                return  # its last subscriber left
            event_id, data = _event(entry_id, fields)
            last = self._last_events[topic]
            if last is not None and event_id.epoch != last.epoch:
                # The stream was deleted and created again while we read it: the new
                # one's entries may be numbered below our position, so start over.
                self._lose({topic}, time.time(), "the stream was replaced")
                return
            if last is not None and event_id.entry <= last.entry:
                continue  # read by an XREAD from before the topic was last (re)added
            self._last_events[topic] = event_id
            self._positions[topic] = entry_id
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                logger.warning("skipped an entry of Redis stream %r that is not JSON", topic)
                continue
            self._deliver(topic, (str(event_id), payload))

    def _lose(self, topics: set[str], lost_at: float, why: str) -> None:
        """Redis no longer has the history read so far of ``topics``: read each from the
        start of its new stream, and tell their subscribers and the application.

        The new stream's entries are delivered as any live events: they are numbered
        after those of the lost stream (Redis's clock, and the publish script's first
        entry a millisecond on), so subscribers take them as new.
        A subscriber replaying now finds the loss by itself, in the history.
        """
        for topic in topics:
            self._positions[topic] = _FROM_START
            self._last_events[topic] = None
            for subscription in self._subscribers(topic):
                if isinstance(subscription, HistorySubscription) and not subscription.replaying:
                    subscription.report_gap(GapReason.LOST)
        self._gaps += 1
        resumed_at = time.time()
        logger.warning(
            "Redis at %s lost the stream(s) of %d subscribed topic(s) (%s); their "
            "subscribers are told of the gap and go on with the new streams",
            self._where,
            len(topics),
            why or "a restart without persistence, or the streams were deleted",
        )
        if self._on_gap is not None:
            try:
                self._on_gap(BrokerGap(frozenset(topics), lost_at, resumed_at, why))
            except Exception:
                logger.exception("the on_gap callback raised")

    def _key(self, topic: str) -> str:
        return self._prefix + topic


def _parse_event_id(event_id: str) -> _EventId | None:
    """``<epoch>:<ordinal>:<ms>-<seq>`` parsed, or None for anything else."""
    epoch, _, rest = event_id.partition(":")
    ordinal, _, entry = rest.partition(":")
    milliseconds, _, sequence = entry.partition("-")
    if not (epoch.isalnum() and epoch.isascii()):
        return None
    if not all(part.isdigit() and part.isascii() for part in (ordinal, milliseconds, sequence)):
        return None
    return _EventId(epoch, int(ordinal), (int(milliseconds), int(sequence)))


def _event(entry_id: bytes, fields: list[bytes] | dict[bytes, bytes]) -> tuple[_EventId, bytes]:
    """A stream entry as we wrote it: its event id, and its payload's JSON.

    ``fields`` as Redis sends them, or as redis-py's XRANGE parses them (a dict).
    """
    values = (
        fields if isinstance(fields, dict) else dict(zip(fields[::2], fields[1::2], strict=True))
    )
    milliseconds, _, sequence = entry_id.partition(b"-")
    event_id = _EventId(
        values.get(EPOCH_FIELD, b"").decode(),
        int(values.get(ORDINAL_FIELD) or 0),
        (int(milliseconds), int(sequence or 0)),
    )
    return event_id, values.get(DATA_FIELD, b"")


def _events(entries: list[Any]) -> list[Event]:
    events: list[Event] = []
    for entry_id, fields in entries:
        event_id, data = _event(entry_id, fields)
        try:
            events.append((str(event_id), orjson.loads(data)))
        except orjson.JSONDecodeError:
            logger.warning("skipped a stream entry that is not JSON: %r", event_id)
    return events
