"""Resuming, at the operation core: what a transport cannot show from outside, or shows
only by chance. Real groups (SharedSubscriptions) and real history brokers; the client is
a stand-in that is both a result sink and a group member."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from graphql import build_schema

from gqlwire import Context, GraphQLServer, Headers
from gqlwire.fanout import MemoryBroker
from gqlwire.operation import Operation
from gqlwire.protocol import ErrorStage
from gqlwire.protocol.messages import JSONObject
from gqlwire.runtime import ServerRuntime
from tests.harness.waiting import wait_until

QUERY = "subscription($t: String!) { tick(topic: $t) { seq } }"
PLAIN_QUERY = "subscription($t: String!) { plain(topic: $t) { seq } }"


class Brokers:
    """The sources of one test: a history broker, a broker without history, and gates
    that hold a subscription's cleanup (so that a client can leave right then)."""

    def __init__(self) -> None:
        self.history = MemoryBroker(history=20)
        self.plain = MemoryBroker()
        self.executions = 0
        self.close_gates: list[asyncio.Event] = []
        self.closing = asyncio.Event()

    async def close(self) -> None:
        await self.history.close()
        await self.plain.close()


def make_schema(brokers: Brokers) -> Any:
    schema = build_schema(
        """
        type Query { ok: Boolean }
        type Tick { seq: Int! }
        type Subscription { tick(topic: String!): Tick!  plain(topic: String!): Tick! }
        """
    )

    async def tick(_root: Any, _info: Any, topic: str) -> AsyncIterator[Any]:
        try:
            async for event in brokers.history.subscribe(topic):
                yield event
        finally:
            if brokers.close_gates:
                gate = brokers.close_gates.pop()
                brokers.closing.set()
                await gate.wait()

    async def plain(_root: Any, _info: Any, topic: str) -> AsyncIterator[Any]:
        async for event in brokers.plain.subscribe(topic):
            yield event

    def resolve(event: Any, _info: Any, topic: str) -> Any:
        brokers.executions += 1
        return event

    fields = schema.subscription_type.fields  # type: ignore[union-attr]
    fields["tick"].subscribe, fields["tick"].resolve = tick, resolve
    fields["plain"].subscribe, fields["plain"].resolve = plain, resolve
    return schema


class Client:
    """A transport's ResultSink and shared-subscription Member in one."""

    def __init__(self) -> None:
        self.received: list[JSONObject] = []
        self.ended: list[str] = []

    def seqs(self) -> list[int]:
        return [
            payload["data"]["tick" if "tick" in payload["data"] else "plain"]["seq"]
            for payload in self.received
        ]

    # ResultSink
    def is_active(self) -> bool:
        return True

    async def next(self, payload: JSONObject) -> None:
        self.received.append(payload)

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        self.ended.append(f"errors {errors}")

    async def complete(self) -> None:
        self.ended.append("complete")

    async def failed(self, error: Exception) -> None:
        self.ended.append(f"failed {error!r}")

    # Member
    def deliver(self, tail: bytes, cursor: str | None = None) -> bool:
        payload = orjson.loads(tail[:-1])
        assert cursor == (payload.get("extensions") or {}).get("cursor")
        self.received.append(payload)
        return True

    async def wait_for_room(self, grace: float) -> bool:
        return True

    def overflow(self) -> None:
        raise AssertionError("never full")


def start(
    runtime: ServerRuntime,
    client: Client,
    topic: str,
    cursor: str | None = None,
    query: str = QUERY,
) -> asyncio.Task[None]:
    payload: JSONObject = {"query": query, "variables": {"t": topic}}
    if cursor is not None:
        payload["extensions"] = {"cursor": cursor}
    operation = Operation(runtime, Context({}, Headers()), "1", payload, client, member=client)
    return asyncio.get_running_loop().create_task(operation.run())


async def received(client: Client, count: int) -> None:
    await wait_until(lambda: len(client.received) >= count, f"{count} results", 5)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def subscribers(brokers: Brokers, count: int) -> None:
    # The resolver's inner generator is closed by the event loop's finalizer: soon.
    await wait_until(
        lambda: brokers.history.stats()["subscribers"] == count, f"{count} subscribers", 5
    )


def server(brokers: Brokers, **options: Any) -> ServerRuntime:
    return GraphQLServer(make_schema(brokers), keep_alive=None, **options).runtime


