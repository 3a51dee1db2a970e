"""Shared subscriptions: one source, one execution and one serialization per event for
every identical subscription.

Operations share when ``share_key(ctx)`` returns the same non-``None`` value and their
document text, operation name and variables are equal. The first one starts the
group's source with its own execution arguments (its context included: equal keys
promise that any member's context would do); every event is then executed once (by
graphql-core's subscription mapping), serialized once, and each member's frame only
splices its own id in front of the same JSON bytes.

The publisher does not wait for a member: frames are *offered* to each connection's
outbox. Under ``drop_oldest`` a full outbox drops its oldest result. Under ``close`` a
member whose outbox is full falls behind: the group keeps references to the events it
has not yet taken (its *backlog*, bounded like the outbox) and a catch-up task feeds
them in order as the client drains its socket, closing it with 1013 once it wrote
nothing for ``slow_consumer_timeout`` seconds. The publisher waits for a member only
when its backlog is full too, and then only while that member still makes progress
(a slow transport, not a stalled client): a stalled client holds the others for at
most ``slow_consumer_timeout``, and only after falling a whole backlog behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any, Protocol

import orjson
from graphql import ExecutionResult, GraphQLError

from .execution import as_graphql_error, format_result, source_error
from .fanout.resume import ResumePoint, current_resume, with_resume_extensions
from .protocol import result_tail
from .protocol.messages import JSONObject
from .response_stream import EventResults

logger = logging.getLogger("gqlwire")

GroupKey = tuple[Hashable, str, str | None, str]


class Member(Protocol):
    """One subscribed operation, as the group's publisher sees it: the flow control
    between one shared source and one client's outbox (the operation's results go
    through its own transport, see :class:`~gqlwire.operation.ResultSink`)."""

    def deliver(self, tail: bytes, cursor: str | None = None) -> bool:
        """Offer this event (serialized, as :func:`~gqlwire.protocol.result_tail`) to
        the member's client, without waiting; ``False`` if its outbox is full.
        ``cursor``: the event's place in its history broker (what SSE writes as the
        event's ``id``), when it came from one."""

    async def wait_for_room(self, grace: float) -> bool:
        """Wait while the member's client makes progress; ``False`` if it stalled."""

    def overflow(self) -> None:
        """The member's client stalled: apply the close policy."""


class Told(Protocol):
    """What a member that waits without a future is told (see
    :meth:`SharedSubscriptions.enter_told`)."""

    def group_ended(self, end: GroupEnd) -> None:
        """The group ended for the member: how (called once, and not at all for a member
        that left first)."""


@dataclass(slots=True)
class GroupEnd:
    """How a group ended, for its members to report in their own protocol."""

    errors: list[GraphQLError] | None = None
    """Errors from the source mid-stream (sent as ``error``), or ``None``."""
    result: JSONObject | None = None
    """A single result instead of a stream (a subscription that failed to start)."""


def group_key(share: Hashable, payload: JSONObject) -> GroupKey:
    variables = payload.get("variables") or {}
    return (
        share,
        payload["query"],
        payload.get("operationName"),
        # As text: orjson's bytes keep the whole output buffer they were built in (4 KB
        # here), and every member holds its key while subscribed.
        orjson.dumps(variables, option=orjson.OPT_SORT_KEYS).decode("utf-8"),
    )


Shared = tuple[bytes, str | None]
"""One event as the group hands it out: its serialized tail and its cursor (if any)."""

RECENT_EVENTS = 256
"""Events (with a cursor) a group keeps, so that a resuming member can join it."""
RECENT_BYTES = 4 * 1024 * 1024
"""...and the bytes they may hold at most."""


@dataclass(eq=False, slots=True)
class Lag:
    """A member that fell behind: the events it has not taken yet, oldest first."""

    backlog: deque[Shared] = field(default_factory=deque)
    size: int = 0
    """Bytes in ``backlog``: it is bounded in events and in bytes, like an outbox."""
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    ended: GroupEnd | None = None
    """How the group ended, reported once the backlog is delivered."""


