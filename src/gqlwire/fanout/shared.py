"""Shared subscriptions: one source, one execution and one serialization per event for
every identical subscription.

Operations share when ``share_key(ctx)`` returns the same non-``None`` value and their
document text, operation name and variables are equal. The first one starts the
group's source with its own execution arguments (its context included: equal keys
promise that any member's context would do); every event is then executed once (by
graphql-core's subscription mapping), serialized once, and each member's frame only
splices its own id in front of the same JSON text.

The publisher never waits for a member: frames are *offered* to each connection's
outbox, whose overflow policy deals with clients that do not keep up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from graphql import ExecutionResult, GraphQLError

from ..execution import as_graphql_error, format_result
from ..protocol import OperationId

logger = logging.getLogger("gqlwire")

GroupKey = tuple[Hashable, str, str | None, str]
JSONObject = dict[str, Any]


class Member(Protocol):
    """One subscribed operation of one connection."""

    id: OperationId

    def deliver(self, payload_json: str) -> bool:
        """Offer this event (already serialized) to the member's client, without
        waiting; ``False`` if its outbox is full."""

    async def wait_for_room(self, grace: float) -> bool:
        """Wait while the member's client makes progress; ``False`` if it stalled."""

    def overflow(self) -> None:
        """The member's client stalled: apply the close policy."""


@dataclass(slots=True)
class Outcome:
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


@dataclass(eq=False)
class Group:
    key: GroupKey
    members: dict[Member, asyncio.Future[Outcome]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    events: int = 0
    """Events executed and serialized: once each, however many members."""
    deliveries: int = 0


class SharedSubscriptions:
    """The groups of one server."""

    def __init__(self, slow_consumer_timeout: float = 2.0) -> None:
        self.slow_consumer_timeout = slow_consumer_timeout
        self._groups: dict[GroupKey, Group] = {}
        self.events = 0
        self.deliveries = 0

    async def run(
        self,
        key: GroupKey,
        member: Member,
        start: Callable[[], Awaitable[Any]],
    ) -> Outcome:
        """Join (or start) the group for ``key`` and wait until it ends for ``member``.

        Cancelling the caller leaves the group; the last member to leave stops the
        source (its cleanup runs).
        """
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key)
            group.task = asyncio.get_running_loop().create_task(self._pump(group, start))
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        group.members[member] = done
        try:
            return await done
        finally:
            group.members.pop(member, None)
            if not group.members and self._groups.get(key) is group:
                del self._groups[key]
                if group.task is not None and not group.task.done():
                    group.task.cancel()
                    await asyncio.wait([group.task])

    async def _pump(self, group: Group, start: Callable[[], Awaitable[Any]]) -> None:
        outcome = Outcome()
        source: AsyncIterator[Any] | None = None
        try:
            result = await start()
            if isinstance(result, ExecutionResult):
                outcome.result = format_result(result, include_data=result.data is not None)
                return
            source = aiter(result)
            while True:
                try:
                    event = await anext(source)
                except StopAsyncIteration:
                    return
                except Exception as error:
                    outcome.errors = [as_graphql_error(error)]
                    return
                text = orjson.dumps(format_result(event)).decode("utf-8")
                group.events += 1
                self.events += 1
                full = [member for member in list(group.members) if not member.deliver(text)]
                for member in full:
                    if member in group.members:
                        if await member.wait_for_room(self.slow_consumer_timeout):
                            member.deliver(text)
                        else:
                            member.overflow()
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
            outcome.errors = [as_graphql_error(error)]
        finally:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]
            for done in group.members.values():
                if not done.done():
                    done.set_result(outcome)
            if source is not None:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()

    def stats(self) -> dict[str, int]:
        return {
            "shared_groups": len(self._groups),
            "shared_members": sum(len(group.members) for group in self._groups.values()),
            "shared_events": self.events,
            "shared_deliveries": self.deliveries,
        }

    def group(self, key: GroupKey) -> Group | None:
        return self._groups.get(key)