async def test_a_result_replaced_by_on_next_still_carries_the_cursor_and_the_gap() -> None:
    brokers = Brokers()
    ids = [await brokers.history.publish("t", {"seq": n}) for n in range(25)]  # 5 expired
    replaced: Callable[..., Any] = lambda *_: {"data": {"tick": {"seq": -1}}}  # noqa: E731
    runtime = server(brokers, on_next=replaced)
    client = Client()
    task = start(runtime, client, "t", cursor=ids[0])
    await received(client, 20)
    await stop(task)
    first, *rest = client.received
    assert first["extensions"]["gap"] == {"topic": "t", "after": ids[0], "reason": "expired"}
    assert [payload["extensions"]["cursor"] for payload in client.received] == ids[5:]
    assert all("gap" not in payload["extensions"] for payload in rest)
    await brokers.close()


async def test_a_member_that_leaves_while_its_private_source_closes_after_joining_is_gone() -> None:
    brokers = Brokers()
    completed: list[object] = []
    runtime = server(
        brokers, share_key=lambda _ctx: "all", on_complete=lambda *_: completed.append(1)
    )
    ids = [await brokers.history.publish("t", {"seq": n}) for n in range(3)]
    live = Client()
    live_task = start(runtime, live, "t")  # the group, from now
    await wait_until(lambda: brokers.history.stats()["subscribers"] == 1, "group", 5)
    ids += [await brokers.history.publish("t", {"seq": n}) for n in range(3, 5)]
    await received(live, 2)

    # Resumes after 0: replays 1 and 2 alone, reaches 3 (the group has it), joins the
    # group, and then closes its own source, whose cleanup waits: it leaves right then.
    brokers.close_gates.append(asyncio.Event())
    back = Client()
    back_task = start(runtime, back, "t", cursor=ids[0])
    await asyncio.wait_for(brokers.closing.wait(), 5)
    assert back.seqs() == [1, 2, 3, 4]
    await stop(back_task)

    stats = runtime.sharing.stats()
    assert (stats["shared_groups"], stats["shared_members"]) == (1, 1)
    assert completed == [1]  # on_complete, once
    await stop(live_task)
    assert runtime.sharing.stats()["shared_groups"] == 0
    await subscribers(brokers, 0)
    assert completed == [1, 1]
    await brokers.close()


async def test_a_cursor_for_a_source_without_history_is_ignored_and_the_member_shares() -> None:
    brokers = Brokers()
    runtime = server(brokers, share_key=lambda _ctx: "all")
    live, back = Client(), Client()
    live_task = start(runtime, live, "p", query=PLAIN_QUERY)
    await wait_until(lambda: brokers.plain.stats()["subscribers"] == 1, "group", 5)
    await brokers.plain.publish("p", {"seq": 0})
    await received(live, 1)

    back_task = start(runtime, back, "p", cursor="some-cursor", query=PLAIN_QUERY)
    await wait_until(lambda: runtime.sharing.stats()["shared_members"] == 2, "joined", 5)
    before = brokers.executions
    await brokers.plain.publish("p", {"seq": 1})
    await received(back, 1)
    await received(live, 2)
    assert back.seqs() == [1]
    assert brokers.executions - before == 1  # once for both
    assert brokers.plain.stats()["subscribers"] == 1
    assert all("extensions" not in payload for payload in back.received)
    await stop(back_task)
    await stop(live_task)
    await brokers.close()


class StallingClient(Client):
    """A client whose transport stops taking results after ``limit`` (a full socket)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.stalled = asyncio.Event()

    async def next(self, payload: JSONObject) -> None:
        await super().next(payload)
        if len(self.received) >= self.limit:
            self.stalled.set()
            await asyncio.Event().wait()  # until the client leaves


async def test_a_member_that_leaves_while_catching_up_alone_leaves_nothing_behind() -> None:
    brokers = Brokers()
    completed: list[object] = []
    runtime = server(
        brokers, share_key=lambda _ctx: "all", on_complete=lambda *_: completed.append(1)
    )
    ids = [await brokers.history.publish("t", {"seq": n}) for n in range(10)]
    live = Client()
    live_task = start(runtime, live, "t")
    await wait_until(lambda: brokers.history.stats()["subscribers"] == 1, "group", 5)
    back = StallingClient(limit=3)
    back_task = start(runtime, back, "t", cursor=ids[0])  # replaying 1..9 alone
    await asyncio.wait_for(back.stalled.wait(), 5)
    assert brokers.history.stats()["subscribers"] == 2
    await stop(back_task)

    assert back.seqs() == [1, 2, 3]
    await subscribers(brokers, 1)  # its own source is closed
    stats = runtime.sharing.stats()
    assert (stats["shared_groups"], stats["shared_members"]) == (1, 1)
    assert completed == [1]
    await brokers.history.publish("t", {"seq": 10})
    await received(live, 1)
    assert live.seqs() == [10]
    await stop(live_task)
    assert runtime.sharing.stats()["shared_groups"] == 0
    await subscribers(brokers, 0)
    await brokers.close()