@dataclass(eq=False)
class Group:
    key: GroupKey
    members: dict[Member, asyncio.Future[GroupEnd] | Told] = field(default_factory=dict)
    """Each member, with the future of how the group ends for it, or what is told."""
    lagging: dict[Member, Lag] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    events: int = 0
    """Events executed and serialized: once each, however many members."""
    deliveries: int = 0
    holders: int = 0
    """Resuming operations catching up on their own, which keep the group running."""
    recent: deque[tuple[str, bytes]] = field(default_factory=deque)
    """The last events that came with a cursor, oldest first: a resuming member whose
    cursor is among them joins after it (see :meth:`SharedSubscriptions.join_after`)."""
    recent_bytes: int = 0
    recent_first: int = 0
    """The number of the event ``recent[0]`` (events are numbered from 0)."""
    recent_index: dict[str, int] = field(default_factory=dict)
    """The number of each cursor in ``recent``."""
    resumable: bool | None = None
    """Whether the group's last event came with a cursor (``None`` before its first): a
    source without history makes a resuming member's cursor meaningless."""

    def remember(self, cursor: str, tail: bytes) -> None:
        recent = self.recent
        self.recent_index[cursor] = self.recent_first + len(recent)
        recent.append((cursor, tail))
        self.recent_bytes += len(tail)
        while len(recent) > RECENT_EVENTS or (self.recent_bytes > RECENT_BYTES and recent):
            old_cursor, old_tail = recent.popleft()
            self.recent_bytes -= len(old_tail)
            self.recent_first += 1
            if self.recent_index.get(old_cursor) == self.recent_first - 1:
                del self.recent_index[old_cursor]

    def after(self, cursor: str) -> list[Shared] | None:
        """The recent events after ``cursor``, or ``None`` if it is not among them."""
        number = self.recent_index.get(cursor)
        if number is None:
            return None
        start = number - self.recent_first + 1
        return [(tail, cursor) for cursor, tail in list(self.recent)[start:]]


class SharedSubscriptions:
    """The groups of one server."""

    def __init__(
        self,
        slow_consumer_timeout: float = 2.0,
        backlog_limit: int = 1000,
        *,
        backlog_bytes: int | None = None,
        mask_errors: bool = False,
    ) -> None:
        self.slow_consumer_timeout = slow_consumer_timeout
        self.backlog_limit = backlog_limit
        self.backlog_bytes = backlog_bytes
        """Bytes of events one lagging member may hold (``None``: no bound in bytes)."""
        self.mask_errors = mask_errors
        """Mask unexpected errors in results (see the ``mask_errors`` option)."""
        self._groups: dict[GroupKey, Group] = {}
        self.events = 0
        self.deliveries = 0

    def enter(
        self,
        key: GroupKey,
        member: Member,
        make_start: Callable[[], Callable[[], Awaitable[Any]]],
    ) -> tuple[Group, asyncio.Future[GroupEnd]]:
        """Join (or start) the group for ``key`` now: the group, and the future of how
        it ends for ``member``. ``make_start`` gives how to start the group's source,
        and is called only when the group is new (most members join a running one).

        The caller awaits the future in its own frame (each of the many waiting members
        keeps no frame of ours) and must :meth:`leave` the group once the future is
        done or it stops waiting, whatever the reason (a cancellation): the last member
        to leave stops the source (its cleanup runs)."""
        group = self._group(key, make_start)
        done: asyncio.Future[GroupEnd] = asyncio.get_running_loop().create_future()
        group.members[member] = done
        return group, done

    def enter_told(
        self,
        key: GroupKey,
        member: Member,
        told: Told,
        make_start: Callable[[], Callable[[], Awaitable[Any]]],
    ) -> Group:
        """Join (or start) the group for ``key`` now, as :meth:`enter` does, but with
        no future: how the group ended for ``member`` is passed to
        ``told.group_ended()``. For a member that waits without a task (a parked
        operation): a future per member was one more object for each of them. The
        caller must :meth:`leave` the group as for :meth:`enter`."""
        group = self._group(key, make_start)
        group.members[member] = told
        return group

    def join(self, group: Group, member: Member) -> Coroutine[Any, Any, GroupEnd] | None:
        """Join ``group`` (a running one, see :meth:`holding`) from its next event;
        ``None`` when it is no longer running. Awaited as :meth:`join_after`'s."""
        if self._groups.get(group.key) is not group:
            return None
        done: asyncio.Future[GroupEnd] = asyncio.get_running_loop().create_future()
        group.members[member] = done
        return self._membership(group, member, done)

    def join_after(
        self, group: Group, member: Member, cursor: str
    ) -> Coroutine[Any, Any, GroupEnd] | None:
        """Join ``group`` (a running one, see :meth:`holding`) after the event
        ``cursor``: the recent events after it are the member's backlog, then it gets
        every event as the other members do. ``None`` when ``cursor`` is not among the
        group's recent events (nothing is done then). The awaitable ends with the
        member's end of the group (see :meth:`enter`), and leaves the group whatever
        ends it; a caller that will not await it calls :meth:`leave`."""
        backlog = group.after(cursor)
        if backlog is None or self._groups.get(group.key) is not group:
            return None
        done: asyncio.Future[GroupEnd] = asyncio.get_running_loop().create_future()
        group.members[member] = done
        for index, (tail, event_cursor) in enumerate(backlog):
            if not member.deliver(tail, event_cursor):
                lag = group.lagging[member] = Lag(deque(backlog[index:]))
                lag.size = sum(len(tail) for tail, _ in lag.backlog)
                lag.task = asyncio.get_running_loop().create_task(
                    self._catch_up(group, member, lag)
                )
                break
        return self._membership(group, member, done)

    async def _membership(
        self, group: Group, member: Member, done: asyncio.Future[GroupEnd]
    ) -> GroupEnd:
        try:
            return await done
        finally:
            await self.leave(group, member)

    async def leave(self, group: Group, member: Member) -> None:
        """``member`` leaves ``group`` (idempotent): what ends a membership, also for a
        member whose membership was never awaited (it left before)."""
        group.members.pop(member, None)
        lag = group.lagging.pop(member, None)
        if lag is not None and lag.task is not None:
            lag.task.cancel()
        await self._release(group)

    @contextlib.asynccontextmanager
    async def holding(
        self, key: GroupKey, make_start: Callable[[], Callable[[], Awaitable[Any]]]
    ) -> AsyncIterator[Group]:
        """Keep the group for ``key`` running (starting it if needed, see :meth:`enter`)
        while a resuming operation catches up on its own, so that it has a group to join
        once it is level with it."""
        group = self._group(key, make_start)
        group.holders += 1
        try:
            yield group
        finally:
            group.holders -= 1
            await self._release(group)

    def _group(
        self, key: GroupKey, make_start: Callable[[], Callable[[], Awaitable[Any]]]
    ) -> Group:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key)
            group.task = asyncio.get_running_loop().create_task(self._pump(group, make_start()))
        return group

    async def _release(self, group: Group) -> None:
        """Stop the group's source once nobody is in it or holding it."""
        if group.members or group.holders or self._groups.get(group.key) is not group:
            return
        del self._groups[group.key]
        task, group.task = group.task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    async def _pump(self, group: Group, start: Callable[[], Awaitable[Any]]) -> None:
        ended = GroupEnd()
        source: AsyncIterator[Any] | None = None
        # The group's own place in its history broker: it starts at "now", and its
        # events carry cursors that resuming members join after. (This task's context
        # is the source's: the broker reads the point from it.)
        point = ResumePoint()
        current_resume.set(point)
        try:
            result = await start()
            # Formatted once for every member: resolver errors are logged once per event.
            mask = self.mask_errors
            if isinstance(result, ExecutionResult):
                ended.result = format_result(
                    result, include_data=result.data is not None, mask=mask
                )
                return
            source = aiter(result)
            events, execute, prepared = (
                source.steps() if type(source) is EventResults else (source, None, None)
            )
            while True:
                try:
                    event = await anext(events)
                    if execute is not None:  # EventResults.__anext__, inlined
                        event = execute(prepared, event)
                        if type(event) is not ExecutionResult and isawaitable(event):
                            event = await event
                except StopAsyncIteration:
                    return
                except Exception as error:
                    ended.errors = [source_error(error)]  # logged here, once
                    return
                formatted = format_result(event, mask=mask)
                cursor: str | None = None
                if point.started:
                    formatted = with_resume_extensions(formatted, point)
                    cursor = point.cursor
                tail = result_tail(orjson.dumps(formatted))
                group.resumable = cursor is not None
                if cursor is not None:
                    group.remember(cursor, tail)
                group.events += 1
                self.events += 1
                lagging = group.lagging
                for member in list(group.members):
                    lag = lagging.get(member)
                    if lag is None:
                        if member.deliver(tail, cursor):
                            continue
                    elif not self._backlog_full(lag):
                        lag.backlog.append((tail, cursor))  # after what it has yet to take
                        lag.size += len(tail)
                        continue
                    await self._fall_behind(group, member, tail, cursor)
                group.deliveries += len(group.members)
                self.deliveries += len(group.members)
                # Let the writers run before the next event: a burst from the source
                # would otherwise fill every outbox, a fast client's too, before any of
                # them had a chance to write.
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The source could not start (a failing subscribe function): every
            # member reports it as its own failure would be reported.
            logger.error("shared subscription failed to start", exc_info=error)
            ended.errors = [as_graphql_error(error)]
        finally:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]
            # A copy: what a member is told runs at once, and might leave the group.
            for member, waiting in list(group.members.items()):
                lag = group.lagging.get(member)
                if lag is not None:
                    lag.ended = ended  # after the events it has yet to take
                else:
                    _tell(waiting, ended)
            if source is not None:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()

    async def _fall_behind(
        self, group: Group, member: Member, tail: bytes, cursor: str | None
    ) -> None:
        """``tail`` did not fit: start the member's backlog with it, or, when its backlog
        is full, wait while the member makes progress and then queue it."""
        lag = group.lagging.get(member)
        if lag is not None:
            while self._backlog_full(lag) and not _ended(lag.task):
                lag.progress.clear()
                await lag.progress.wait()  # the catch-up task gives up on a stalled client
            if member not in group.members:
                return
            if group.lagging.get(member) is not lag:  # caught up, or given up on, meanwhile
                lag = None
                if member.deliver(tail, cursor):
                    return
        if lag is None:
            lag = group.lagging[member] = Lag()
            lag.task = asyncio.get_running_loop().create_task(self._catch_up(group, member, lag))
        if not _ended(lag.task):
            lag.backlog.append((tail, cursor))
            lag.size += len(tail)

    def _backlog_full(self, lag: Lag) -> bool:
        limit = self.backlog_bytes
        return len(lag.backlog) >= self.backlog_limit or (limit is not None and lag.size >= limit)

    async def _catch_up(self, group: Group, member: Member, lag: Lag) -> None:
        """Feed a member its backlog, in order, as its client makes room."""
        try:
            while lag.backlog:
                if not await member.wait_for_room(self.slow_consumer_timeout):
                    member.overflow()
                    return
                backlog = lag.backlog
                while backlog and member.deliver(*backlog[0]):
                    lag.size -= len(backlog.popleft()[0])
                lag.progress.set()
        finally:
            lag.backlog.clear()
            lag.size = 0
            if group.lagging.get(member) is lag:
                del group.lagging[member]
            lag.progress.set()
            waiting = group.members.get(member)
            if lag.ended is not None and waiting is not None:
                _tell(waiting, lag.ended)

    def stats(self) -> dict[str, int]:
        return {
            "shared_groups": len(self._groups),
            "shared_members": sum(len(group.members) for group in self._groups.values()),
            "shared_lagging": sum(len(group.lagging) for group in self._groups.values()),
            "shared_events": self.events,
            "shared_deliveries": self.deliveries,
        }

    def group(self, key: GroupKey) -> Group | None:
        return self._groups.get(key)


def _tell(waiting: asyncio.Future[GroupEnd] | Told, ended: GroupEnd) -> None:
    """How the group ended, to a member's future or to what it is told by."""
    if isinstance(waiting, asyncio.Future):
        if not waiting.done():
            waiting.set_result(ended)
    else:
        waiting.group_ended(ended)


def _ended(task: asyncio.Task[None] | None) -> bool:
    return task is None or task.done()
